#!/usr/bin/env python3
"""CPU benchmark of a DiNAT-Large-sized backbone (random weights; kernel 11 and the OneFormer DiNAT-L dilations):
export time and peak memory of one dynamic-resolution graph, then, at each resolution, ONNX Runtime with the NA
op library vs the portable graph vs PyTorch eager, all measured in this run on the same inputs.

    python scripts/bench_backbone.py [--resolutions 640x640,800x1216] [--iterations 3] [--json out.json]

Prints a table; the ratios are against PyTorch eager measured in this run. Export runs in a child process so
that its peak resident memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


def _export(path: str, resolution: tuple[int, int]) -> float:
    """Child process: export the custom-op graph; returns seconds."""
    from nat_export.export import ExportOptions, export_onnx
    from nat_export.models import load_model

    loaded = load_model(_config())
    t = time.perf_counter()
    export_onnx(loaded, path, ExportOptions(dynamic_resolution=True, resolution=resolution), force=True)
    return time.perf_counter() - t


def _child(path, resolution, queue):
    queue.put(_export(path, resolution))


def main() -> int:
    import onnx

    from nat_export.export import parse_resolution
    from nat_export.export.portable import expand_na_nodes
    from nat_export.models import load_model
    from nat_export.native import PluginNotFoundError, find_library
    from nat_export.ort import make_session
    from nat_export.runtime.bench import time_callable

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolutions", default="640x640,800x1216")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="threads for torch and ORT (default: all cores)")
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [parse_resolution(r) for r in args.resolutions.split(",")]
    timing = {"iterations": args.iterations, "warmup": args.warmup}
    try:
        lib = find_library("ort")
    except PluginNotFoundError:
        print("the ORT NA op library is not built: run `nat-export build-plugins` first", file=sys.stderr)
        return 1
    cfg = _config()
    loaded = load_model(cfg)
    params = sum(p.numel() for p in loaded.model.parameters())
    results = {
        "model": "DiNAT-L backbone, OneFormer config (kernel 11), random weights",
        "params_M": round(params / 1e6, 1),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    print(f"{results['model']}: {results['params_M']} M parameters, {results['threads']} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "backbone.onnx")
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(path, sizes[0], queue))
        proc.start()
        results["export_s"] = queue.get()
        proc.join()
        results["export_peak_rss_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"export: {results['export_s']:.1f} s, peak RSS {results['export_peak_rss_gib']:.2f} GiB", flush=True)
        t = time.perf_counter()
        portable = expand_na_nodes(onnx.load(path))
        results["portable_expand_s"] = time.perf_counter() - t
        sessions = {
            "ort + NA op": make_session(path, custom_op_library=lib, threads=args.threads),
            "ort portable": make_session(portable, threads=args.threads),
        }
        del portable
        results["rows"] = []
        for hw in sizes:
            x = np.random.default_rng(0).standard_normal((1, 3, *hw)).astype(np.float32)
            xt = torch.from_numpy(x)
            with torch.inference_mode():
                ref = [m.numpy() for m in loaded.model(xt)]
                rows = {"pytorch eager": time_callable(lambda xt=xt: loaded.model(xt), **timing)}
            errs = {}
            for name, s in sessions.items():
                got = s.run(None, {"pixel_values": x})
                errs[name] = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
                rows[name] = time_callable(lambda s=s, x=x: s.run(None, {"pixel_values": x}), **timing)
            base = statistics.median(rows["pytorch eager"])
            for name, times in rows.items():
                p50 = statistics.median(times)
                row = {"resolution": f"{hw[0]}x{hw[1]}", "backend": name, "p50_ms": p50, "vs_eager": base / p50}
                row["max_abs_vs_torch"] = errs.get(name, 0.0)
                results["rows"].append(row)
                print(
                    f"{row['resolution']:>9} {name:<14} p50 {p50:>9.1f} ms  {base / p50:5.2f}x eager  "
                    f"max|diff| {row['max_abs_vs_torch']:.1e}",
                    flush=True,
                )
    results["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"portable expansion {results['portable_expand_s']:.1f} s; this process peak RSS {results['peak_rss_gib']:.2f} GiB"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
