#!/usr/bin/env python3
"""Check and time the CUDA neighborhood-attention kernel (plugins/core/na_cuda.cu) on a GPU.

What it does, in one go:
  1. builds the kernel with torch.utils.cpp_extension.load (plugins/core/torch_ext/na_torch.cpp
     + na_cuda.cu + na_params.cpp, for the GPU in this machine);
  2. correctness: random shapes and the natten 0.17 golden fixture shapes, float32 / float16 /
     bfloat16, through every kernel path: "auto" (what the launcher picks: the tensor-core kernel
     for float16/bfloat16 with D in {16, 32, 64, 128}), "smem" (the scalar kernel, its halo in
     shared memory where it fits), "global" (the scalar kernel without shared memory), and "tc" on
     request (the tensor-core kernel forced; cases it does not apply to are skipped), passed to the
     launcher as an argument (na2d_forward_cuda's NAPath); each row records the path the launcher
     chose on this device; a bias with -inf entries is among the cases;
     outputs are poisoned with NaN before every call; compared with an exact float64 reference
     written here (float32 fixture cases against the natten goldens themselves);
  3. invalid parameters must be refused (cudaErrorInvalidValue), not run;
  4. timing on NAT-Tiny-like shapes (kernel 7): the kernel the launcher chose (and, for 16-bit
     dtypes, both the tensor-core and the scalar kernel forced) vs the PyTorch reference op
     (nat_export.ops, else the reference here) vs FlexAttention with a neighborhood block mask
     and the bias as score_mod (torch.compile'd), with the achieved memory bandwidth
     (qkv read once + out written once);
  5. the occupancy rule (na_occupancy_rule in plugins/core/na_cuda.h, thresholds not yet tuned):
     for the timing shapes and RULE_CASES around its threshold, both kernels' times next to what
     the rule chose from the measured blocks / warps per SM, and whether it chose the faster one.
Prints a table, writes --json, exits 1 on any mismatch (a rule choosing the slower kernel is
reported, not a failure: tuning it is what these numbers are for).

examples:
  python scripts/gpu_check.py                   # everything
  python scripts/gpu_check.py --dry-run         # list the cases, touch no GPU
  python scripts/gpu_check.py --no-bench --json check.json
  python scripts/gpu_check.py --bench-only --batch 128 --dtypes float16 float32
  python scripts/gpu_check.py --cpu-selftest    # check the reference and the FlexAttention mask on the CPU
  python scripts/gpu_check.py --emulate BUILD --smoke   # the whole script on the CPU (CI), kernels emulated
  python scripts/gpu_check.py --emulate BUILD --smoke --emulate-device sm75 --emulate-sms 1 --bench-only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "plugins" / "core"
FIXTURES = ROOT / "tests" / "fixtures"

# Max abs error against the float64 reference (inputs rounded to the dtype first).
TOL = {"float32": 5e-5, "float16": 4e-3, "bfloat16": 3e-2}

# (B, H, W, heads, D, Kh, Kw, dh, dw, rpb)
RANDOM_CASES = [
    (2, 9, 13, 2, 8, 3, 5, 1, 1, True),
    (1, 10, 7, 3, 5, 3, 3, 3, 2, True),  # H % d != 0, odd D
    (1, 23, 17, 2, 12, 5, 3, 4, 5, False),  # dilation on both axes, no rpb
    (3, 7, 7, 1, 32, 7, 7, 1, 1, True),  # K == H == W
    (2, 56, 56, 2, 32, 7, 7, 1, 1, True),  # NAT level 1
    (2, 28, 28, 4, 32, 7, 7, 2, 2, True),
    (1, 29, 31, 2, 64, 7, 7, 3, 4, True),  # H % d != 0, D 64
    (1, 20, 24, 2, 128, 5, 5, 1, 1, True),  # D 128
    (1, 33, 26, 2, 48, 13, 13, 2, 2, True),  # K 13, D 48 (partial thread groups)
    (1, 14, 14, 4, 96, 7, 7, 1, 1, False),
    (1, 16, 21, 4, 16, 1, 3, 2, 7, True),  # K = 1 on one axis
    (1, 40, 40, 1, 128, 13, 13, 3, 3, True),  # big halo: global path for float32
    (9, 15, 15, 3, 24, 5, 5, 3, 3, True),  # several tiles and groups per image
    (1, 11, 10, 2, 32, 5, 3, 2, 1, "-inf"),  # -inf bias entries: the first logit of most windows
    (1, 9, 9, 1, 100, 3, 5, 1, 1, "-inf"),
]

# --smoke (e.g. with --emulate on the CPU): every code path of the script on small shapes.
SMOKE_CASES = [
    (1, 9, 9, 2, 8, 3, 5, 1, 1, True),
    (1, 10, 7, 1, 16, 3, 3, 3, 2, False),
    (1, 10, 9, 1, 32, 5, 5, 1, 1, "-inf"),
]
SMOKE_FIXTURES = 1  # the first golden case only
SMOKE_BENCH_LEVELS = [(8, 8, 2)]

# The occupancy rule's test bench: (B, H, W, heads, D, K), dilation 1, both kernels timed for 16-bit
# dtypes next to the rule's choice. Where the tensor-core kernel keeps few warps per SM (K 11 / 13,
# D 64 / 128; every K 7 D 32 layer on sm_75) and a grid too small to fill the GPU.
RULE_CASES = [
    (32, 56, 56, 4, 16, 7),
    (32, 28, 28, 4, 64, 7),
    (32, 14, 14, 8, 128, 7),
    (32, 28, 28, 4, 32, 11),
    (32, 28, 28, 4, 32, 13),
    (8, 28, 28, 4, 64, 13),
    (1, 14, 14, 8, 32, 7),  # 32 blocks: fewer than fill the GPU
]
SMOKE_RULE_CASES = [(1, 8, 8, 2, 16, 7)]

# Kernel paths, as na2d_forward_cuda's NAPath (plugins/core/na_cuda.h).
PATHS = {"auto": 0, "smem": 1, "global": 2, "tc": 3}
PATH_NAMES = {"auto": "auto", "scalar": "smem", "scalar-global": "global", "tensor-core": "tc"}

# NAT-Tiny at 224x224: (H, W, heads), D 32, kernel 7.
BENCH_LEVELS = [(56, 56, 2), (28, 28, 4), (14, 14, 8), (7, 7, 16)]

INVALID_CASES = [
    # (B, H, W, heads, D, Kh, Kw, dh, dw, why)
    (1, 9, 9, 2, 8, 4, 3, 1, 1, "even kernel"),
    (1, 9, 9, 2, 8, 5, 5, 2, 1, "H < K*d"),
    (1, 9, 5, 2, 8, 3, 3, 1, 2, "W < K*d"),
    (1, 16, 16, 1, 136, 3, 3, 1, 1, "D > 128"),
]


def fixture_cases() -> list[dict]:
    meta = json.loads((FIXTURES / "na2d_natten.json").read_text())["cases"]
    return [dict(m, index=i) for i, m in enumerate(meta)]


def case_name(c) -> str:
    B, H, W, heads, D, Kh, Kw, dh, dw, rpb = c
    return f"B{B} {H}x{W} h{heads} D{D} K{Kh}x{Kw} d{dh}x{dw}" + (
        " -inf-bias" if rpb == "-inf" else "" if rpb else " no-rpb"
    )


def neg_inf_bias(rpb):
    """-inf on a checkerboard of the bias (r + c even): every window keeps finite logits, and the
    first logit of each interior window is -inf."""
    import torch

    r = torch.arange(rpb.shape[1])[:, None]
    c = torch.arange(rpb.shape[2])[None, :]
    return rpb.masked_fill(((r + c) % 2 == 0)[None], float("-inf"))


# ----------------------------------------------------------------------------- reference


def axis_tables(L: int, K: int, d: int, device):
    """Key index and bias index [L, K] per the contract (docs/contract.md)."""
    import torch

    i = torch.arange(L, device=device)
    g, p = i % d, i // d
    c = -(-L // d)
    Lg = c - (g >= d - (c * d - L)).long()
    nb = K // 2
    s = torch.clamp(p - nb, min=0) + (p + nb >= Lg).long() * (Lg - p - nb - 1)
    t = torch.arange(K, device=device)
    keys = (s[:, None] + t[None, :]) * d + g[:, None]
    bias = (K - 1) + (s[:, None] + t[None, :] - p[:, None])
    return keys, bias


def reference(qkv, rpb, heads, Kh, Kw, dh, dw, scale):
    """Exact NA in float64: qkv [B, H, W, 3*heads*D] -> [B, H, W, heads*D]."""
    import torch

    B, H, W, C3 = qkv.shape
    D = C3 // (3 * heads)
    q, k, v = qkv.double().reshape(B, H, W, 3, heads, D).unbind(3)
    ky, by = axis_tables(H, Kh, dh, qkv.device)
    kx, bx = axis_tables(W, Kw, dw, qkv.device)
    rows, cols = ky[:, None, :, None], kx[None, :, None, :]
    kk, vv = k[:, rows, cols], v[:, rows, cols]  # [B, H, W, Kh, Kw, heads, D]
    logits = scale * torch.einsum("bhwnd,bhwijnd->bhwnij", q, kk)
    if rpb is not None:
        bias = rpb.double()[:, by[:, None, :, None], bx[None, :, None, :]]  # [heads, H, W, Kh, Kw]
        logits = logits + bias.permute(1, 2, 0, 3, 4)[None]
    w = logits.reshape(*logits.shape[:4], -1).softmax(-1).reshape(logits.shape)
    return torch.einsum("bhwnij,bhwijnd->bhwnd", w, vv).reshape(B, H, W, heads * D)


def pack_fixture(tensors, i, heads):
    """natten layout [B, heads, H, W, D] -> fused qkv [B, H, W, 3*heads*D]; golden out [B, H, W, heads*D]."""
    import torch

    q, k, v, out = (tensors[f"case{i}.{n}"].permute(0, 2, 3, 1, 4) for n in ("q", "k", "v", "out"))
    B, H, W, _, D = q.shape
    qkv = torch.stack([q, k, v], dim=3).reshape(B, H, W, 3 * heads * D).contiguous()
    return qkv, tensors.get(f"case{i}.rpb"), out.reshape(B, H, W, heads * D)


# ----------------------------------------------------------------------------- FlexAttention


def flex_na(H, W, heads, K, rpb, scale, device, compile_=True):
    """FlexAttention NA (dilation 1): q, k, v [B, heads, H*W, D] -> [B, heads, H*W, D]."""
    import torch
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    nb = K // 2

    def mask_mod(b, h, q_idx, kv_idx):
        qi, qj, ki, kj = q_idx // W, q_idx % W, kv_idx // W, kv_idx % W
        si = torch.clamp(qi - nb, 0, H - K)
        sj = torch.clamp(qj - nb, 0, W - K)
        return (ki >= si) & (ki < si + K) & (kj >= sj) & (kj < sj + K)

    def score_mod(score, b, h, q_idx, kv_idx):
        qi, qj, ki, kj = q_idx // W, q_idx % W, kv_idx // W, kv_idx % W
        r = torch.clamp(ki - qi + K - 1, 0, 2 * K - 2)  # clamped: also evaluated where masked
        c = torch.clamp(kj - qj + K - 1, 0, 2 * K - 2)
        return score + rpb[h, r, c].to(score.dtype)

    L = H * W
    block_mask = create_block_mask(mask_mod, B=None, H=None, Q_LEN=L, KV_LEN=L, device=device)
    fn = torch.compile(flex_attention, dynamic=False) if compile_ else flex_attention
    return lambda q, k, v: fn(q, k, v, score_mod=score_mod, block_mask=block_mask, scale=scale)


def to_heads_first(qkv, heads):
    """[B, H, W, 3*heads*D] -> q, k, v [B, heads, H*W, D] (contiguous copies)."""
    B, H, W, C3 = qkv.shape
    D = C3 // (3 * heads)
    q, k, v = qkv.reshape(B, H * W, 3, heads, D).permute(2, 0, 3, 1, 4).unbind(0)
    return q.contiguous(), k.contiguous(), v.contiguous()


# ----------------------------------------------------------------------------- build + run


def build_extension(build_dir: str | None, verbose: bool):
    from torch.utils.cpp_extension import load

    bdir = build_dir or os.path.join(tempfile.gettempdir(), "natx_torch_ext")
    os.makedirs(bdir, exist_ok=True)
    t0 = time.time()
    ext = load(
        name="natx_torch_ext",
        sources=[str(CORE / "torch_ext" / "na_torch.cpp"), str(CORE / "na_cuda.cu"), str(CORE / "na_params.cpp")],
        extra_include_paths=[str(CORE)],
        extra_cflags=["-O2"],
        extra_cuda_cflags=["-O3", "-lineinfo"],
        build_directory=bdir,
        verbose=verbose,
    )
    print(f"built the kernel extension in {time.time() - t0:.0f} s ({bdir})", flush=True)
    return ext


def run_kernel(ext, qkv, rpb, heads, Kh, Kw, dh, dw, scale, out=None, path="auto"):
    import torch

    B, H, W, C3 = qkv.shape
    if out is None:
        out = torch.empty(B, H, W, C3 // 3, dtype=qkv.dtype, device=qkv.device)
    ext.na2d_qkv_out(qkv, rpb, out, heads, Kh, Kw, dh, dw, scale, PATHS[path])
    return out


def chosen_path(ext, qkv, rpb, heads, Kh, Kw, dh, dw, path) -> tuple[str, str]:
    """The path the launcher takes for this call on this device (its own choice function), and why
    a forced path does not apply ("" when it does)."""
    B, H, W, C3 = qkv.shape
    dtype = str(qkv.dtype).replace("torch.", "")
    aligned = qkv.data_ptr() % 16 == 0
    name, why = ext.na2d_path(
        B, H, W, heads, C3 // (3 * heads), Kh, Kw, dh, dw, dtype, rpb is not None, PATHS[path], aligned
    )
    return PATH_NAMES.get(name, name), why


def sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def cuda_time_ms(fn, iters: int, warmup: int = 3, device="cuda") -> float:
    import torch

    for _ in range(warmup):
        fn()
    if not str(device).startswith("cuda"):  # --emulate: wall time on the CPU
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


class Checker:
    def __init__(self, ext, device):
        self.ext, self.device = ext, device
        self.rows: list[dict] = []

    def check(self, label, qkv64, rpb64, heads, Kh, Kw, dh, dw, scale, dtype_name, path, golden=None):
        import torch

        dt = getattr(torch, dtype_name)
        qkv = qkv64.to(self.device, dt).contiguous()
        rpb = None if rpb64 is None else rpb64.to(self.device, dt).contiguous()
        if golden is not None and dtype_name == "float32":
            ref = golden.to(self.device, torch.float64)
            against = "natten golden"
        else:
            ref = reference(qkv, rpb, heads, Kh, Kw, dh, dw, scale)
            against = "reference"
        row = {"case": label, "dtype": dtype_name, "path": path, "against": against, "tol": TOL[dtype_name]}
        ran, why = chosen_path(self.ext, qkv, rpb, heads, Kh, Kw, dh, dw, path)
        row["ran"] = ran
        if why:  # a forced path that does not apply here: not a failure, not run
            row.update(max_abs_err=None, finite=True, ok=True, skipped=why)
            self.rows.append(row)
            return row
        try:
            out = torch.full((*qkv.shape[:3], qkv.shape[3] // 3), float("nan"), dtype=dt, device=self.device)
            run_kernel(self.ext, qkv, rpb, heads, Kh, Kw, dh, dw, scale, out, path)
            sync(self.device)
            finite = bool(torch.isfinite(out).all())
            err = float((out.double() - ref).abs().max())
            row.update(max_abs_err=err, finite=finite, ok=finite and err <= TOL[dtype_name])
        except Exception as e:  # noqa: BLE001 - report and count as a failure
            row.update(max_abs_err=None, finite=False, ok=False, error=f"{type(e).__name__}: {e}")
        self.rows.append(row)
        return row


def run_checks(ext, device, dtypes, paths, smoke: bool = False) -> tuple[list[dict], list[dict]]:
    import torch
    from safetensors.torch import load_file

    ch = Checker(ext, device)
    gen = torch.Generator().manual_seed(0)
    fixtures = load_file(str(FIXTURES / "na2d_natten.safetensors"))
    for path in paths:
        for m in fixture_cases()[: SMOKE_FIXTURES if smoke else None]:
            qkv, rpb, golden = pack_fixture(fixtures, m["index"], m["heads"])
            K, d = m["kernel_size"], m["dilation"]
            label = f"fixture{m['index']} " + case_name(
                (m["B"], m["H"], m["W"], m["heads"], m["D"], K, K, d, d, m["has_rpb"])
            )
            for dn in dtypes:
                ch.check(label, qkv, rpb, m["heads"], K, K, d, d, m["scale"], dn, path, golden)
        for c in SMOKE_CASES if smoke else RANDOM_CASES:
            B, H, W, heads, D, Kh, Kw, dh, dw, has_rpb = c
            qkv = torch.randn(B, H, W, 3 * heads * D, generator=gen, dtype=torch.float64)
            rpb = torch.randn(heads, 2 * Kh - 1, 2 * Kw - 1, generator=gen, dtype=torch.float64) if has_rpb else None
            if has_rpb == "-inf":
                rpb = neg_inf_bias(rpb)
            for dn in dtypes:
                ch.check(case_name(c), qkv, rpb, heads, Kh, Kw, dh, dw, D**-0.5, dn, path)

    invalid = []
    for B, H, W, heads, D, Kh, Kw, dh, dw, why in INVALID_CASES:
        qkv = torch.zeros(B, H, W, 3 * heads * D, device=device)
        out = torch.full((B, H, W, heads * D), float("nan"), device=device)
        try:
            run_kernel(ext, qkv, None, heads, Kh, Kw, dh, dw, 0.5, out)
            sync(device)
            invalid.append({"case": why, "ok": False, "error": "accepted"})
        except RuntimeError as e:
            refused = "invalid argument" in str(e)
            untouched = bool(torch.isnan(out).all())
            invalid.append({"case": why, "ok": refused and untouched, "error": str(e).splitlines()[0][:120]})
    return ch.rows, invalid


def bench_one(ext, device, dt, B, H, W, heads, iters, flex, ref_fn, K=7, D=32) -> dict:
    """Times one NAT-like shape: the kernel (and its scalar fallback), the reference op, FlexAttention."""
    import torch

    scale = D**-0.5
    qkv = torch.randn(B, H, W, 3 * heads * D, device=device, dtype=dt)
    rpb = torch.randn(heads, 2 * K - 1, 2 * K - 1, device=device, dtype=dt)
    out = torch.empty(B, H, W, heads * D, device=device, dtype=dt)
    row = {"shape": f"B{B} {H}x{W} h{heads} D{D} K{K}", "dtype": str(dt).replace("torch.", "")}
    nbytes = (qkv.numel() + out.numel() + rpb.numel()) * qkv.element_size()

    def kernel(path="auto"):
        run_kernel(ext, qkv, rpb, heads, K, K, 1, 1, scale, out, path)

    row["ran"] = chosen_path(ext, qkv, rpb, heads, K, K, 1, 1, "auto")[0]
    # Registers, shared memory and resident blocks per SM of the kernel that runs, and the occupancy
    # rule's inputs (both kernels' blocks / warps per SM, grid, SMs) and verdict.
    row["kernel"] = ext.na2d_kernel_info(B, H, W, heads, D, K, K, 1, 1, row["dtype"], True, PATHS["auto"])
    time_both_paths(ext, row, kernel, lambda p: chosen_path(ext, qkv, rpb, heads, K, K, 1, 1, p), iters, device)
    t = cuda_time_ms(kernel, iters, device=device)
    row.update(kernel_ms=t, gbps=nbytes / (t * 1e-3) / 1e9)
    try:
        with torch.no_grad():
            row["ref_ms"] = cuda_time_ms(
                lambda: ref_fn(qkv, rpb, heads, K, scale), max(3, iters // 4), 1, device=device
            )
    except torch.cuda.OutOfMemoryError:
        row["ref_ms"] = None
        row["ref_note"] = "out of memory"
    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()
    if flex:
        try:
            q, k, v = to_heads_first(qkv, heads)
            fa = flex_na(H, W, heads, K, rpb, scale, device, compile_=str(device).startswith("cuda"))
            got = fa(q, k, v)  # compile + check against the kernel
            mine = out.reshape(B, H * W, heads, D).transpose(1, 2).float()
            row["flex_vs_kernel_err"] = float((got.float() - mine).abs().max())
            row["flex_ms"] = cuda_time_ms(lambda: fa(q, k, v), iters, device=device)
        except Exception as e:  # noqa: BLE001 - timing anchor only
            row["flex_ms"] = None
            row["flex_note"] = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
    return row


def time_both_paths(ext, row, kernel, path_of, iters, device) -> None:
    """For a 16-bit dtype: times the tensor-core kernel (where it applies) and the scalar kernel, both
    forced, into row["tc_ms"] / row["scalar_ms"], and records which was faster and whether the
    launcher's choice (row["ran"]) was that one."""
    if row["dtype"] == "float32":
        return
    row["tc_ms"] = None
    if not path_of("tc")[1]:  # "" when the tensor-core kernel applies
        row["tc_ms"] = cuda_time_ms(lambda: kernel("tc"), iters, device=device)
    row["scalar_path"] = path_of("smem")[0]  # smem, or global when the halo does not fit
    row["scalar_ms"] = cuda_time_ms(lambda: kernel("smem"), iters, device=device)
    if row["tc_ms"] is not None:
        row["faster"] = "tc" if row["tc_ms"] <= row["scalar_ms"] else row["scalar_path"]
        row["rule_ok"] = (row["ran"] == "tc") == (row["faster"] == "tc")


def rule_one(ext, device, dt, B, H, W, heads, D, K, iters) -> dict:
    """One RULE_CASES shape: the rule's inputs and choice, and both kernels' times."""
    import torch

    qkv = torch.randn(B, H, W, 3 * heads * D, device=device, dtype=dt)
    rpb = torch.randn(heads, 2 * K - 1, 2 * K - 1, device=device, dtype=dt)
    out = torch.empty(B, H, W, heads * D, device=device, dtype=dt)
    row = {"shape": f"B{B} {H}x{W} h{heads} D{D} K{K}", "dtype": str(dt).replace("torch.", "")}

    def kernel(path="auto"):
        run_kernel(ext, qkv, rpb, heads, K, K, 1, 1, D**-0.5, out, path)

    row["ran"] = chosen_path(ext, qkv, rpb, heads, K, K, 1, 1, "auto")[0]
    row["kernel"] = ext.na2d_kernel_info(B, H, W, heads, D, K, K, 1, 1, row["dtype"], True, PATHS["auto"])
    time_both_paths(ext, row, kernel, lambda p: chosen_path(ext, qkv, rpb, heads, K, K, 1, 1, p), iters, device)
    return row


def run_rule_bench(ext, device, dtypes, iters, cases) -> list[dict]:
    import torch

    rows = []
    for dn in dtypes:
        if dn == "float32":  # no tensor-core kernel: nothing to choose
            continue
        for B, H, W, heads, D, K in cases:
            row = rule_one(ext, device, getattr(torch, dn), B, H, W, heads, D, K, iters)
            rows.append(row)
            print(fmt_rule(row), flush=True)
            if str(device).startswith("cuda"):
                torch.cuda.empty_cache()
    return rows


def rule_summary(rows) -> dict:
    """How often the occupancy rule chose the faster kernel, over rows where both were timed."""
    judged = [r for r in rows if r.get("rule_ok") is not None]
    wrong = [f"{r['shape']} {r['dtype']}" for r in judged if not r["rule_ok"]]
    return {"judged": len(judged), "chose_faster": len(judged) - len(wrong), "chose_slower": wrong}


def run_bench(ext, device, batches, dtypes, iters, flex: bool, levels=None) -> list[dict]:
    import torch

    ref_name, ref_fn = "reference (this script)", None
    try:
        from nat_export.ops import na2d_qkv_reference

        ref_name = "nat_export.ops (eager)"

        def ref_fn(qkv, rpb, heads, K, scale):
            return na2d_qkv_reference(qkv, heads, K, 1, rpb, scale)
    except Exception:  # noqa: BLE001 - fall back to the reference here

        def ref_fn(qkv, rpb, heads, K, scale):
            return reference(qkv, rpb, heads, K, K, 1, 1, scale)

    import torch._dynamo

    # One compiled FlexAttention per shape: keep dynamo from falling back to eager.
    for knob in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 64)
    rows = []
    for dn in dtypes:
        for B in batches:
            for H, W, heads in levels or BENCH_LEVELS:
                row = bench_one(ext, device, getattr(torch, dn), B, H, W, heads, iters, flex, ref_fn)
                rows.append(row)
                print(fmt_bench(row), flush=True)
                if str(device).startswith("cuda"):
                    torch.cuda.empty_cache()
    print(f"(reference op: {ref_name}; FlexAttention timed on pre-split [B, heads, HW, D] q/k/v)")
    return rows


# ----------------------------------------------------------------------------- the kernels emulated on the CPU


# Devices --emulate describes (what na_cuda_device and the occupancy API would report there):
# compute capability major, opt-in shared memory per block, SMs, shared memory per SM, shared memory
# reserved per block, threads and blocks per SM.
DESCRIBED_DEVICES = {
    "sm75": {
        "name": "T4-like",
        "cc": 7,
        "smem_optin": 65536,
        "sm_count": 40,
        "smem_per_sm": 65536,
        "reserved": 0,
        "threads_per_sm": 1024,
        "blocks_per_sm": 16,
    },
    "sm80": {
        "name": "A100-like",
        "cc": 8,
        "smem_optin": 166912,
        "sm_count": 108,
        "smem_per_sm": 167936,
        "reserved": 1024,
        "threads_per_sm": 2048,
        "blocks_per_sm": 32,
    },
    "sm86": {
        "name": "A10-like",
        "cc": 8,
        "smem_optin": 101376,
        "sm_count": 72,
        "smem_per_sm": 102400,
        "reserved": 1024,
        "threads_per_sm": 1536,
        "blocks_per_sm": 16,
    },
    "sm89": {
        "name": "L4-like",
        "cc": 8,
        "smem_optin": 101376,
        "sm_count": 58,
        "smem_per_sm": 102400,
        "reserved": 1024,
        "threads_per_sm": 1536,
        "blocks_per_sm": 24,
    },
    "sm90": {
        "name": "H100-like",
        "cc": 9,
        "smem_optin": 232448,
        "sm_count": 132,
        "smem_per_sm": 233472,
        "reserved": 1024,
        "threads_per_sm": 2048,
        "blocks_per_sm": 32,
    },
}


def described_blocks_per_sm(dev: dict, threads: int, dyn_smem: int) -> int:
    """Resident blocks per SM on a described device, limited by threads, blocks and shared memory only
    (registers are known only to a GPU's occupancy API)."""
    if threads <= 0:
        return 0
    by_smem = dev["smem_per_sm"] // (dyn_smem + dev["reserved"]) if dyn_smem + dev["reserved"] > 0 else 1 << 30
    return min(dev["blocks_per_sm"], dev["threads_per_sm"] // threads, by_smem)


class EmulatedExt:
    """The torch extension's interface (na2d_qkv_out, na2d_path, na2d_kernel_info, cuda_versions) over a
    plugins/ build tree's test libraries: libnatx_cuda_emu.so runs the very kernel sources on the CPU (one
    thread per CUDA thread), libnatx_cuda_capi.so makes the launcher's path choice (occupancy rule
    included) for a described device, whose occupancy is modelled by described_blocks_per_sm.
    For --emulate: every part of this script runs in CI without a GPU (slowly: small shapes only)."""

    EMU_MODE = {"scalar": 1, "scalar-global": 0, "tensor-core": 2}  # natx_na2d_forward_cuda_emu modes
    DTYPE = {"float32": 0, "float16": 1, "bfloat16": 2}
    NAMES = {0: "auto", 1: "scalar", 2: "scalar-global", 3: "tensor-core"}
    CODES = {v: k for k, v in NAMES.items()}

    def __init__(self, build_dir, device: dict | None = None):
        import ctypes

        bdir = Path(build_dir)
        if (bdir / "build" / "libnatx_cuda_emu.so").is_file():
            bdir = bdir / "build"
        missing = [n for n in ("libnatx_cuda_emu.so", "libnatx_cuda_capi.so") if not (bdir / n).is_file()]
        if missing:
            raise SystemExit(
                f"gpu_check: error: {bdir} has no {', '.join(missing)}; build with "
                "`nat-export build-plugins --build-tests --out-dir DIR` (needs nvcc) and pass DIR"
            )
        vp, ci, ll = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
        self._emu = ctypes.CDLL(str(bdir / "libnatx_cuda_emu.so")).natx_na2d_forward_cuda_emu
        self._emu.restype = ctypes.c_char_p
        self._emu.argtypes = [ci] * 9 + [ctypes.c_float, ci, vp, vp, vp, ci]
        capi = ctypes.CDLL(str(bdir / "libnatx_cuda_capi.so"))
        self._choose = capi.natx_na_choose_path
        self._choose.restype = ci
        self._choose.argtypes = [ci] * 18 + [ctypes.POINTER(ctypes.c_char_p)]
        self._rule = capi.natx_na_occupancy_rule
        self._rule.restype = ci
        self._rule.argtypes = [ci] * 12 + [ctypes.POINTER(ll)]
        self._shape = capi.natx_cuda_launch_shape
        self._shape.restype = ci
        self._shape.argtypes = [ci] * 5 + [ctypes.POINTER(ll)]
        self._thresholds = (ci * 2)()
        capi.natx_na_occupancy_thresholds(self._thresholds)
        self._ctypes = ctypes
        self.dev = dict(device or DESCRIBED_DEVICES["sm90"])

    def cuda_versions(self) -> str:
        return "no CUDA: kernels emulated on the CPU"

    def _launch_shape(self, kh, kw, D, dtype, name) -> tuple[int, int]:
        smem = self._ctypes.c_longlong()
        threads = self._shape(kh, kw, D, self.DTYPE[dtype], self.CODES[name], self._ctypes.byref(smem))
        return threads, smem.value

    def _choose_path(self, args, requested, aligned, occ=(0, 0)) -> tuple[str, str]:
        why = self._ctypes.c_char_p()
        d = self.dev
        path = self._choose(*args, requested, d["cc"], d["smem_optin"], d["sm_count"], *occ, int(aligned), why)
        return self.NAMES[path], (why.value or b"").decode()

    def occupancy(self, B, H, W, heads, D, kh, kw, dh, dw, dtype, has_rpb) -> tuple[int, int]:
        """(tensor-core, scalar) blocks per SM as na_cuda_occupancy measures them on a GPU: zeros where the
        tensor-core kernel does not apply; the scalar kernel on the path kScalar takes."""
        args = (B, H, W, heads, D, kh, kw, dh, dw, self.DTYPE[dtype], int(has_rpb))
        if self._choose_path(args, PATHS["tc"], True)[1]:
            return 0, 0
        scalar = self._choose_path(args, PATHS["smem"], True)[0]
        return tuple(
            described_blocks_per_sm(self.dev, *self._launch_shape(kh, kw, D, dtype, name))
            for name in ("tensor-core", scalar)
        )

    def na2d_path(self, B, H, W, heads, D, kh, kw, dh, dw, dtype, has_rpb, requested, aligned):
        args = (B, H, W, heads, D, kh, kw, dh, dw, self.DTYPE[dtype], int(has_rpb))
        occ = self.occupancy(*args[:9], dtype, has_rpb) if requested == PATHS["auto"] else (0, 0)
        return self._choose_path(args, requested, aligned, occ)

    def na2d_kernel_info(self, B, H, W, heads, D, kh, kw, dh, dw, dtype, has_rpb, requested):
        """As the extension's; registers are None (only a GPU knows them), blocks per SM modelled."""
        name, why = self.na2d_path(B, H, W, heads, D, kh, kw, dh, dw, dtype, has_rpb, requested, True)
        if why:
            raise RuntimeError(f"na2d_kernel_info: {why}")
        threads, dyn = self._launch_shape(kh, kw, D, dtype, name)
        auto = requested == PATHS["auto"]
        tc, scalar = self.occupancy(B, H, W, heads, D, kh, kw, dh, dw, dtype, has_rpb) if auto else (0, 0)
        out = (self._ctypes.c_longlong * 5)()
        prefers = self._rule(B, H, W, heads, D, kh, kw, dh, dw, self.dev["sm_count"], tc, scalar, out)
        return {
            "path": name,
            "regs": None,
            "static_smem": None,
            "dynamic_smem": dyn,
            "threads": threads,
            "blocks_per_sm": described_blocks_per_sm(self.dev, threads, dyn),
            "tc_blocks_per_sm": tc,
            "scalar_blocks_per_sm": scalar,
            "tc_warps_per_sm": out[1],
            "scalar_warps_per_sm": out[2],
            "sm_count": self.dev["sm_count"],
            "grid_blocks": out[3],
            "fill_blocks": out[4],
            "rule_known": bool(out[0]),
            "rule_prefers_scalar": bool(prefers),
        }

    def occupancy_thresholds(self) -> tuple[int, int]:
        return self._thresholds[0], self._thresholds[1]

    def na2d_qkv_out(self, qkv, rpb, out, heads, kh, kw, dh, dw, scale, path=0):
        B, H, W, C3 = qkv.shape
        D = C3 // (3 * heads) if heads > 0 else 0
        dtype = str(qkv.dtype).replace("torch.", "")
        name, why = self.na2d_path(
            B, H, W, heads, D, kh, kw, dh, dw, dtype, rpb is not None, path, qkv.data_ptr() % 16 == 0
        )
        if why:
            raise RuntimeError(f"na2d_forward_cuda: natxPathNotApplicable: {why}")
        err = self._emu(
            B,
            H,
            W,
            heads,
            D,
            kh,
            kw,
            dh,
            dw,
            scale,
            self.DTYPE[dtype],
            qkv.data_ptr(),
            None if rpb is None else rpb.data_ptr(),
            out.data_ptr(),
            self.EMU_MODE[name],
        )
        if err:
            raise RuntimeError(f"na2d_forward_cuda: invalid argument ({err.decode()})")


# ----------------------------------------------------------------------------- output


def fmt_check(r) -> str:
    if r.get("skipped"):
        return f"skip  {r['dtype']:8}  {r['path']:6}  {r['case']}: {r['skipped']}"
    err = "error" if r["max_abs_err"] is None else f"{r['max_abs_err']:.2e}"
    status = "ok" if r["ok"] else "FAIL"
    extra = f"  {r['error']}" if r.get("error") else ("" if r.get("finite", True) else "  non-finite output")
    return (
        f"{status:4}  {r['dtype']:8}  {r['path']:6}->{r.get('ran', '?'):6}  {err:>9} <= {r['tol']:.0e}  "
        f"{r['case']}  [{r['against']}]{extra}"
    )


def fmt_bench(r) -> str:
    def ms(x):
        return "   n/a" if x is None else f"{x:6.3f}"

    ref, flex = r.get("ref_ms"), r.get("flex_ms")
    sp_ref = f"{ref / r['kernel_ms']:6.1f}x" if ref else "    n/a"
    sp_flex = f"{flex / r['kernel_ms']:6.2f}x" if flex else "    n/a"
    note = r.get("flex_note") or r.get("ref_note") or ""
    if r.get("flex_vs_kernel_err") is not None:
        note = f"(flex vs kernel max err {r['flex_vs_kernel_err']:.1e}) " + note
    scalar = ""
    if r.get("scalar_ms") is not None:
        scalar = f" (tc {ms(r.get('tc_ms'))}, scalar {ms(r['scalar_ms'])})"
    k = r.get("kernel") or {}
    if k:
        occ = k.get("blocks_per_sm")
        note = (
            f"[{k.get('regs') or '?'} regs, {k['dynamic_smem'] + (k.get('static_smem') or 0)} B smem, "
            f"{'?' if occ is None else occ} blocks/SM] " + note
        )
    return (
        f"{r['shape']:26} {r['dtype']:8} kernel ({r.get('ran', '?')}) {ms(r['kernel_ms'])} ms{scalar} "
        f"{r['gbps']:7.0f} GB/s | "
        f"ref {ms(ref)} ms ({sp_ref}) | flex {ms(flex)} ms ({sp_flex}) {note}"
    )


def fmt_rule(r) -> str:
    def ms(x):
        return "   n/a" if x is None else f"{x:7.3f}"

    k = r.get("kernel") or {}
    occ = (
        f"tc {k.get('tc_blocks_per_sm')} blk = {k.get('tc_warps_per_sm')} warps/SM, scalar "
        f"{k.get('scalar_blocks_per_sm')} blk = {k.get('scalar_warps_per_sm')} warps/SM, grid "
        f"{k.get('grid_blocks')} blocks (fill {k.get('fill_blocks')})"
    )
    verdict = {True: "ok", False: "SLOWER", None: "n/a"}[r.get("rule_ok")]
    return (
        f"{r['shape']:26} {r['dtype']:8} rule -> {r['ran']:6} | tc {ms(r.get('tc_ms'))} ms, "
        f"{r.get('scalar_path', 'smem'):6} {ms(r.get('scalar_ms'))} ms | faster {r.get('faster', 'n/a'):6} "
        f"[{verdict}] {occ}"
    )


def dry_run(args) -> int:
    print("correctness cases (each for dtypes " + ", ".join(args.dtypes) + "; paths " + ", ".join(args.paths) + "):")
    for m in fixture_cases()[: SMOKE_FIXTURES if args.smoke else None]:
        K, d = m["kernel_size"], m["dilation"]
        print(
            f"  fixture{m['index']}: "
            + case_name((m["B"], m["H"], m["W"], m["heads"], m["D"], K, K, d, d, m["has_rpb"]))
        )
    for c in SMOKE_CASES if args.smoke else RANDOM_CASES:
        print("  random: " + case_name(c))
    print("invalid parameters (must be refused):")
    for c in INVALID_CASES:
        print(f"  {c[-1]}: " + case_name((*c[:9], False)))
    print("timing (kernel vs reference op vs FlexAttention), dtypes " + ", ".join(args.bench_dtypes) + ":")
    for B in args.batch:
        for H, W, heads in SMOKE_BENCH_LEVELS if args.smoke else BENCH_LEVELS:
            print(f"  B{B} {H}x{W} h{heads} D32 K7")
    print("occupancy rule: tensor-core vs scalar kernel timed next to the rule's choice, dtypes 16-bit of the above:")
    for B, H, W, heads, D, K in SMOKE_RULE_CASES if args.smoke else RULE_CASES:
        print(f"  B{B} {H}x{W} h{heads} D{D} K{K}")
    return 0


def cpu_selftest() -> int:
    """The parts that need no GPU: the reference against the natten goldens, and the
    FlexAttention mask / bias against the reference (eager FlexAttention on the CPU)."""
    import torch
    from safetensors.torch import load_file

    fixtures = load_file(str(FIXTURES / "na2d_natten.safetensors"))
    bad = 0
    for m in fixture_cases():
        qkv, rpb, golden = pack_fixture(fixtures, m["index"], m["heads"])
        K, d = m["kernel_size"], m["dilation"]
        err = float((reference(qkv, rpb, m["heads"], K, K, d, d, m["scale"]) - golden).abs().max())
        ok = err <= 1e-10
        bad += not ok
        print(f"{'ok' if ok else 'FAIL':4}  reference vs natten fixture{m['index']}: {err:.1e}")
    gen = torch.Generator().manual_seed(1)
    for B, H, W, heads, D, K in [(2, 9, 11, 2, 16, 3), (1, 14, 14, 2, 32, 7), (1, 7, 9, 1, 16, 7)]:
        qkv = torch.randn(B, H, W, 3 * heads * D, generator=gen)
        rpb = torch.randn(heads, 2 * K - 1, 2 * K - 1, generator=gen)
        ref = reference(qkv, rpb, heads, K, K, 1, 1, D**-0.5)
        q, k, v = to_heads_first(qkv, heads)
        got = flex_na(H, W, heads, K, rpb, D**-0.5, "cpu", compile_=False)(q, k, v)
        got = got.transpose(1, 2).reshape(B, H, W, heads * D)
        err = float((got.double() - ref).abs().max())
        ok = err <= 1e-4
        bad += not ok
        print(f"{'ok' if ok else 'FAIL':4}  FlexAttention NA vs reference B{B} {H}x{W} h{heads} D{D} K{K}: {err:.1e}")
    print("cpu self-test: " + ("all ok" if not bad else f"{bad} FAILED"))
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n".join(__doc__.split("\n")[-8:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--dry-run", action="store_true", help="list the cases and exit; no GPU, no build")
    ap.add_argument(
        "--cpu-selftest",
        action="store_true",
        help="check this script's reference and FlexAttention mask on the CPU, then exit",
    )
    ap.add_argument("--no-bench", action="store_true", help="correctness only")
    ap.add_argument("--bench-only", action="store_true", help="timing only")
    ap.add_argument("--no-flex", action="store_true", help="do not time FlexAttention")
    ap.add_argument(
        "--dtypes",
        nargs="+",
        default=["float32", "float16", "bfloat16"],
        choices=list(TOL),
        help="dtypes for the correctness checks",
    )
    ap.add_argument(
        "--paths",
        nargs="+",
        default=["auto", "smem", "global"],
        choices=list(PATHS),
        help="kernel paths to check: auto (launcher's choice), smem (scalar kernel), "
        "global (scalar kernel, no shared memory), tc (tensor-core kernel forced)",
    )
    ap.add_argument(
        "--emulate",
        metavar="BUILD_DIR",
        default=None,
        help="run everything on the CPU with the kernels emulated (libnatx_cuda_emu.so and libnatx_cuda_capi.so "
        "of a plugins/ build tree with NATX_BUILD_TESTS=ON; the device --emulate-device names is described to the "
        "path choice and its occupancy modelled); "
        "for CI: proves the script, not the GPU",
    )
    ap.add_argument(
        "--emulate-device",
        default="sm90",
        choices=list(DESCRIBED_DEVICES),
        help="with --emulate: the device described to the path choice and the occupancy model (default sm90)",
    )
    ap.add_argument(
        "--emulate-sms",
        type=int,
        default=None,
        help="with --emulate: override the described device's SM count (a small one lets the smoke shapes fill it)",
    )
    ap.add_argument("--smoke", action="store_true", help="small case lists and timing shapes (with --emulate)")
    ap.add_argument("--bench-dtypes", nargs="+", default=["float16"], choices=list(TOL), help="dtypes to time")
    ap.add_argument("--batch", nargs="+", type=int, default=[32, 128], help="batch sizes to time")
    ap.add_argument("--iters", type=int, default=20, help="timed iterations per measurement (median)")
    ap.add_argument("--build-dir", default=None, help="torch extension build folder (default: a temp folder)")
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    ap.add_argument("--verbose", action="store_true", help="show the extension build")
    args = ap.parse_args(argv)

    if args.dry_run:
        return dry_run(args)
    if args.cpu_selftest:
        return cpu_selftest()

    import torch

    sys.path.insert(0, str(ROOT))
    if args.emulate:
        device = "cpu"
        described = dict(DESCRIBED_DEVICES[args.emulate_device])
        if args.emulate_sms:
            described["sm_count"] = args.emulate_sms
        ext = EmulatedExt(args.emulate, described)
        sm = args.emulate_device[2:]
        gpu = f"none (kernels emulated on the CPU, {described['name']} sm_{sm} with {described['sm_count']} SMs described)"
    elif not torch.cuda.is_available():
        print(
            "error: no CUDA GPU visible to PyTorch; run on a GPU machine (or use --dry-run / --cpu-selftest / "
            "--emulate BUILD_DIR)",
            file=sys.stderr,
        )
        return 2
    else:
        device = "cuda"
        props = torch.cuda.get_device_properties(0)
        gpu, sm = props.name, f"{props.major}{props.minor}"
        ext = build_extension(args.build_dir, args.verbose)
    print(f"GPU: {gpu} (sm_{sm}), torch {torch.__version__}, CUDA {torch.version.cuda}; {ext.cuda_versions()}")

    result: dict = {"gpu": gpu, "sm": sm, "torch": torch.__version__, "cuda": ext.cuda_versions()}
    failures = 0
    if not args.bench_only:
        rows, invalid = run_checks(ext, device, args.dtypes, args.paths, smoke=args.smoke)
        for r in rows:
            if not r["ok"] or args.verbose:
                print(fmt_check(r))
        worst = {}
        for r in rows:
            if r["max_abs_err"] is not None:
                key = (r["dtype"], r["path"])
                worst[key] = max(worst.get(key, 0.0), r["max_abs_err"])
        print(f"\ncorrectness: {sum(r['ok'] for r in rows)}/{len(rows)} ok")
        for (dn, path), w in sorted(worst.items()):
            print(f"  {dn:8} {path:6} worst max abs err {w:.2e} (tol {TOL[dn]:.0e})")
        for r in invalid:
            print(f"{'ok' if r['ok'] else 'FAIL':4}  invalid params refused: {r['case']}: {r['error']}")
        failures += sum(not r["ok"] for r in rows) + sum(not r["ok"] for r in invalid)
        result.update(checks=rows, invalid=invalid)
    if not args.no_bench:
        print(f"\ntiming (median of {args.iters}, CUDA events):")
        result["bench"] = run_bench(
            ext,
            device,
            args.batch,
            args.bench_dtypes,
            args.iters,
            not args.no_flex,
            SMOKE_BENCH_LEVELS if args.smoke else None,
        )
        tmin, factor = ext.occupancy_thresholds()
        result["rule_thresholds"] = {"tc_min_warps_per_sm": tmin, "scalar_warp_factor": factor}
        print(
            f"\noccupancy rule (na_occupancy_rule, not yet tuned): the scalar kernel when the tensor-core kernel "
            f"keeps < {tmin} warps per SM, the scalar kernel >= {factor}x as many, and the grid fills the GPU "
            "at the scalar kernel's occupancy; both kernels timed:"
        )
        result["rule"] = run_rule_bench(
            ext, device, args.bench_dtypes, args.iters, SMOKE_RULE_CASES if args.smoke else RULE_CASES
        )
        summary = rule_summary(result["bench"] + result["rule"])
        result["rule_summary"] = summary
        print(
            f"occupancy rule chose the faster kernel in {summary['chose_faster']} of {summary['judged']} timed shapes"
            + (f"; the slower in: {', '.join(summary['chose_slower'])}" if summary["chose_slower"] else "")
        )
    result["failures"] = failures
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    print("\nRESULT: " + ("all checks passed" if failures == 0 else f"{failures} check(s) FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
