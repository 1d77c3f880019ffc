#!/usr/bin/env python3
"""CPU benchmark: nat-tiny export time, and ONNX Runtime latency (portable graph, custom-op graph with the
NA op library when built) against PyTorch eager, all measured in the same run on the same inputs.

    python scripts/bench_cpu.py [--model nat-tiny] [--batch 1] [--iterations 20] [--threads N] [--json out.json]

Prints a table; the ratios are against PyTorch eager measured in this run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(fn, warmup: int, iterations: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def main() -> int:
    from nat_export.export import ExportOptions, export_onnx
    from nat_export.export.portable import expand_na_nodes
    from nat_export.models import load_model
    from nat_export.native import PluginNotFoundError, find_library
    from nat_export.ort import make_session, run_session

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="nat-tiny")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="threads for torch and ORT (default: all cores)")
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import onnx

    loaded = load_model(args.model)
    results = {
        "model": args.model,
        "batch": args.batch,
        "cpu": platform.processor() or platform.machine(),
        "cores": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    x = np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        t = time.perf_counter()
        export_onnx(loaded, path, ExportOptions())
        results["export_s"] = time.perf_counter() - t
        t = time.perf_counter()
        portable = expand_na_nodes(onnx.load(str(path)))
        results["portable_expand_s"] = time.perf_counter() - t
        sessions = {"ort portable": make_session(portable, threads=args.threads)}
        try:
            lib = find_library("ort")
        except PluginNotFoundError:
            lib = None
        if lib is not None:
            sessions["ort + NA op"] = make_session(path, custom_op_library=lib, threads=args.threads)

        xt = torch.from_numpy(x)
        with torch.no_grad():
            ref = loaded.model(xt).numpy()
            rows = {"pytorch eager": timed(lambda: loaded.model(xt), args.warmup, args.iterations)}
        for name, s in sessions.items():
            err = float(np.abs(run_session(s, x)["logits"] - ref).max())
            rows[name] = timed(lambda s=s: run_session(s, x), args.warmup, args.iterations)
            results.setdefault("max_abs_vs_torch", {})[name] = err
    base = statistics.median(rows["pytorch eager"])
    print(
        f"{args.model} batch {args.batch}, {results['cores']} threads: export {results['export_s']:.1f} s "
        f"(+{results['portable_expand_s']:.1f} s to expand NA for --portable)"
    )
    print(f"{'backend':<16}{'p50 ms':>10}{'p90 ms':>10}{'vs eager':>10}")
    results["latency_ms"] = {}
    for name, times in rows.items():
        p50, p90 = statistics.median(times), float(np.percentile(times, 90))
        results["latency_ms"][name] = {"p50": p50, "p90": p90, "speedup_vs_eager": base / p50}
        print(f"{name:<16}{p50:>10.1f}{p90:>10.1f}{base / p50:>9.2f}x")
    if lib is None:
        print("(the ORT NA op library is not built: run `nat-export build-plugins` to include it)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
