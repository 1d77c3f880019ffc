"""scripts/bench_cpu.py run end to end in a tiny mode, so that a typo in the rarely run benchmark cannot survive.

The micro NAT fixture at 64x64, batches 1 and 8, one thread (the micro model's tiny ops slow down up to a hundredfold
on two threads when another process holds a core), one timed run each, a 256^3 peak matmul, and torch.compile with the
`eager` backend (dynamo's tracing and the per-batch recompile without inductor's minutes of C++ compilation on 2
cores). Every section of the report runs: peak, FLOPs with the FlopCounterMode cross-check, the four backends, the
ORT profile, the NA kernel section under two NATX_CPU_KERNEL values, the targets. Runs on the NA op library of the
session's native build (tests/native/conftest.py, fixture `ort_lib`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_cpu.py"
MICRO = ROOT / "tests" / "fixtures" / "nat_micro" / "hf"


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT)


def test_tiny_run_of_the_whole_script(ort_lib, tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(SCRIPT), "--from-pretrained", str(MICRO), "--resolution", "64", "--batch", "1", "8"]
    cmd += ["--threads", "1", "--iterations", "1", "--warmup", "0", "--peak-size", "256", "--peak-iterations", "1"]
    cmd += ["--kernel-iterations", "1", "--kernels", "scalar", "auto", "--compile-backend", "eager"]
    cmd += ["--ort-op-library", str(ort_lib), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for heading in ("## fp32 matmul peak", "## Model FLOPs", "## End to end", "## ORT + NA op profile, batch 8"):
        assert heading in proc.stdout
    assert "## NA kernel" in proc.stdout and "## Targets (issue 14)" in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # the ORT profile traces stay in its temp dir

    res = json.loads(out.read_text())
    peak = res["matmul_peak"]
    assert peak["gflops"] > 0 and peak["best"] in peak["libraries"]
    assert set(peak["libraries"]) == {"onnxruntime MatMul", "torch.mm"}
    assert "numpy matmul" in peak["skipped"]  # one thread: numpy's BLAS would use every core
    assert set(peak["runs"]) == {"start", "end"}
    assert res["warnings"] == [] or all(isinstance(w, str) for w in res["warnings"])

    fl = res["flops_per_image"]
    assert fl["uncounted_nodes"] == []
    assert fl["by_op"]["NeighborhoodAttention2D"]["nodes"] == 5  # nat_micro: depths 1, 1, 2, 1
    assert abs(fl["graph_dense_vs_flop_counter"]) < 0.01  # the graph's matmuls/convs = torch's own count
    assert res["floor_ms_per_image"] == pytest.approx(fl["total"] / peak["gflops"] / 1e6)

    rows = {(r["backend"], r["batch"]): r for r in res["results"]}
    backends = ("ORT + NA op", "ORT portable", "PyTorch eager", "torch.compile")
    assert set(rows) == {(b, n) for b in backends for n in (1, 8)}, res.get("compile")
    for (backend, batch), r in rows.items():
        assert r["p50_ms"] > 0 and r["ms_per_image"] == pytest.approx(r["p50_ms"] / batch)
        assert r["x_floor"] == pytest.approx(r["ms_per_image"] / res["floor_ms_per_image"])
        if backend != "PyTorch eager":
            assert r["max_abs_diff_vs_eager"] < 1e-4, (backend, batch)
    assert set(res["compile"]["first_call_s"]) == {"1", "8"}

    for batch in ("1", "8"):
        prof = res["ort_profile"][batch]
        ops = {r["op_type"]: r for r in prof["op_types"]}
        na = ops["NeighborhoodAttention2D"]
        assert na["nodes_per_run"] == 5 and na["gflops"] > 0 and 0 < na["share"] < 1
        assert sum(r["share"] for r in prof["op_types"]) + prof["between_nodes_share"] == pytest.approx(1)
        assert prof["gflop_per_image_seen"] == pytest.approx(fl["total"] / 1e9, rel=0.05)

    k = res["kernels"]
    assert k["values"] == ["scalar", "auto"] and len(k["rows"]) == 2 * 4  # 4 distinct NA shapes per batch
    for row in k["rows"]:
        assert row["kernels"]["scalar"]["p50_ms"] > 0 and row["kernels"]["auto"]["gflops"] > 0
        assert row["kernels"]["auto"]["max_abs_diff_vs_first"] < 1e-4

    statuses = [t["status"] for t in res["targets"]]
    assert len(statuses) == 3 and set(statuses) <= {"PASS", "MISS"}
    lowest = min(row["kernels"]["auto"]["speedup_vs_first"] for row in k["rows"])
    assert res["targets"][2]["measured"] == pytest.approx(lowest)


def test_targets_pass_and_miss(bench):
    def report(x_floor, na_share):
        results = [{"backend": "ORT + NA op", "batch": 8, "x_floor": x_floor}]
        profile = {"8": {"op_types": [{"op_type": "NeighborhoodAttention2D", "share": na_share}]}}
        return {"results": results, "ort_profile": profile}

    status = [t["status"] for t in bench.targets(report(1.29, 0.09), "NeighborhoodAttention2D")]
    assert status == ["PASS", "PASS"]
    status = [t["status"] for t in bench.targets(report(1.31, 0.10), "NeighborhoodAttention2D")]
    assert status == ["MISS", "MISS"]
    no8 = bench.targets({"results": [], "ort_profile": {}}, "NeighborhoodAttention2D")
    assert [t["status"] for t in no8] == ["not measured", "not measured"]


def test_kernel_target_is_the_lowest_speedup(bench):
    def report(speedups, values=("scalar", "auto"), reads_env=True):
        rows = [{"kernels": {"scalar": {}, "auto": {"speedup_vs_first": x}}} for x in speedups]
        kernels = {"values": list(values), "library_reads_env": reads_env, "rows": rows}
        return {"results": [], "ort_profile": {}, "kernels": kernels}

    def kernel_target(rep):
        return [t for t in bench.targets(rep, "NeighborhoodAttention2D") if t["target"].startswith("NA kernel")]

    (t,) = kernel_target(report([4.6, 4.0, 5.1]))
    assert (t["measured"], t["status"]) == (4.0, "PASS")
    (t,) = kernel_target(report([4.6, 3.99, 5.1]))
    assert (t["measured"], t["status"]) == (3.99, "MISS")
    assert kernel_target(report([4.6], values=("auto", "scalar"))) == []  # no scalar baseline first
    assert kernel_target(report([4.6], reads_env=False)) == []  # every column ran the same kernel
