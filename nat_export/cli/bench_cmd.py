"""`nat-export bench`: latency percentiles and throughput per batch size."""

from __future__ import annotations

import argparse
import platform

from .args import (
    DeprecatedAlias,
    add_backbone_args,
    add_force_arg,
    add_json_arg,
    add_library_args,
    add_model_args,
    add_ort_args,
    add_precision_args,
    add_verbose_arg,
    check_json_target,
    has_model_args,
    load_from_args,
    print_load_notes,
    quiet_torch_warnings,
    write_json,
)
from .errors import UsageError
from .memory_args import add_memory_arg, check_run_memory


def add_parser(sub):
    p = sub.add_parser(
        "bench",
        help="latency (p50/p90/p99) and throughput of an engine, an ONNX file or the PyTorch model",
        description=(
            "Time a TensorRT engine (with CUDA graphs; input resident on the GPU unless --host-io), an ONNX file "
            "(ONNX Runtime on the CPU, or its TensorRT EP with --provider tensorrt) or the PyTorch reference model "
            "(--torch, on CUDA when available) on random inputs, per batch size."
        ),
        epilog=(
            "examples:\n"
            "  nat-export bench nat_tiny.engine --batch-sizes 1,8,32\n"
            "  nat-export bench nat_tiny.engine --batch-sizes 128 --iterations 200 --json bench.json\n"
            "  nat-export bench nat_tiny.onnx --batch-sizes 1,8 --iterations 20        # ONNX Runtime, CPU\n"
            "  nat-export bench nat_tiny.onnx --provider tensorrt --fp16 --cache-dir trt_cache\n"
            "  nat-export bench --torch --model nat-tiny --device cuda --fp16 --batch-sizes 1,128\n"
            "  nat-export bench backbone.engine --batch-sizes 1 --resolution 640 --resolution 800x1216"
        ),
    )
    p.add_argument("target", nargs="?", metavar="ENGINE|ONNX", help="engine or .onnx (or use --torch)")
    p.add_argument("--torch", action="store_true", help="time the PyTorch reference model instead")
    p.add_argument("--batch-sizes", metavar="B[,B...]", help="batch sizes (default: 1,8,32, or the file's fixed batch)")
    p.add_argument(
        "--batch",
        action=DeprecatedAlias,
        dest="batch_sizes",
        use_instead="--batch-sizes",
        spell="--batch-sizes {}",
        help=argparse.SUPPRESS,
    )
    p.add_argument(
        "--iterations", type=int, default=100, metavar="N", help="timed iterations per batch size (default: 100)"
    )
    p.add_argument("--warmup", type=int, default=10, metavar="N", help="untimed iterations first (default: 10)")
    add_json_arg(p, "the results")
    add_force_arg(p, "the --json file")
    add_verbose_arg(p)
    add_memory_arg(p)
    add_precision_args(
        p,
        "model (--torch), or the TensorRT EP's fp16 kernels (--provider tensorrt)",
        dtype_alias=True,
        bf16_help="bf16 model (--torch)",
    )
    add_library_args(p)
    g = p.add_argument_group("engines")
    g.add_argument("--host-io", action="store_true", help="include host<->device copies in the engine's time")
    g.add_argument("--no-cuda-graphs", action="store_true", help="launch the engine without CUDA graphs")
    add_ort_args(p)
    p.add_argument("--cache-dir", metavar="DIR", help="TensorRT EP: engine and timing cache folder")
    add_model_args(p)
    add_backbone_args(p)
    p.add_argument(
        "--resolution",
        action="append",
        metavar="N|HxW",
        help="input size (repeatable: each is timed; a backbone at its detection / segmentation sizes); default: "
        "the file's recorded resolution, the engine profile's opt size, or 224 with --torch",
    )
    g = p.add_argument_group("--torch")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda when available")
    p.set_defaults(run=run)


def _setup(args, console):
    """(runner, factory batch -> timed callable, sync, backend description)."""
    from ..runtime import bench
    from ..runtime.runners import TrtRunner, is_onnx, open_model

    if args.torch:
        import torch

        from ..runtime.runners import TorchRunner

        quiet_torch_warnings()
        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        if device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA GPU is usable by this PyTorch; use --device cpu")
        loaded = load_from_args(args)  # its notes are printed after the checks (run): a refused run is one line
        runner = TorchRunner(loaded.model, device=device, dtype=args.precision, resolution=(224, 224))
        runner.loaded = loaded
        sync = bench.cuda_sync() if device == "cuda" else None
        return runner, runner.timed_call, sync, f"{runner.backend} ({loaded.name})"
    onnx = is_onnx(args.target)
    if not onnx and args.precision != "fp32":
        raise UsageError(
            f"--{args.precision} does not apply to an engine: its precision is fixed when it is built; "
            f"leave it out, or build the engine with `nat-export trt MODEL.onnx --{args.precision}`"
        )
    if onnx and args.precision != "fp32" and not (args.provider == "tensorrt" and args.precision == "fp16"):
        raise UsageError(
            f"--{args.precision} for an .onnx file applies to --provider tensorrt --fp16 only; "
            "for ONNX Runtime on the CPU export the model in fp16 (nat-export onnx --fp16)"
        )
    runner = open_model(
        args.target,
        provider=args.provider,
        plugin=args.plugin,
        ort_op_library=args.ort_op_library,
        fp16=args.precision == "fp16",
        cache_dir=args.cache_dir,
        threads=args.threads,
        cuda_graphs=not args.no_cuda_graphs,
        verbose=args.verbose,
    )
    if isinstance(runner, TrtRunner):
        eng = runner.engine

        io = "host I/O" if args.host_io else "device-resident input"
        desc = f"{runner.backend} ({io}, CUDA graphs {'off' if args.no_cuda_graphs else 'on'})"
        sync = None if args.host_io else bench.cuda_sync(eng.device)
        return runner, (runner.timed_call if args.host_io else runner.device_call), sync, desc
    return runner, runner.timed_call, None, runner.backend


def _resolutions(args) -> list[tuple[int, int] | None]:
    """The sizes to time: each --resolution, else [None] (the target's own size)."""
    from ..export import parse_resolution

    out = []
    for text in args.resolution or []:
        h, w = parse_resolution(text)
        if min(h, w) < 32:
            raise UsageError(f"--resolution {h}x{w} is too small (NAT/DiNAT downsample by 32); use at least 32x32")
        out.append((h, w))
    return out or [None]


def _check_flags_apply(args) -> None:
    """Flags of one kind of target are refused for the others, rather than silently ignored."""
    from ..runtime.runners import is_onnx

    if args.torch:
        wrong = [f for f, on in (("--host-io", args.host_io), ("--no-cuda-graphs", args.no_cuda_graphs)) if on]
        wrong += ["--cache-dir"] if args.cache_dir else []
        wrong += ["--provider tensorrt"] if args.provider != "cpu" else []
        if wrong:
            raise UsageError(f"{', '.join(wrong)} do not apply to --torch; leave them out")
        return
    wrong = [f for f, on in (("--device", args.device != "auto"),) if on]
    if is_onnx(args.target):
        wrong += [f for f, on in (("--host-io", args.host_io), ("--no-cuda-graphs", args.no_cuda_graphs)) if on]
        if args.cache_dir and args.provider != "tensorrt":
            wrong.append("--cache-dir (TensorRT EP only)")
    else:
        wrong += [f for f, on in (("--cache-dir", args.cache_dir), ("--provider", args.provider != "cpu")) if on]
    if wrong:
        kind = "an .onnx file" if is_onnx(args.target) else "an engine"
        raise UsageError(f"{', '.join(wrong)} do not apply to {kind}; leave them out (see `nat-export bench --help`)")


def _check_batch(runner, batch: int, resolution) -> None:
    """Every batch size and resolution is checked before the first is timed."""
    runner.shape_for_batch(batch, resolution)


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..runtime import bench

    if bool(args.target) == bool(args.torch):
        raise UsageError("give ENGINE|ONNX or --torch (one of them); e.g. nat-export bench model.onnx")
    if has_model_args(args) and not args.torch:
        raise UsageError("--model/--from-pretrained/--weights go with --torch; an engine or ONNX file holds its model")
    if (args.backbone or args.out_features) and not args.torch:
        raise UsageError("--backbone/--out-features go with --torch; an engine or ONNX file holds its outputs")
    try:
        batches = bench.parse_batches(args.batch_sizes or "1,8,32")
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.iterations < 1 or args.warmup < 0:
        raise UsageError("--iterations must be >= 1 and --warmup >= 0; e.g. --iterations 100 --warmup 10")
    check_json_target(args, inputs=[args.target])
    _check_flags_apply(args)
    sizes = _resolutions(args)
    console = Console(stderr=True)
    runner, make, sync, backend = _setup(args, console)
    if args.batch_sizes is None and runner.max_batch is not None and runner.min_batch == runner.max_batch:
        batches = [runner.max_batch]  # a file with a fixed batch: time that one
    for hw in sizes:
        for b in batches:
            _check_batch(runner, b, hw)
    config = getattr(runner, "_model", None)
    config = config.config if config is not None else runner.description.config
    if runner.description.resolution or args.torch or sizes != [None]:
        largest = max((runner.shape_for_batch(1, hw)[2:] for hw in sizes), key=lambda s: s[0] * s[1])
        check_run_memory(args, config, max(batches), largest, f"benchmarking {runner.backend}")
    if args.torch:
        print_load_notes(args, runner.loaded)
    console.print(
        f"benchmarking {backend}: batches {batches}, {args.warmup} warm-up + {args.iterations} timed iterations",
        highlight=False,
        markup=False,
    )
    results = []  # (input H x W, result)
    for hw in sizes:
        size = "x".join(map(str, runner.shape_for_batch(batches[0], hw)[2:]))
        results += [
            (size, r)
            for r in bench.bench_batches(
                lambda b, hw=hw: make(b, hw),
                batches,
                iterations=args.iterations,
                warmup=args.warmup,
                sync=sync,
                backend=backend,
                on_result=lambda r, size=size: console.print(
                    f"  {size} batch {r.batch}: p50 {r.p50:.3f} ms, {r.throughput:.1f} items/s",
                    highlight=False,
                    markup=False,
                ),
            )
        ]
    t = Table(title=backend)
    for col in ("input", "batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "items/s"):
        t.add_column(col, justify="right")
    for size, r in results:
        t.add_row(
            size, str(r.batch), f"{r.p50:.3f}", f"{r.p90:.3f}", f"{r.p99:.3f}", f"{r.mean:.3f}", f"{r.throughput:.1f}"
        )
    Console(stderr=args.json == "-").print(t)
    if args.json:
        doc = {
            "target": "torch" if args.torch else str(args.target),
            "backend": backend,
            "host": platform.node(),
            "warmup": args.warmup,
            "results": [{"input": size, **r.to_json()} for size, r in results],
        }
        write_json(args, doc)
        if args.json != "-":
            console.print(f"wrote {args.json}", highlight=False, markup=False)
    return 0
