#!/usr/bin/env python3
"""CPU benchmark of a DiNAT-Large-sized backbone (random weights; kernel 11 and the OneFormer DiNAT-L dilations):
export time and peak memory of one dynamic-resolution graph, then, at each resolution, ONNX Runtime with the NA
op library vs the portable graph vs PyTorch eager, all measured in this run on the same inputs.

    python scripts/bench_backbone.py [--resolutions 640x640,800x1216] [--iterations 3] [--json out.json]

Prints one line per backend and size; the ratios are against PyTorch eager measured in this run (the eager row of
each size must succeed). Export and every measurement run in a process of their own, so that each peak resident
memory (``ru_maxrss``) is its own and a backend killed for memory is recorded instead of ending the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import numpy as np
import torch

#: shi-labs/oneformer_ade20k_dinat_large's backbone_config (HF transformers 4.40.2), without its checkpoint
ONEFORMER_DINAT_L = {
    "kind": "dinat",
    "embed_dim": 192,
    "depths": (3, 4, 18, 5),
    "num_heads": (6, 12, 24, 48),
    "kernel_size": 11,
    "dilations": (
        (1, 20, 1),
        (1, 5, 1, 10),
        (1, 2, 1, 3, 1, 4, 1, 5, 1, 2, 1, 3, 1, 4, 1, 5, 1, 5),
        (1, 2, 1, 2, 1),
    ),
    "mlp_ratio": 2.0,
    "num_classes": 0,
    "out_features": ("stage1", "stage2", "stage3", "stage4"),
}


def _config():
    from nat_export.models import NatConfig

    return NatConfig(**ONEFORMER_DINAT_L)


def _in_child(fn, *args):
    """``fn(*args)`` in a fresh process: (its result or None, its peak RSS in GiB, its exit code). A process
    killed for memory (exit -9) is a result too: that backend does not fit this machine at that size."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_child, args=(queue, fn, args))
    proc.start()
    result = None
    while result is None and (proc.is_alive() or not queue.empty()):
        try:  # read before join: a child's large result would otherwise block its exit
            result = queue.get(timeout=2)
        except Empty:
            pass
    proc.join()
    return result, result["peak_rss_gib"] if result else None, proc.exitcode


def _run_child(queue, fn, args):
    out = fn(*args)
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    queue.put(out)


def _export(path: str, portable_path: str, resolution: tuple[int, int]) -> dict:
    """Export the custom-op graph (timed), then expand it for the portable form (timed)."""
    import onnx

    from nat_export.export import ExportOptions, export_onnx
    from nat_export.export.portable import expand_na_nodes
    from nat_export.models import load_model

    loaded = load_model(_config())
    t = time.perf_counter()
    export_onnx(loaded, path, ExportOptions(dynamic_resolution=True, resolution=resolution), force=True)
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    onnx.save(expand_na_nodes(onnx.load(path)), portable_path)
    return {"export_s": seconds, "portable_expand_s": time.perf_counter() - t}


def _time(backend: str, path: str | None, hw, timing: dict, threads, lib) -> dict:
    """One backend at one size: p50 ms and its largest difference from PyTorch eager (same seeded weights)."""
    from nat_export.models import load_model
    from nat_export.ort import make_session
    from nat_export.runtime.bench import time_callable

    if threads:
        torch.set_num_threads(threads)
    x = np.random.default_rng(0).standard_normal((1, 3, *hw)).astype(np.float32)
    if backend == "pytorch eager":
        model = load_model(_config()).model
        xt = torch.from_numpy(x)
        with torch.inference_mode():
            outs = [m.numpy() for m in model(xt)]
            times = time_callable(lambda: model(xt), **timing)
    else:
        session = make_session(path, custom_op_library=lib, threads=threads)
        outs = session.run(None, {"pixel_values": x})
        times = time_callable(lambda: session.run(None, {"pixel_values": x}), **timing)
    return {"p50_ms": statistics.median(times), "outputs": outs}


def main() -> int:
    from nat_export.export import parse_resolution
    from nat_export.models import load_model
    from nat_export.native import PluginNotFoundError, find_library

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolutions", default="640x640,800x1216")
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=0, help="untimed runs after the one that gives the outputs")
    ap.add_argument("--threads", type=int, default=None, help="threads for torch and ORT (default: all cores)")
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    sizes = [parse_resolution(r) for r in args.resolutions.split(",")]
    timing = {"iterations": args.iterations, "warmup": args.warmup}
    try:
        lib = str(find_library("ort"))
    except PluginNotFoundError:
        print("the ORT NA op library is not built: run `nat-export build-plugins` first", file=sys.stderr)
        return 1
    params = sum(p.numel() for p in load_model(_config()).model.parameters())
    results = {
        "model": "DiNAT-L backbone, OneFormer config (kernel 11), random weights",
        "params_M": round(params / 1e6, 1),
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads or torch.get_num_threads(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "torch": torch.__version__,
        "rows": [],
    }
    print(f"{results['model']}: {results['params_M']} M parameters, {results['threads']} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path, portable = str(Path(tmp) / "backbone.onnx"), str(Path(tmp) / "portable.onnx")
        out, peak, code = _in_child(_export, path, portable, sizes[0])
        if out is None:
            print(f"export failed (exit {code})", file=sys.stderr)
            return 1
        results.update(export_s=out["export_s"], portable_expand_s=out["portable_expand_s"], export_peak_rss_gib=peak)
        print(
            f"export {out['export_s']:.1f} s (+{out['portable_expand_s']:.1f} s portable expansion), "
            f"peak RSS {peak:.2f} GiB",
            flush=True,
        )
        backends = {"pytorch eager": None, "ort + NA op": path, "ort portable": portable}
        for hw in sizes:
            ref, base = None, None
            for name, model_path in backends.items():
                got, peak, code = _in_child(_time, name, model_path, hw, timing, args.threads, lib)
                row = {"resolution": f"{hw[0]}x{hw[1]}", "backend": name, "peak_rss_gib": peak}
                if got is None:
                    row["failed"] = "killed: out of memory" if code == -9 else f"exit {code}"
                    print(f"{row['resolution']:>9} {name:<14} {row['failed']}", flush=True)
                    results["rows"].append(row)
                    continue
                if ref is None:
                    ref, base = got["outputs"], got["p50_ms"]
                row["p50_ms"] = got["p50_ms"]
                row["vs_eager"] = base / got["p50_ms"]
                row["max_abs_vs_eager"] = max(float(np.abs(a - b).max()) for a, b in zip(got["outputs"], ref))
                results["rows"].append(row)
                print(
                    f"{row['resolution']:>9} {name:<14} p50 {row['p50_ms']:>9.1f} ms  {row['vs_eager']:5.2f}x eager  "
                    f"max|diff| {row['max_abs_vs_eager']:.1e}  peak RSS {peak:.2f} GiB",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
