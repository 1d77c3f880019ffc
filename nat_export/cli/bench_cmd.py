"""`nat-export bench`: latency percentiles and throughput per batch size."""
from __future__ import annotations

import json
import platform
from pathlib import Path

from .errors import UsageError
from .model_args import add_model_args, has_model_args, load_from_args, quiet_torch_warnings
from .trt_cmd import runtime_errors_as_usage


def add_parser(sub):
    p = sub.add_parser(
        "bench",
        help="latency (p50/p90/p99) and throughput of an engine, an ONNX file or the PyTorch model",
        description=(
            "Time a TensorRT engine (TrtEngine with CUDA graphs; input resident on the GPU unless --host-io), an "
            "ONNX file (ONNX Runtime on the CPU, or its TensorRT EP with --provider tensorrt) or the PyTorch "
            "reference model (--torch, on CUDA when available) on random inputs, per batch size."
        ),
        epilog=(
            "examples:\n"
            "  nat-export bench nat_tiny.engine --batch 1,8,32\n"
            "  nat-export bench nat_tiny.engine --batch 128 --iterations 200 --json bench.json\n"
            "  nat-export bench nat_tiny.onnx --batch 1,8 --iterations 20        # ONNX Runtime, CPU\n"
            "  nat-export bench nat_tiny.onnx --provider tensorrt --fp16 --cache-dir trt_cache\n"
            "  nat-export bench --torch --model nat-tiny --device cuda --dtype fp16 --batch 1,128"
        ),
    )
    p.add_argument("target", nargs="?", metavar="ENGINE|ONNX", help="engine or .onnx (or use --torch)")
    p.add_argument("--torch", action="store_true", help="time the PyTorch reference model instead")
    p.add_argument("--batch", default="1,8,32", metavar="B[,B...]", help="batch sizes (default: 1,8,32)")
    p.add_argument("--iterations", type=int, default=100, metavar="N", help="timed iterations per batch size (default: 100)")
    p.add_argument("--warmup", type=int, default=10, metavar="N", help="untimed iterations first (default: 10)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--force", action="store_true", help="overwrite the --json file")
    p.add_argument("--plugin", metavar="LIB", help="plugin library (TensorRT plugin / ORT custom-op library)")
    g = p.add_argument_group("engines")
    g.add_argument("--host-io", action="store_true", help="include host<->device copies in the engine's time")
    g.add_argument("--no-cuda-graphs", action="store_true", help="launch the engine without CUDA graphs")
    g = p.add_argument_group("ONNX files")
    g.add_argument("--provider", choices=("cpu", "tensorrt"), default="cpu", help="ONNX Runtime provider (default: cpu)")
    g.add_argument("--fp16", action="store_true", help="TensorRT EP: enable fp16 (TensorRT 10)")
    g.add_argument("--cache-dir", metavar="DIR", help="TensorRT EP: engine and timing cache folder")
    g.add_argument("--threads", type=int, metavar="N", help="ONNX Runtime intra-op threads")
    add_model_args(p)
    g = p.add_argument_group("--torch")
    g.add_argument("--resolution", default="224", metavar="N|HxW", help="input resolution (default: 224)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda when available")
    g.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="model dtype (default: fp32)")
    p.set_defaults(run=run)


def _onnx_shape_for_batch(path: Path):
    import onnx

    from ..onnx_file import input_shapes, read_metadata

    model = onnx.load(str(path), load_external_data=False)
    meta = read_metadata(model)
    shape = list(next(iter(input_shapes(model).values())))
    res = meta.get("resolution")
    dims = []
    for ax, d in enumerate(shape[1:], start=1):
        if isinstance(d, int):
            dims.append(d)
        elif res and len(shape) == 4 and ax in (2, 3):
            dims.append(int(res[ax - 2]))
        else:
            raise UsageError(f"input axis {ax} of {path} is dynamic and the file records no resolution")
    fixed_batch = shape[0] if isinstance(shape[0], int) else None
    return (lambda b: (b, *dims)), fixed_batch


def _setup(args, batches, console):
    """(runner factory, sync, backend description)."""
    from ..runtime import bench

    if args.torch:
        import torch

        from ..export import parse_resolution

        quiet_torch_warnings()
        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        if device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA GPU is usable by this PyTorch; use --device cpu")
        loaded = load_from_args(args, console=console)
        make = bench.torch_runner(loaded.model, parse_resolution(args.resolution), device, args.dtype)
        sync = bench.cuda_sync() if device == "cuda" else None
        return make, sync, f"PyTorch {torch.__version__} {device} {args.dtype} ({loaded.name})"
    path = Path(args.target)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    if path.suffix.lower() == ".onnx":
        from ..runtime.ort_trt_ep import onnx_session

        if args.fp16 and args.provider != "tensorrt":
            raise UsageError("--fp16 applies to --provider tensorrt only; for ONNX Runtime on the CPU export in fp16")
        shape_for, fixed = _onnx_shape_for_batch(path)
        bad = [b for b in batches if fixed is not None and b != fixed]
        if bad:
            raise UsageError(f"{path} has a fixed batch of {fixed}; use --batch {fixed}")
        sess = onnx_session(path, provider=args.provider, plugin_lib=args.plugin, fp16=args.fp16,
                            engine_cache_dir=args.cache_dir, threads=args.threads)
        import onnxruntime as ort

        return bench.session_runner_factory(sess, shape_for), None, f"ONNX Runtime {ort.__version__} {sess.get_providers()[0]}"
    from ..runtime.trt_engine import TrtEngine

    eng = TrtEngine(path, plugin_lib=args.plugin, cuda_graphs=not args.no_cuda_graphs)
    outside = [b for b in batches if not eng.min_batch <= b <= eng.max_batch]
    if outside:
        raise UsageError(
            f"batch {outside[0]} is outside the engine's profile ({eng.min_batch}..{eng.max_batch}); "
            f"rebuild it with --min 1 --max {max(batches)}, or bench --batch within the profile"
        )
    sync = None if args.host_io else bench.cuda_sync(eng.device)
    io = "host I/O" if args.host_io else "device-resident input"
    return bench.engine_runner(eng, host_io=args.host_io), sync, (
        f"TensorRT {eng.tensorrt_version} {eng.precision or ''} ({io}, CUDA graphs {'off' if args.no_cuda_graphs else 'on'})"
    )


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..runtime import bench
    from ..onnx_file import write_atomic

    if bool(args.target) == bool(args.torch):
        raise UsageError("give ENGINE|ONNX or --torch (one of them)")
    if has_model_args(args) and not args.torch:
        raise UsageError("--model/--from-pretrained/--weights go with --torch; an engine or ONNX file holds its model")
    try:
        batches = bench.parse_batches(args.batch)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.iterations < 1 or args.warmup < 0:
        raise UsageError("--iterations must be >= 1 and --warmup >= 0")
    if args.json and Path(args.json).exists() and not args.force:
        raise FileExistsError(f"{args.json} exists; pass --force to overwrite it")
    console = Console(stderr=True)
    with runtime_errors_as_usage():
        make, sync, backend = _setup(args, batches, console)
        console.print(f"benchmarking {backend}: batches {batches}, {args.warmup} warm-up + {args.iterations} timed iterations",
                      highlight=False, markup=False)
        try:
            results = bench.bench_batches(
                make, batches, iterations=args.iterations, warmup=args.warmup, sync=sync, backend=backend,
                on_result=lambda r: console.print(
                    f"  batch {r.batch}: p50 {r.p50:.3f} ms, {r.throughput:.1f} items/s", highlight=False, markup=False
                ),
            )
        except ValueError as e:
            raise UsageError(str(e)) from None
    t = Table(title=backend)
    for col in ("batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "items/s"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(str(r.batch), f"{r.p50:.3f}", f"{r.p90:.3f}", f"{r.p99:.3f}", f"{r.mean:.3f}", f"{r.throughput:.1f}")
    Console().print(t)
    if args.json:
        doc = {
            "target": "torch" if args.torch else str(args.target),
            "backend": backend,
            "host": platform.node(),
            "warmup": args.warmup,
            "results": [r.to_json() for r in results],
        }
        write_atomic(Path(args.json), (json.dumps(doc, indent=1) + "\n").encode(), force=True)
        console.print(f"wrote {args.json}", highlight=False, markup=False)
    return 0
