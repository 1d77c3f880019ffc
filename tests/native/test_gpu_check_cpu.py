"""scripts/gpu_check.py exercised on the CPU, so that the rare GPU run cannot fail on a typo.

`--emulate BUILD_DIR --smoke` runs every part of the script (extension interface, correctness
checks over every dtype and path including the forced tensor-core path and a -inf bias, the
launcher's path choice recorded per row, invalid-parameter refusals, timing against the reference
op and FlexAttention, both kernels timed next to the occupancy rule's choice, JSON output) with the
kernels emulated on the CPU (libnatx_cuda_emu.so) and the launcher's path choice, occupancy rule
included, made for a described device (libnatx_cuda_capi.so; sm_90 by default, a T4-like sm_75 whose
rule picks the scalar kernel with --emulate-device sm75). A faulty kernel must make it fail. What this
cannot show: anything the GPU does (see docs/native.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


@pytest.fixture(scope="module")
def emu_build(native_libs) -> Path:
    if shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").is_file():
        pytest.skip("nvcc not found: the kernel emulation is not built on this machine")
    return native_libs.build_dir


@pytest.fixture(scope="module")
def gpu_check():
    return load_script(SCRIPT)


def test_emulated_run_of_the_whole_script(emu_build, tmp_path):
    out = tmp_path / "check.json"
    cmd = [sys.executable, str(SCRIPT), "--emulate", str(emu_build), "--smoke", "--batch", "1", "--iters", "1"]
    cmd += ["--paths", "auto", "smem", "global", "tc", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "RESULT: all checks passed" in proc.stdout
    res = json.loads(out.read_text())
    assert res["failures"] == 0
    rows = res["checks"]
    combos = {(r["dtype"], r["path"]) for r in rows}
    assert combos == {(d, p) for d in ("float32", "float16", "bfloat16") for p in ("auto", "smem", "global", "tc")}
    ran = [r for r in rows if not r.get("skipped")]
    assert ran and all(r["ok"] and r["finite"] and r["max_abs_err"] <= r["tol"] for r in ran)
    assert any("-inf-bias" in r["case"] for r in ran)
    # The launcher's choice on the described sm_90: tensor cores for 16-bit D 16/32, never for float32.
    auto = {(r["dtype"], r["case"]): r["ran"] for r in rows if r["path"] == "auto"}
    assert auto[("float16", "B1 10x9 h1 D32 K5x5 d1x1 -inf-bias")] == "tc"
    assert auto[("float32", "B1 10x9 h1 D32 K5x5 d1x1 -inf-bias")] == "smem"
    assert auto[("float16", "B1 9x9 h2 D8 K3x5 d1x1")] == "smem"  # D 8: no tensor-core variant
    skipped = [r for r in rows if r.get("skipped")]
    assert skipped and all(r["path"] == "tc" for r in skipped)
    assert any("float32 has no tensor-core path" in r["skipped"] for r in skipped)
    assert len(res["invalid"]) == 4 and all(r["ok"] for r in res["invalid"])
    (bench,) = res["bench"]
    assert bench["ran"] == "tc" and bench["kernel_ms"] > 0 and bench["scalar_ms"] > 0 and bench["ref_ms"] > 0
    assert bench["kernel"]["path"] == "tensor-core" and bench["kernel"]["dynamic_smem"] == 45312
    assert bench["kernel"]["threads"] == 128
    assert bench["flex_ms"] is not None and bench["flex_vs_kernel_err"] < 1e-2
    # Both kernels timed next to the occupancy rule's choice (described H100: 5 tensor-core blocks per SM by
    # shared memory, 20 warps: tensor cores).
    assert bench["tc_ms"] > 0 and bench["scalar_path"] == "smem" and bench["faster"] in ("tc", "smem")
    assert bench["rule_ok"] == (bench["faster"] == "tc")
    k = bench["kernel"]
    assert (k["tc_blocks_per_sm"], k["tc_warps_per_sm"], k["sm_count"]) == (5, 20, 132)
    assert k["rule_known"] and not k["rule_prefers_scalar"] and k["grid_blocks"] == 2
    assert res["rule_thresholds"] == {"tc_min_warps_per_sm": 8, "scalar_warp_factor": 2}
    (rule,) = res["rule"]  # SMOKE_RULE_CASES, float16
    assert rule["shape"] == "B1 8x8 h2 D16 K7" and rule["ran"] == "tc" and rule["tc_ms"] > 0 and rule["scalar_ms"] > 0
    assert res["rule_summary"]["judged"] == 2
    assert "occupancy rule chose the faster kernel in" in proc.stdout


def test_emulated_rule_picks_the_scalar_kernel_on_a_t4(emu_build, tmp_path):
    """A described T4 (sm_75, 64 KB of shared memory per SM) with one SM, so that the smoke shape fills it: the
    K 7 D 32 tensor-core kernel keeps 1 block = 4 warps per SM, the scalar kernel 2 = 8; the launcher's choice
    (auto) is the scalar kernel, timed next to the forced tensor-core kernel. For D 16 the tensor-core kernel
    keeps 2 blocks = 8 warps: tensor cores."""
    out = tmp_path / "t4.json"
    cmd = [sys.executable, str(SCRIPT), "--emulate", str(emu_build), "--emulate-device", "sm75", "--emulate-sms", "1"]
    cmd += ["--smoke", "--bench-only", "--no-flex", "--batch", "1", "--iters", "1", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "T4-like sm_75 with 1 SMs described" in proc.stdout
    res = json.loads(out.read_text())
    (bench,) = res["bench"]
    k = bench["kernel"]
    assert bench["ran"] == "smem" and k["path"] == "scalar"
    occ = (k["tc_blocks_per_sm"], k["scalar_blocks_per_sm"], k["tc_warps_per_sm"], k["scalar_warps_per_sm"])
    assert occ == (1, 2, 4, 8)
    assert (k["grid_blocks"], k["fill_blocks"]) == (2, 2) and k["rule_prefers_scalar"]
    assert bench["tc_ms"] > 0 and bench["scalar_ms"] > 0 and bench["kernel_ms"] > 0
    (rule,) = res["rule"]
    assert rule["ran"] == "tc" and rule["kernel"]["tc_warps_per_sm"] == 8 and not rule["kernel"]["rule_prefers_scalar"]
    assert "B1 8x8 h2 D16 K7           float16  rule -> tc" in proc.stdout


def test_described_occupancy_model(emu_build, gpu_check):
    """--emulate's occupancy model (threads, blocks, shared memory per SM) and the rule through the capi."""
    t4 = gpu_check.DESCRIBED_DEVICES["sm75"]
    assert gpu_check.described_blocks_per_sm(t4, 128, 45312) == 1
    assert gpu_check.described_blocks_per_sm(t4, 512, 0) == 2  # 1024 threads per SM
    assert gpu_check.described_blocks_per_sm(gpu_check.DESCRIBED_DEVICES["sm86"], 128, 45312) == 2
    ext = gpu_check.EmulatedExt(emu_build, t4)
    assert ext.occupancy(32, 56, 56, 2, 32, 7, 7, 1, 1, "float16", True) == (1, 2)
    assert ext.occupancy(32, 56, 56, 2, 32, 7, 7, 1, 1, "float32", True) == (0, 0)  # no tensor-core kernel
    assert ext.occupancy(32, 56, 56, 2, 32, 7, 7, 1, 1, "bfloat16", True) == (0, 0)  # not on sm_75
    assert ext.na2d_path(32, 56, 56, 2, 32, 7, 7, 1, 1, "float16", True, 0, True) == ("scalar", "")
    assert ext.na2d_path(1, 7, 7, 16, 32, 7, 7, 1, 1, "float16", True, 0, True) == ("tensor-core", "")  # 16 blocks
    assert ext.na2d_path(32, 56, 56, 2, 32, 7, 7, 1, 1, "float16", True, 3, True) == ("tensor-core", "")  # forced
    h100 = gpu_check.EmulatedExt(emu_build)
    assert h100.na2d_path(32, 56, 56, 2, 32, 7, 7, 1, 1, "float16", True, 0, True) == ("tensor-core", "")
    assert h100.occupancy_thresholds() == (8, 2)


class _Faulty:
    """The emulated extension with a fault: a wrong value in one output, or nothing written."""

    def __init__(self, ext, fault):
        self.ext, self.fault = ext, fault

    def __getattr__(self, name):
        return getattr(self.ext, name)

    def na2d_qkv_out(self, qkv, rpb, out, *args):
        if self.fault == "no-write":
            return
        self.ext.na2d_qkv_out(qkv, rpb, out, *args)
        out.view(-1)[-1] += 0.05


@pytest.mark.parametrize("fault", ["wrong-value", "no-write"])
def test_a_faulty_kernel_fails_the_check(emu_build, gpu_check, fault):
    ext = _Faulty(gpu_check.EmulatedExt(emu_build), fault)
    rows, invalid = gpu_check.run_checks(ext, "cpu", ["float32"], ["auto"], smoke=True)
    assert rows and not any(r["ok"] for r in rows)
    if fault == "no-write":  # the NaN poison stays, and invalid parameters were "accepted"
        assert not any(r["finite"] for r in rows)
        assert not any(r["ok"] for r in invalid)
    else:
        assert all(r["ok"] for r in invalid)


def test_missing_build_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--emulate", str(tmp_path), "--smoke"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("gpu_check: error:") and len(proc.stderr.strip().splitlines()) == 1


def test_dry_run_lists_the_cases():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "-inf-bias" in proc.stdout and "fixture0" in proc.stdout and "B128 56x56" in proc.stdout
    assert "occupancy rule" in proc.stdout and "B32 28x28 h4 D32 K13" in proc.stdout


def test_torch_binding_compiles(tmp_path):
    """plugins/core/torch_ext/na_torch.cpp, which gpu_check builds on the GPU machine, compiles here
    (syntax and types, against this PyTorch's headers; a CPU PyTorch lacks one generated CUDA
    header, stubbed empty)."""
    import sysconfig

    torch = pytest.importorskip("torch")
    inc = Path(torch.__file__).parent / "include"
    cuda = next(
        (
            p
            for p in [Path("/usr/local/cuda/include"), *sorted(Path("/usr/local").glob("cuda-*/include"))]
            if (p / "cuda_runtime.h").is_file()
        ),
        None,
    )
    if shutil.which("g++") is None or cuda is None or not (inc / "c10" / "cuda" / "CUDAStream.h").is_file():
        pytest.skip("needs g++, the CUDA headers and PyTorch's c10/cuda headers")
    stub = tmp_path / "c10" / "cuda" / "impl"
    stub.mkdir(parents=True)
    (stub / "cuda_cmake_macros.h").write_text("")
    cmd = ["g++", "-std=c++17", "-fsyntax-only", "-DTORCH_EXTENSION_NAME=natx_torch_ext"]
    cmd += ["-DTORCH_API_INCLUDE_EXTENSION_H", f"-I{tmp_path}", f"-I{inc}", f"-I{inc / 'torch/csrc/api/include'}"]
    cmd += [f"-I{sysconfig.get_paths()['include']}", f"-I{cuda}", f"-I{ROOT / 'plugins/core'}"]
    proc = subprocess.run([*cmd, str(ROOT / "plugins/core/torch_ext/na_torch.cpp")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
