"""Shared fixtures for the native tests: one plugin build per session, a brute-force
neighborhood-attention reference, and the natten fixture cases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _missing_tools() -> list[str]:
    missing = [t for t in ("cmake",) if shutil.which(t) is None]
    if shutil.which("g++") is None and shutil.which("c++") is None:
        missing.append("g++")
    return missing


class NativeBuild:
    def __init__(self, out_dir: Path, libs: dict[str, Path]):
        self.out_dir = out_dir
        self.build_dir = out_dir / "build"
        self.libs = libs

    @property
    def cpu_capi(self) -> Path:
        return self.build_dir / "libnatx_cpu_capi.so"

    @property
    def cuda_core(self) -> Path:
        return self.build_dir / "libnatx_core_cuda.a"

    def program(self, name: str) -> Path:
        """A test program of the build tree (bin/NAME), built now with CMake if it is missing."""
        exe = self.build_dir / "bin" / name
        if not exe.is_file():
            cmake = shutil.which("cmake")
            if cmake is None or not (self.build_dir / "CMakeCache.txt").is_file():
                pytest.skip(f"{name} not built and no CMake build tree at {self.build_dir}")
            proc = subprocess.run(
                [cmake, "--build", str(self.build_dir), "--target", name], capture_output=True, text=True
            )
            assert proc.returncode == 0, f"building {name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return exe


@pytest.fixture(scope="session")
def native_libs(tmp_path_factory) -> NativeBuild:
    """Builds plugins/ with its test targets once per session (into $NATX_TEST_BUILD_DIR if set,
    else a temp dir)."""
    missing = _missing_tools()
    if missing:
        pytest.skip(f"native build needs {', '.join(missing)} (not found on PATH)")
    from nat_export.native import build_plugins

    env_dir = os.environ.get("NATX_TEST_BUILD_DIR")
    out = Path(env_dir) if env_dir else tmp_path_factory.mktemp("natx_plugins")
    libs = build_plugins(out, fetch_ort_headers=True, build_tests=True)
    return NativeBuild(out, libs)


@pytest.fixture(scope="session")
def ort_lib(native_libs) -> Path:
    """The ONNX Runtime NA op library of the session's build."""
    lib = native_libs.libs.get("ort")
    if lib is None:
        pytest.skip("the ONNX Runtime op library was not built (no ONNX Runtime headers)")
    return lib


# ------------------------------------------------------------------ reference


def _axis_tables(L: int, K: int, d: int):
    """Key index and bias index per (query i, window slot t), brute force per position."""
    keys = np.zeros((L, K), dtype=np.int64)
    bias = np.zeros((L, K), dtype=np.int64)
    for i in range(L):
        g = i % d
        members = list(range(g, L, d))  # the dilation group of i, in order
        p = members.index(i)
        start = min(max(p - K // 2, 0), len(members) - K)  # shift inward at borders
        for t in range(K):
            keys[i, t] = members[start + t]
            bias[i, t] = (K - 1) + (start + t - p)
    return keys, bias


def na2d_reference(q, k, v, kernel_size, dilation, scale, rpb=None):
    """Brute-force NA in float64. q, k, v [B, H, W, heads, D]; rpb [heads, 2Kh-1, 2Kw-1]."""
    Kh, Kw = kernel_size
    dh, dw = dilation
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
    B, H, W, heads, D = q.shape
    ky, by = _axis_tables(H, Kh, dh)
    kx, bx = _axis_tables(W, Kw, dw)
    # keys/values gathered: [B, H, W, Kh, Kw, heads, D]
    rows = ky[:, None, :, None]
    cols = kx[None, :, None, :]
    kk = k[:, rows, cols]
    vv = v[:, rows, cols]
    logits = scale * np.einsum("bhwnd,bhwijnd->bhwnij", q, kk)
    if rpb is not None:
        rpb = np.asarray(rpb, dtype=np.float64)
        bias = rpb[:, by[:, None, :, None], bx[None, :, None, :]]  # [heads, H, W, Kh, Kw]
        logits = logits + bias.transpose(1, 2, 0, 3, 4)[None]
    flat = logits.reshape(*logits.shape[:4], -1)
    flat = flat - flat.max(-1, keepdims=True)
    w = np.exp(flat)
    w /= w.sum(-1, keepdims=True)
    w = w.reshape(logits.shape)
    out = np.einsum("bhwnij,bhwijnd->bhwnd", w, vv)
    return out.reshape(B, H, W, heads * D)


def pack_qkv(q, k, v):
    """[B, H, W, heads, D] x3 -> fused [B, H, W, 3*heads*D] ordered (3, heads, D)."""
    B, H, W, heads, D = q.shape
    return np.stack([q, k, v], axis=3).reshape(B, H, W, 3 * heads * D)


def random_case(rng, B, H, W, heads, D, K, d, has_rpb):
    q, k, v = (rng.standard_normal((B, H, W, heads, D)) for _ in range(3))
    Kh, Kw = K
    rpb = rng.standard_normal((heads, 2 * Kh - 1, 2 * Kw - 1)) if has_rpb else None
    return q, k, v, rpb


# ------------------------------------------------------------------ natten fixtures


def natten_cases():
    """The op-level golden cases from natten 0.17.4, as (meta, q, k, v, rpb, out) with
    q/k/v in [B, H, W, heads, D] and out in [B, H, W, heads*D] (float64)."""
    from safetensors.numpy import load_file

    meta = json.loads((FIXTURES / "na2d_natten.json").read_text())["cases"]
    tensors = load_file(str(FIXTURES / "na2d_natten.safetensors"))
    cases = []
    for i, m in enumerate(meta):
        # natten 0.17 layout [B, heads, H, W, D] -> [B, H, W, heads, D]
        q, k, v, out = (tensors[f"case{i}.{n}"].transpose(0, 2, 3, 1, 4) for n in ("q", "k", "v", "out"))
        rpb = tensors.get(f"case{i}.rpb") if m["has_rpb"] else None
        B, H, W, heads, D = q.shape
        cases.append((m, q, k, v, rpb, out.reshape(B, H, W, heads * D)))
    return cases


def case_id(m) -> str:
    return f"B{m['B']}h{m['heads']}_{m['H']}x{m['W']}_D{m['D']}_K{m['kernel_size']}d{m['dilation']}" + (
        "" if m["has_rpb"] else "_norpb"
    )


def pytest_generate_tests(metafunc):
    """A test that takes `natten_case` runs once per golden case."""
    if "natten_case" in metafunc.fixturenames:
        cases = natten_cases()
        metafunc.parametrize("natten_case", cases, ids=[case_id(c[0]) for c in cases])


@pytest.fixture(scope="session")
def na_ref():
    """Reference helpers: .reference(q, k, v, K, d, scale, rpb), .pack_qkv(q, k, v), .random_case(...),
    .natten_cases()."""
    return SimpleNamespace(
        reference=na2d_reference, pack_qkv=pack_qkv, random_case=random_case, natten_cases=natten_cases
    )
