#!/usr/bin/env python3
"""CPU benchmark of a NAT model against the machine's limit, all measured in one run on the same inputs.

    python scripts/bench_cpu.py [--model nat-tiny] [--batch 1 8] [--iterations 10] [--warmup 2] [--threads N]
                                [--skip-portable] [--skip-compile] [--json out.json]

What it measures, in this order:

1. The machine's fp32 matmul peak: one N x N x N matmul (--peak-size) through ONNX Runtime (a one-node MatMul
   model, the engine that runs the model's matmuls), torch.mm and numpy, at the start of the run and again at its
   end; the fastest run of the best library is the peak (a peak is what the machine can do: another process
   busy for a moment must not lower it).
2. The model's FLOPs, per image, from the exported ONNX graph after onnx shape inference: MatMul, Gemm and Conv
   from their shapes, each NeighborhoodAttention2D node as 4*B*H*W*heads*Kh*Kw*D; cross-checked against
   torch.utils.flop_counter.FlopCounterMode on the eager model (which sees the matmuls and convolutions, not the
   NA op). The floor is FLOPs / peak.
3. ms per image (p50 of --iterations after --warmup, every backend on the same inputs and --threads threads) for
   ONNX Runtime + the NA op library, ONNX Runtime on the --portable graph, PyTorch eager and torch.compile of the
   eager model (its compile, the first call per batch, timed apart), each against the floor, against eager, and
   the max abs difference of its output from eager's.
4. A per-op-type profile of the ONNX Runtime + NA op session (SessionOptions.enable_profiling; warm-up runs
   dropped): ms per image, nodes per run, share of the run, and GFLOP/s where the op's FLOPs are known (from the
   shapes ONNX Runtime recorded, so fused nodes count too).
5. The NA kernel: every distinct NeighborhoodAttention2D node shape of the model as a one-node ONNX Runtime model,
   one session per --kernels value of NATX_CPU_KERNEL (read by the op library when a session is created; a library
   that does not read it runs the same kernel in every column, and the report says so), run in turns (3 blocks of
   consecutive runs per kernel, so that a burst of another process's load hits all of them alike), with the
   fastest run's ms, GFLOP/s and speedup over the first value (the kernel's speed, as for the peak) and the p50
   beside them.
6. Warnings when the machine was not quiet (the load average at the start, runs that spread, an op in the profile
   faster than the peak), and the targets of issue 14 as measured numbers with PASS/MISS (never asserted): batch 8
   end to end within 1.3x of the floor, the NA op under 10% of the model's time, and (with --kernels scalar auto,
   the default) the auto kernel at least 4x the scalar one on every NA shape.

Prints markdown tables (progress goes to stderr); --json writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from nat_export.runtime.bench import time_callable

KERNEL_ENV = "NATX_CPU_KERNEL"
KERNEL_VALUES = ("auto", "scalar", "baseline", "avx2")
BACKENDS = ("ORT + NA op", "ORT portable", "PyTorch eager", "torch.compile")
DENSE = ("MatMul", "Gemm", "Conv")
TARGET_FLOOR_RATIO = 1.3  # issue 14: nat-tiny batch 8 end to end within 1.3x of the floor
TARGET_NA_SHARE = 0.10  # issue 14: the NA op under 10% of the model's time
KERNEL_ROUNDS = 3  # the NA kernel comparison: blocks of runs per kernel, in turns
TARGET_KERNEL_SPEEDUP = 4.0  # issue 14: the NA kernel at least 4x the scalar kernel's GFLOP/s on every shape
BUSY_LOAD = 1.0  # 1-minute load average at the start above this: other processes share the cores
NOISY_SPREAD = 0.25  # (p90 - p10) / p50 of a backend's runs above this: the machine was busy


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value, spec: str = ".1f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def cpu_info() -> dict:
    info = {"machine": platform.machine(), "model": platform.processor() or platform.machine(), "isa": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            info["model"] = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            info["isa"] = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl") if f in flags]
            break
    return info


# ------------------------------------------------------------------ 1. matmul peak


def matmul_peak(n: int, threads: int, all_cores: bool, iterations: int) -> dict:
    """GFLOP/s of one fp32 [n, n] x [n, n] matmul per library, from its fastest of `iterations` runs."""
    from nat_export.ort import make_session

    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    # ONNX Runtime: one MatMul node whose B is a constant initializer, as the model's weights are (MLAS prepacks it).
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul_peak",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [numpy_helper.from_array(b, "b")],
    )
    sess = make_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), threads=threads)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    candidates = {
        "onnxruntime MatMul": lambda: sess.run(None, {"a": a}),
        "torch.mm": lambda: torch.mm(ta, tb),
    }
    skipped = {}
    if all_cores:
        candidates["numpy matmul"] = lambda: a @ b
    else:  # numpy's BLAS threads are fixed when it loads; only the default (all cores) compares fairly
        skipped["numpy matmul"] = "--threads below the core count (numpy's BLAS uses every core)"
    flops = 2.0 * n**3
    libs = {}
    for name, fn in candidates.items():
        times = time_callable(fn, warmup=1, iterations=iterations)
        libs[name] = {"best_ms": min(times), "p50_ms": statistics.median(times), "gflops": flops / min(times) / 1e6}
    return {"size": n, "libraries": libs, "skipped": skipped}


def best_peak(start: dict, end: dict) -> dict:
    """The peak from the measurements at the start and the end of the run: each library's best, then the best."""
    libs = {}
    for name, a in start["libraries"].items():
        b = end["libraries"][name]
        libs[name] = {"gflops_start": a["gflops"], "gflops_end": b["gflops"], "gflops": max(a["gflops"], b["gflops"])}
    best = max(libs, key=lambda k: libs[k]["gflops"])
    return {
        **start,
        "libraries": libs,
        "runs": {"start": start, "end": end},
        "best": best,
        "gflops": libs[best]["gflops"],
    }


# ------------------------------------------------------------------ 2. FLOPs from the graph


def _dims(type_proto) -> list[int] | None:
    t = type_proto.tensor_type
    if not t.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return None if any(d is None for d in dims) else dims


def batch1_shapes(proto: onnx.ModelProto) -> dict[str, list[int]]:
    """Every tensor's shape at batch 1: the graph inputs' symbolic first dim set to 1 wherever it appears
    (the exporter's value_info carries the NA outputs, which onnx cannot infer), then onnx shape inference."""
    from nat_export.export import register_schema

    register_schema()
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    g = m.graph
    batch_params = {vi.type.tensor_type.shape.dim[0].dim_param for vi in g.input if vi.type.tensor_type.shape.dim}
    batch_params.discard("")
    for vi in [*g.input, *g.output, *g.value_info]:
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in batch_params:
                d.dim_value = 1
    m = onnx.shape_inference.infer_shapes(m)
    shapes = {vi.name: _dims(vi.type) for vi in [*m.graph.input, *m.graph.value_info, *m.graph.output]}
    shapes.update({i.name: list(i.dims) for i in m.graph.initializer})
    return {k: v for k, v in shapes.items() if v is not None}


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def na_flops(qkv_shape, kernel) -> float:
    """4*B*H*W*heads*Kh*Kw*D: q.k and attn.v, a multiply and an add each, per window slot."""
    b, h, w, c3 = qkv_shape
    return 4.0 * b * h * w * (c3 // 3) * kernel[0] * kernel[1]


def node_flops(node, shapes: dict[str, list[int]]) -> float | None:
    """FLOPs of one MatMul / Gemm / Conv / NA node from its shapes; None when a shape is unknown."""
    from nat_export.onnx.contract import is_na_node

    ins = [shapes.get(i) for i in node.input]
    out = shapes.get(node.output[0])
    if is_na_node(node):
        return None if ins[0] is None else na_flops(ins[0], _attr(node, "kernel_size"))
    if out is None or any(s is None for s in ins[:2]):
        return None
    if node.op_type == "MatMul":
        return 2.0 * np.prod(out, dtype=np.float64) * ins[0][-1]
    if node.op_type == "Gemm":
        k = ins[0][0] if _attr(node, "transA", 0) else ins[0][1]
        return 2.0 * np.prod(out, dtype=np.float64) * k
    if node.op_type == "Conv":  # weight [Cout, Cin/group, kh, kw]
        return 2.0 * np.prod(out, dtype=np.float64) * np.prod(ins[1][1:], dtype=np.float64)
    return None


def model_flops(proto: onnx.ModelProto) -> dict:
    """Per-image FLOPs by op type (MatMul, Gemm, Conv, NeighborhoodAttention2D) from the graph."""
    from nat_export.onnx import OP_TYPE
    from nat_export.onnx.contract import is_na_node

    shapes = batch1_shapes(proto)
    by_op: dict[str, dict] = {}
    uncounted = []
    for node in proto.graph.node:
        if node.op_type not in DENSE and not is_na_node(node):
            continue
        f = node_flops(node, shapes)
        if f is None:
            uncounted.append(node.name or node.op_type)
            continue
        key = OP_TYPE if is_na_node(node) else node.op_type
        row = by_op.setdefault(key, {"nodes": 0, "flops": 0.0})
        row["nodes"] += 1
        row["flops"] += f
    total = sum(r["flops"] for r in by_op.values())
    return {"by_op": by_op, "total": total, "uncounted": uncounted, "shapes": shapes}


def flop_counter(model: torch.nn.Module, x: torch.Tensor) -> dict:
    """torch's own count on the eager model at batch 1 (matmuls and convolutions; the NA op has no formula)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return {"total": int(counter.get_total_flops()), "by_op": by_op}


# ------------------------------------------------------------------ 3. end to end


def _first(out) -> torch.Tensor:
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out.logits if hasattr(out, "logits") else out


def measure(name: str, batch: int, fn, ref: np.ndarray | None, args) -> dict:
    log(f"  {name}, batch {batch}: {args.warmup} warm-up + {args.iterations} runs")
    out = np.asarray(fn())
    times = time_callable(fn, warmup=args.warmup, iterations=args.iterations)
    p50 = statistics.median(times)
    return {
        "backend": name,
        "batch": batch,
        "p50_ms": p50,
        "ms_per_image": p50 / batch,
        "times_ms": times,
        "spread": float(np.percentile(times, 90) - np.percentile(times, 10)) / p50,
        "max_abs_diff_vs_eager": None if ref is None else max_abs(out, ref),
    }


# ------------------------------------------------------------------ 4. ORT profile


def ort_profile(model_path: Path, lib: Path, threads: int, feed: dict, batch: int, args, tmp: Path, na_kernels) -> dict:
    """Per-op-type time of the ORT + NA op session from its profiling trace (warm-up runs dropped)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp / f"ort_profile_b{batch}")
    so.register_custom_ops_library(str(lib))
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    warmup, runs = max(args.warmup, 1), args.iterations
    for _ in range(warmup + runs):
        sess.run(None, feed)
    trace_path = Path(sess.end_profiling())
    events = json.loads(trace_path.read_text())
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")[warmup:]
    run_us = sum(end - start for start, end in windows)
    agg: dict[str, dict] = defaultdict(lambda: {"us": 0.0, "events": 0, "flops": 0.0, "flops_known": False})
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if not any(start <= e["ts"] <= end for start, end in windows):
            continue
        a = e["args"]
        row = agg[a["op_name"]]
        row["us"] += e["dur"]
        row["events"] += 1
        f = _profile_flops(a, e["name"][: -len("_kernel_time")], na_kernels)
        if f is not None:
            row["flops"] += f
            row["flops_known"] = True
    nruns = len(windows)
    node_us = sum(r["us"] for r in agg.values())
    rows = []
    for op, r in sorted(agg.items(), key=lambda kv: -kv[1]["us"]):
        rows.append(
            {
                "op_type": op,
                "nodes_per_run": r["events"] / nruns,
                "ms_per_image": r["us"] / 1e3 / nruns / batch,
                "share": r["us"] / run_us,
                "gflops": r["flops"] / r["us"] / 1e3 if r["flops_known"] and r["us"] else None,
                "gflop_per_image": r["flops"] / 1e9 / nruns / batch if r["flops_known"] else None,
            }
        )
    return {
        "batch": batch,
        "runs": nruns,
        "gflop_per_image_seen": sum(r["flops"] for r in agg.values()) / 1e9 / nruns / batch,
        "run_ms_per_image": run_us / 1e3 / nruns / batch,
        "between_nodes_ms_per_image": (run_us - node_us) / 1e3 / nruns / batch,
        "between_nodes_share": (run_us - node_us) / run_us,
        "op_types": rows,
    }


def _profile_flops(a: dict, node_name: str, na_kernels: dict) -> float | None:
    """FLOPs of one profiled node from the shapes ONNX Runtime recorded (initializers it prepacked are absent:
    K comes from the activation input)."""
    ins = [next(iter(s.values())) for s in a.get("input_type_shape", [])]
    outs = [next(iter(s.values())) for s in a.get("output_type_shape", [])]
    op = a["op_name"]
    if not ins or not outs:
        return None
    if op == "NeighborhoodAttention2D":
        kernel = na_kernels.get(node_name)
        if kernel is None and len(ins) > 1:  # the bias is [heads, 2Kh-1, 2Kw-1]
            kernel = ((ins[1][1] + 1) // 2, (ins[1][2] + 1) // 2)
        return None if kernel is None else na_flops(ins[0], kernel)
    if op in ("MatMul", "FusedMatMul", "Gemm", "FusedGemm"):
        return 2.0 * np.prod(outs[0], dtype=np.float64) * ins[0][-1]
    if op in ("Conv", "FusedConv", "NhwcFusedConv") and len(ins) > 1 and len(ins[1]) >= 3:
        return 2.0 * np.prod(outs[0], dtype=np.float64) * np.prod(ins[1][1:], dtype=np.float64)
    return None


# ------------------------------------------------------------------ 5. the NA kernel, node by node


def na_signatures(proto: onnx.ModelProto, shapes: dict[str, list[int]]) -> list[dict]:
    """Distinct NA node shapes of the model (at batch 1), with how many nodes have each."""
    from nat_export.onnx.contract import is_na_node

    sigs: dict[tuple, dict] = {}
    for node in proto.graph.node:
        if not is_na_node(node):
            continue
        qkv = shapes.get(node.input[0])
        if qkv is None:  # unknown shape: listed as uncounted in the FLOPs
            continue
        kernel, dil = tuple(_attr(node, "kernel_size")), tuple(_attr(node, "dilation"))
        heads = _attr(node, "num_heads")
        has_rpb = len(node.input) > 1 and node.input[1] != ""
        key = (tuple(qkv[1:]), heads, kernel, dil, has_rpb, _attr(node, "scale"))
        if key not in sigs:
            sigs[key] = {"node": node, "hw": qkv[1:3], "c3": qkv[3], "heads": heads, "kernel": kernel}
            sigs[key].update(dilation=dil, rpb=has_rpb, count=0)
        sigs[key]["count"] += 1
    return list(sigs.values())


def na_one_node_model(sig: dict, batch: int) -> onnx.ModelProto:
    from nat_export.onnx import DOMAIN

    node = onnx.NodeProto()
    node.CopyFrom(sig["node"])
    node.name = "na"
    del node.input[:], node.output[:]
    node.input.append("qkv")
    inits = []
    if sig["rpb"]:
        kh, kw = sig["kernel"]
        rpb = np.random.default_rng(2).standard_normal((sig["heads"], 2 * kh - 1, 2 * kw - 1)).astype(np.float32)
        inits.append(numpy_helper.from_array(rpb, "rpb"))
        node.input.append("rpb")
    node.output.append("out")
    h, w = sig["hw"]
    graph = helper.make_graph(
        [node],
        "na_one_node",
        [helper.make_tensor_value_info("qkv", TensorProto.FLOAT, [batch, h, w, sig["c3"]])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch, h, w, sig["c3"] // 3])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)])


def kernel_rows(sigs: list[dict], lib: Path, threads: int, batches: list[int], args) -> list[dict]:
    """Each NA shape as a one-node model, once per NATX_CPU_KERNEL value (set before the session is made)."""
    from nat_export.ort import OrtError, make_session

    rows = []
    for batch in batches:
        for sig in sigs:
            model = na_one_node_model(sig, batch)
            h, w = sig["hw"]
            qkv = np.random.default_rng(3).standard_normal((batch, h, w, sig["c3"]), dtype=np.float32)
            flops = na_flops(qkv.shape, sig["kernel"])
            d = sig["c3"] // 3 // sig["heads"]
            shape = f"{h}x{w} {sig['heads']}x{d} K{sig['kernel'][0]}x{sig['kernel'][1]}"
            shape += f" d{sig['dilation'][0]}x{sig['dilation'][1]}" + ("" if sig["rpb"] else " no-rpb")
            row = {"batch": batch, "shape": shape, "nodes": sig["count"], "gflop": flops / 1e9, "kernels": {}}
            runs = {}  # kernel -> (session, output, times)
            for kernel in args.kernels:
                log(f"  NA {shape}, batch {batch}, {KERNEL_ENV}={kernel}")
                try:
                    with mock.patch.dict(os.environ, {KERNEL_ENV: kernel}):
                        sess = make_session(model, custom_op_library=lib, threads=threads)
                except OrtError as e:
                    row["kernels"][kernel] = {"error": str(e)}
                    continue
                runs[kernel] = (sess, sess.run(None, {"qkv": qkv})[0], [])
            # In turns, KERNEL_ROUNDS blocks of consecutive runs per kernel, so that a burst of another process's load
            # hits every kernel alike; each block starts with an untimed run (the other session's idle pool thread
            # may still be spinning on a core), and runs within a block follow each other as in a model.
            block = -(-args.kernel_iterations // KERNEL_ROUNDS)
            for _ in range(KERNEL_ROUNDS):
                for sess, _out, times in runs.values():
                    times += time_callable(lambda s=sess, f={"qkv": qkv}: s.run(None, f), warmup=1, iterations=block)
            # The fastest run is the kernel's speed (as for the peak: a moment of another process's load must not
            # lower it); the p50 is reported beside it.
            first = None
            for kernel, (_sess, out, times) in runs.items():
                best, p50 = min(times), statistics.median(times)
                k = {"best_ms": best, "p50_ms": p50, "gflops": flops / best / 1e6}
                if first is None:
                    first = (best, p50, out)
                else:
                    k["speedup_vs_first"] = first[0] / best
                    k["p50_speedup_vs_first"] = first[1] / p50
                    k["max_abs_diff_vs_first"] = max_abs(out, first[2])
                row["kernels"][kernel] = k
            rows.append(row)
    return rows


# ------------------------------------------------------------------ the run


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="built-in variant or config.json (default: nat-tiny)")
    ap.add_argument("--from-pretrained", metavar="ID_OR_DIR", help="HF hub id or checkpoint folder instead")
    ap.add_argument("--resolution", default="224", help="N or HxW (default 224)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default: 1 8)")
    ap.add_argument("--iterations", type=int, default=10, help="timed runs per backend and batch (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    ap.add_argument("--threads", type=int, default=None, help="threads for torch and ORT (default: all cores)")
    ap.add_argument("--ort-op-library", metavar="PATH", help="the NA op library (default: nat-export's search)")
    ap.add_argument("--skip-portable", action="store_true", help="skip ORT on the --portable graph (slow)")
    ap.add_argument("--skip-compile", action="store_true", help="skip torch.compile (slow to compile)")
    ap.add_argument("--compile-backend", default="inductor", help="torch.compile backend (default inductor)")
    ap.add_argument("--peak-size", type=int, default=2048, help="N of the N x N x N peak matmul (default 2048)")
    ap.add_argument("--peak-iterations", type=int, default=10, help="timed peak matmuls per library (default 10)")
    ap.add_argument(
        "--kernels",
        nargs="+",
        default=["scalar", "auto"],
        choices=KERNEL_VALUES,
        help=f"{KERNEL_ENV} values for the kernel section; speedups are against the first (default: scalar auto)",
    )
    ap.add_argument("--kernel-iterations", type=int, default=20, help="timed runs per NA node (default 20)")
    ap.add_argument("--json", metavar="FILE", help="write every number as JSON")
    args = ap.parse_args(argv)
    if min(args.batch) < 1 or args.iterations < 1 or args.warmup < 0 or args.kernel_iterations < 1:
        ap.error("batch sizes and iterations must be >= 1, --warmup >= 0")
    return args


def main(argv=None) -> int:
    import onnxruntime as ort

    from nat_export.export import ExportOptions, export_onnx, parse_resolution
    from nat_export.export.portable import expand_na_nodes
    from nat_export.models import load_model
    from nat_export.native import PluginNotFoundError, find_library
    from nat_export.onnx import OP_TYPE
    from nat_export.onnx.contract import is_na_node
    from nat_export.ort import make_session

    args = parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = args.threads or cores
    torch.set_num_threads(threads)
    resolution = parse_resolution(args.resolution)
    try:
        lib = find_library("ort", args.ort_op_library)
        lib_note = None
    except PluginNotFoundError as e:
        lib, lib_note = None, str(e)
    env_kernel = os.environ.get(KERNEL_ENV)
    report: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {**cpu_info(), "cores": cores, "load_average_at_start": os.getloadavg()},
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__, "onnx": onnx.__version__},
        "settings": {
            "model": args.from_pretrained or args.model or "nat-tiny",
            "resolution": list(resolution),
            "batches": args.batch,
            "threads": threads,
            "warmup": args.warmup,
            "iterations": args.iterations,
            "ort_op_library": str(lib) if lib else None,
            KERNEL_ENV: env_kernel,
        },
    }

    log(f"matmul peak: {args.peak_size}^3 fp32 on {threads} threads")
    peak_start = matmul_peak(args.peak_size, threads, threads >= cores, args.peak_iterations)

    loaded = (
        load_model(from_pretrained=args.from_pretrained)
        if args.from_pretrained
        else load_model(args.model or "nat-tiny")
    )
    model = loaded.model.eval()
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, *resolution), dtype=np.float32) for b in args.batch}

    with tempfile.TemporaryDirectory(prefix="bench_cpu_") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "model.onnx"
        log("export (custom-op graph)")
        t = time.perf_counter()
        export_onnx(loaded, path, ExportOptions(resolution=resolution))
        report["export_s"] = time.perf_counter() - t
        proto = onnx.load(str(path))

        flops = model_flops(proto)
        counter = flop_counter(model, torch.from_numpy(inputs[args.batch[0]][:1]))
        dense = sum(r["flops"] for op, r in flops["by_op"].items() if op in DENSE)
        report["flops_per_image"] = {
            "by_op": flops["by_op"],
            "total": flops["total"],
            "uncounted_nodes": flops["uncounted"],
            "flop_counter_mode": counter,
            "graph_dense": dense,
            "graph_dense_vs_flop_counter": dense / counter["total"] - 1 if counter["total"] else None,
        }

        sessions = {}
        if lib is not None:
            sessions["ORT + NA op"] = make_session(path, custom_op_library=lib, threads=threads)
        if not args.skip_portable:
            log("expand NA for --portable")
            t = time.perf_counter()
            portable = expand_na_nodes(proto)
            report["portable_expand_s"] = time.perf_counter() - t
            sessions["ORT portable"] = make_session(portable, threads=threads)
            del portable
        compiled = None
        if not args.skip_compile:
            compiled = torch.compile(model, backend=args.compile_backend, dynamic=False)
            report["compile"] = {"backend": args.compile_backend, "first_call_s": {}}

        results = []
        for batch in args.batch:
            x = inputs[batch]
            xt = torch.from_numpy(x)
            with torch.inference_mode():
                ref = _first(model(xt)).numpy()
                results.append(measure("PyTorch eager", batch, lambda xt=xt: _first(model(xt)).numpy(), None, args))
                for name, sess in sessions.items():
                    feed = {sess.get_inputs()[0].name: x}
                    results.append(measure(name, batch, lambda s=sess, f=feed: s.run(None, f)[0], ref, args))
                if compiled is not None:
                    log(f"  torch.compile ({args.compile_backend}), batch {batch}: compiling (first call)")
                    try:
                        t = time.perf_counter()
                        compiled(xt)
                        report["compile"]["first_call_s"][str(batch)] = time.perf_counter() - t
                        fn = lambda xt=xt: _first(compiled(xt)).numpy()  # noqa: E731
                        results.append(measure("torch.compile", batch, fn, ref, args))
                    except Exception as e:  # noqa: BLE001 - a backend's failure is a result, not the end of the run
                        report["compile"].setdefault("errors", {})[str(batch)] = f"{type(e).__name__}: {e}"[:500]
        eager = {r["batch"]: r["p50_ms"] for r in results if r["backend"] == "PyTorch eager"}
        for r in results:
            r["speedup_vs_eager"] = eager[r["batch"]] / r["p50_ms"]
        report["results"] = results

        profiles = {}
        kernels = None
        if lib is not None:
            na_kernels = {n.name: tuple(_attr(n, "kernel_size")) for n in proto.graph.node if is_na_node(n)}
            for batch in args.batch:
                log(f"ORT profile, batch {batch}")
                feed = {sessions["ORT + NA op"].get_inputs()[0].name: inputs[batch]}
                profiles[str(batch)] = ort_profile(path, lib, threads, feed, batch, args, tmp, na_kernels)
            log("NA kernel, node by node")
            sigs = na_signatures(proto, flops["shapes"])
            kernels = {
                "library_reads_env": KERNEL_ENV.encode() in lib.read_bytes(),
                "values": args.kernels,
                "rows": kernel_rows(sigs, lib, threads, args.batch, args),
            }
        report["ort_profile"] = profiles
        report["kernels"] = kernels

    log(f"matmul peak again: {args.peak_size}^3 fp32 on {threads} threads")
    peak = best_peak(peak_start, matmul_peak(args.peak_size, threads, threads >= cores, args.peak_iterations))
    report["matmul_peak"] = peak
    floor_ms = report["flops_per_image"]["total"] / peak["gflops"] / 1e6
    report["floor_ms_per_image"] = floor_ms
    for r in report["results"]:
        r["x_floor"] = r["ms_per_image"] / floor_ms

    report["targets"] = targets(report, OP_TYPE)
    report["warnings"] = warnings(report)
    print(render(report, lib_note))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


def targets(report: dict, op_type: str) -> list[dict]:
    """Issue 14's targets at batch 8, measured, with PASS/MISS."""
    rows = []
    e2e = next((r for r in report["results"] if r["backend"] == "ORT + NA op" and r["batch"] == 8), None)
    rows.append(
        {
            "target": f"ORT + NA op, batch 8, within {TARGET_FLOOR_RATIO}x of the floor",
            "measured": None if e2e is None else e2e["x_floor"],
            "unit": "x floor",
            "status": "not measured" if e2e is None else ("PASS" if e2e["x_floor"] <= TARGET_FLOOR_RATIO else "MISS"),
        }
    )
    prof = report["ort_profile"].get("8")
    share = None
    if prof is not None:
        share = sum(r["share"] for r in prof["op_types"] if r["op_type"] == op_type)
    rows.append(
        {
            "target": f"NA op under {TARGET_NA_SHARE:.0%} of the model's time (ORT profile, batch 8)",
            "measured": share,
            "unit": "share",
            "status": "not measured" if share is None else ("PASS" if share < TARGET_NA_SHARE else "MISS"),
        }
    )
    k = report.get("kernels")
    vals = [] if not k else k["values"]
    if "scalar" in vals[:1] and "auto" in vals[1:] and k["library_reads_env"]:
        ratios = [r["kernels"]["auto"].get("speedup_vs_first") for r in k["rows"]]
        low = None if None in ratios else min(ratios)
        rows.append(
            {
                "target": f"NA kernel (auto) at least {TARGET_KERNEL_SPEEDUP:g}x the scalar kernel on every NA shape "
                "and batch (one-node models)",
                "measured": low,
                "unit": "x scalar, lowest",
                "status": "not measured" if low is None else ("PASS" if low >= TARGET_KERNEL_SPEEDUP else "MISS"),
            }
        )
    return rows


def warnings(report: dict) -> list[str]:
    """Signs that the machine was not quiet: the numbers of such a run are not worth recording."""
    out = []
    load = report["machine"]["load_average_at_start"][0]
    if load > BUSY_LOAD:
        out.append(f"the 1-minute load average was {load:.1f} when the run started: other processes were running")
    for r in report["results"]:
        if r["spread"] > NOISY_SPREAD:
            out.append(f"{r['backend']} at batch {r['batch']}: its runs spread {r['spread']:.0%} of the p50 (p10..p90)")
    peak = report["matmul_peak"]["gflops"]
    for batch, prof in report["ort_profile"].items():
        for r in prof["op_types"]:
            if r["gflops"] is not None and r["gflops"] > peak:
                out.append(
                    f"{r['op_type']} ran at {r['gflops']:.1f} GFLOP/s in the batch-{batch} profile, above the "
                    f"measured peak ({peak:.1f}): the peak measurement was disturbed, so the floor is too high"
                )
    return out


def render(rep: dict, lib_note: str | None) -> str:
    s, m, peak, fl = rep["settings"], rep["machine"], rep["matmul_peak"], rep["flops_per_image"]
    out = [
        f"# bench_cpu: {s['model']} {s['resolution'][0]}x{s['resolution'][1]} fp32, {rep['date']}",
        "",
        f"{m['model']} ({m['machine']}, {m['cores']} cores, {', '.join(m['isa']) or 'no AVX2'}), "
        f"{s['threads']} threads for torch and ORT; torch {rep['versions']['torch']}, "
        f"ONNX Runtime {rep['versions']['onnxruntime']}; NA op library: {s['ort_op_library'] or 'not built'}; "
        f"{KERNEL_ENV}={s[KERNEL_ENV] or '(unset: auto)'} for the model sessions; load average at the start "
        f"{', '.join(f'{v:.1f}' for v in m['load_average_at_start'])}.",
        "",
        f"## fp32 matmul peak ({peak['size']}x{peak['size']}x{peak['size']}, fastest run)",
        "",
        md_table(
            ["library", "GFLOP/s at the start", "at the end", "best"],
            [[k, fmt(v["gflops_start"]), fmt(v["gflops_end"]), fmt(v["gflops"])] for k, v in peak["libraries"].items()]
            + [[k, f"skipped: {why}", "", ""] for k, why in peak["skipped"].items()],
        ),
        "",
        f"Peak: **{peak['gflops']:.1f} GFLOP/s** ({peak['best']}).",
        "",
        "## Model FLOPs per image (ONNX graph after shape inference)",
        "",
        md_table(
            ["op type", "nodes", "GFLOP", "share"],
            [
                [op, r["nodes"], f"{r['flops'] / 1e9:.3f}", f"{r['flops'] / fl['total']:.1%}"]
                for op, r in sorted(fl["by_op"].items(), key=lambda kv: -kv[1]["flops"])
            ]
            + [["total", sum(r["nodes"] for r in fl["by_op"].values()), f"**{fl['total'] / 1e9:.3f}**", ""]],
        ),
        "",
        f"Cross-check: FlopCounterMode on the eager model counts {fl['flop_counter_mode']['total'] / 1e9:.3f} GFLOP "
        f"({', '.join(f'{k} {v / 1e9:.3f}' for k, v in fl['flop_counter_mode']['by_op'].items())}; no formula "
        f"for the NA op) against {fl['graph_dense'] / 1e9:.3f} GFLOP of MatMul/Gemm/Conv in the graph "
        f"({fmt(fl['graph_dense_vs_flop_counter'], '+.2%')})."
        + (f" Uncounted (unknown shapes): {', '.join(fl['uncounted_nodes'])}." if fl["uncounted_nodes"] else ""),
        "",
        f"Floor = {fl['total'] / 1e9:.3f} GFLOP / {peak['gflops']:.1f} GFLOP/s = "
        f"**{rep['floor_ms_per_image']:.1f} ms per image**.",
        "",
        f"## End to end (p50 of {s['iterations']} runs after {s['warmup']} warm-up, same inputs)",
        "",
    ]
    rows = []
    for r in sorted(rep["results"], key=lambda r: (r["batch"], BACKENDS.index(r["backend"]))):
        name = r["backend"] + (f" ({rep['compile']['backend']})" if r["backend"] == "torch.compile" else "")
        rows.append(
            [
                name,
                r["batch"],
                fmt(r["p50_ms"]),
                fmt(r["ms_per_image"]),
                fmt(r["x_floor"], ".2f", "x"),
                fmt(r["speedup_vs_eager"], ".2f", "x"),
                fmt(r["max_abs_diff_vs_eager"], ".1e"),
            ]
        )
    heads = ["backend", "batch", "p50 ms", "ms / image", "vs floor", "speedup vs eager", "max abs diff vs eager"]
    out += [md_table(heads, rows), ""]
    notes = [f"Export {rep['export_s']:.1f} s"]
    if "portable_expand_s" in rep:
        notes[-1] += f" (+{rep['portable_expand_s']:.1f} s to expand NA for the portable graph)"
    if "compile" in rep:
        firsts = ", ".join(f"batch {b}: {v:.1f} s" for b, v in rep["compile"]["first_call_s"].items())
        notes.append(
            f"torch.compile ({rep['compile']['backend']}) first call (compile + one run), not in the timings: "
            f"{firsts or 'none'} (inductor's on-disk cache makes a rerun's compile faster); the NA op is an opaque "
            "custom op to it (it runs the eager reference)"
        )
        notes += [f"torch.compile failed at batch {b}: {e}" for b, e in rep["compile"].get("errors", {}).items()]
    if lib_note:
        notes.append(f"no ORT + NA op rows, profile or kernel section: {lib_note}")
    out += [f"- {n}." for n in notes] + [""]

    for batch, p in rep["ort_profile"].items():
        out += [
            f"## ORT + NA op profile, batch {batch} (per op type, {p['runs']} profiled runs)",
            "",
            md_table(
                ["op type", "nodes", "ms / image", "share", "GFLOP/s"],
                [
                    [r["op_type"], f"{r['nodes_per_run']:g}", fmt(r["ms_per_image"], ".2f"), fmt(r["share"], ".1%")]
                    + [fmt(r["gflops"])]
                    for r in p["op_types"]
                ]
                + [
                    [
                        "(between nodes)",
                        "",
                        fmt(p["between_nodes_ms_per_image"], ".2f"),
                        fmt(p["between_nodes_share"], ".1%"),
                        "",
                    ]
                ]
                + [["model run", "", f"**{p['run_ms_per_image']:.2f}**", "100%", ""]],
            ),
            "",
            f"- FLOPs of the profiled nodes (from the shapes ONNX Runtime recorded): "
            f"{p['gflop_per_image_seen']:.3f} GFLOP per image; the graph's count: {fl['total'] / 1e9:.3f}.",
            "",
        ]

    k = rep["kernels"]
    if k:
        vals = k["values"]
        out += [
            f"## NA kernel: each NA node shape as a one-node ORT model ({KERNEL_ENV}; fastest run, p50 in brackets)",
            "",
        ]
        heads = ["batch", "shape (HxW heads x D K dil)", "nodes"]
        for i, v in enumerate(vals):
            heads += [f"{v} ms", f"{v} GFLOP/s"] + ([f"{v} vs {vals[0]}", "max abs diff"] if i else [])
        rows = []
        for r in k["rows"]:
            row = [r["batch"], r["shape"], r["nodes"]]
            for i, v in enumerate(vals):
                kv = r["kernels"][v]
                if "error" in kv:
                    row += ["refused", kv["error"][:80]] + (["", ""] if i else [])
                    continue
                row += [f"{kv['best_ms']:.3f} ({kv['p50_ms']:.3f})", fmt(kv["gflops"])]
                if i:
                    ratio = f"{kv['speedup_vs_first']:.2f}x ({kv['p50_speedup_vs_first']:.2f}x)"
                    row += [ratio, fmt(kv.get("max_abs_diff_vs_first"), ".1e")]
            rows.append(row)
        out += [md_table(heads, rows), ""]
        if not k["library_reads_env"]:
            out += [
                f"- This op library does not read {KERNEL_ENV} (built before the kernel switch): every column ran "
                "the same kernel.",
                "",
            ]

    if rep["warnings"]:
        out += ["## Warnings: the machine was not quiet; rerun before recording these numbers", ""]
        out += [f"- {w}." for w in rep["warnings"]] + [""]

    out += ["## Targets (issue 14)", ""]
    out.append(
        md_table(
            ["target", "measured", "status"],
            [
                [
                    t["target"],
                    "n/a"
                    if t["measured"] is None
                    else (f"{t['measured']:.1%}" if t["unit"] == "share" else f"{t['measured']:.2f}x ({t['unit']})"),
                    t["status"],
                ]
                for t in rep["targets"]
            ],
        )
    )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
