"""`nat-export trt`: ONNX -> TensorRT engine (+ JSON sidecar), with the NA plugin."""

from __future__ import annotations

from pathlib import Path

from .args import (
    add_backbone_args,
    add_force_arg,
    add_json_arg,
    add_library_args,
    add_model_args,
    add_precision_args,
    add_verbose_arg,
    check_json_target,
    check_not_an_input,
    check_writable,
    has_model_args,
    load_from_args,
    model_input_files,
    quiet_torch_warnings,
    write_json,
)
from .errors import UsageError


def add_parser(sub):
    p = sub.add_parser(
        "trt",
        help="build a TensorRT engine from an exported ONNX (needs TensorRT and a GPU)",
        description=(
            "Parse MODEL.onnx with the neighborhood-attention plugin loaded, set an optimization profile for its "
            "dynamic axes, build a TensorRT engine (with progress) and write it atomically with a JSON sidecar "
            "ENGINE.json (variant, TensorRT/plugin versions, GPU, precision, profile, I/O, preprocessing, labels). "
            "Without MODEL.onnx the model given by --model/--from-pretrained/--weights (default: nat-tiny, random "
            "weights) is exported first, next to the engine."
        ),
        epilog=(
            "examples:\n"
            "  nat-export trt nat_tiny.onnx                           # fp32, batch 1..32 (opt 8) -> nat_tiny.engine\n"
            "  nat-export trt nat_tiny.onnx --fp16 -o nat_tiny_fp16.engine --timing-cache trt.cache\n"
            "  nat-export trt nat_tiny.onnx --batch 1                 # fixed batch 1, lowest latency\n"
            "  nat-export trt nat_tiny.onnx --min 1 --opt 64 --max 128 --workspace 4096\n"
            "  nat-export trt dyn.onnx --min 1x3x224x224 --opt 8x3x384x384 --max 16x3x512x512\n"
            "  nat-export trt --from-pretrained shi-labs/dinat-tiny-in1k-224 --fp16 -o dinat_tiny.engine\n"
            "\n"
            "fp16/bf16: TensorRT 11 builds strongly typed networks only, so an fp32 ONNX is converted to an fp16-typed\n"
            "one first (LayerNorm, softmax and reductions stay fp32; inputs/outputs stay fp32); TensorRT 10 uses\n"
            "the builder flag unless --strongly-typed. See docs/tensorrt.md."
        ),
    )
    p.add_argument("onnx", nargs="?", metavar="MODEL.onnx", help="exported ONNX (default: export --model first)")
    p.add_argument(
        "-o", "--output", metavar="ENGINE", help="engine file (default: MODEL.engine, MODEL.fp16.engine for --fp16)"
    )
    add_precision_args(p, "engine")
    p.add_argument("--batch", type=int, metavar="N", help="fixed batch size (min = opt = max = N)")
    p.add_argument(
        "--min",
        dest="min_shapes",
        metavar="SHAPE",
        help="profile minimum: batch N, full NxCxHxW, or NAME:NxCxHxW[,NAME:...] (like trtexec --minShapes)",
    )
    p.add_argument("--opt", dest="opt_shapes", metavar="SHAPE", help="profile optimum (the shape TensorRT tunes for)")
    p.add_argument("--max", dest="max_shapes", metavar="SHAPE", help="profile maximum")
    p.add_argument("--timing-cache", metavar="FILE", help="read and update a TensorRT timing cache (faster rebuilds)")
    p.add_argument(
        "--workspace", type=int, metavar="MB", help="workspace memory pool limit in MiB (default: TensorRT's)"
    )
    p.add_argument(
        "--strongly-typed",
        action="store_true",
        help="TensorRT 10: build fp16/bf16 from a converted ONNX like TensorRT 11, not with the builder flag",
    )
    p.add_argument("--tf32", action="store_true", help="allow TF32 in fp32 layers (faster on Ampere+, ~1e-3 error)")
    p.add_argument(
        "--version-compatible",
        action="store_true",
        help="version-compatible engine with the plugin serialized in (runs on later TensorRT and the lean runtime)",
    )
    p.add_argument("--save-onnx", metavar="FILE", help="keep the fp16/bf16-converted ONNX that was built")
    add_force_arg(p, "the engine (and the exported ONNX, and the --json file)")
    add_json_arg(p, "the sidecar")
    add_verbose_arg(p)
    add_library_args(p, ort=False)
    add_model_args(p)
    g = p.add_argument_group("export (when MODEL.onnx is not given)")
    g.add_argument("--resolution", default="224", metavar="N|HxW", help="input resolution (default: 224)")
    g.add_argument("--portable", action="store_true", help="export NA as standard ONNX ops (no plugin needed)")
    g.add_argument(
        "--dynamic-resolution", action="store_true", help="dynamic height / width (any H, W >= 32; see `onnx --help`)"
    )
    add_backbone_args(p)
    p.set_defaults(run=run)


def default_engine_path(onnx_path: Path, precision: str) -> Path:
    suffix = ".engine" if precision == "fp32" else f".{precision}.engine"
    return onnx_path.with_name(onnx_path.stem + suffix)


def _export_first(args, engine_path: Path | None, err, console) -> Path:
    from ..export import ExportOptions, export_onnx, parse_resolution

    quiet_torch_warnings()
    loaded = load_from_args(args, console=console)
    name = Path(str(loaded.name)).name.replace("/", "_") or "model"
    onnx_path = engine_path.with_suffix(".onnx") if engine_path else Path(f"{name}.onnx")
    err(f"exporting {loaded.name} -> {onnx_path}")
    # exported in the engine's precision straight from PyTorch (docs/design.md, "Precision"): no ONNX-level conversion
    opts = ExportOptions(
        resolution=parse_resolution(args.resolution),
        portable=args.portable,
        dtype=args.precision,
        dynamic_resolution=args.dynamic_resolution,
    )
    res = export_onnx(loaded, onnx_path, opts, force=args.force)
    err(f"exported {res.path} ({res.na_nodes} NA nodes, {res.seconds:.1f}s)")
    return res.path


def run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..tensorrt import BuildOptions, build_engine

    console = Console(stderr=True)

    def err(msg: str) -> None:
        console.print(msg, highlight=False, markup=False)

    if args.onnx is not None and has_model_args(args):
        raise UsageError(
            "give either MODEL.onnx or --model/--from-pretrained/--weights (to export first), not both; drop one"
        )
    export_only = [
        f
        for f, on in (
            ("--backbone", args.backbone),
            ("--out-features", args.out_features),
            ("--dynamic-resolution", args.dynamic_resolution),
        )
        if on
    ]
    if args.onnx is not None and export_only:
        raise UsageError(
            f"{', '.join(export_only)} shape the export, and MODEL.onnx is already exported; drop them, or export "
            "with `nat-export onnx` using them"
        )
    engine = Path(args.output) if args.output else None
    if engine is not None and engine.is_dir():
        raise UsageError(f"-o {engine} is a folder; give the engine a file name, e.g. {engine / 'model.engine'}")
    if engine is not None:
        check_not_an_input(engine, [args.onnx, *model_input_files(args)], "-o")
        check_writable(engine, "the engine")
    check_json_target(args, inputs=[args.onnx, args.output])
    if args.onnx is None:
        from ..tensorrt.env import import_tensorrt, require_gpu

        import_tensorrt()  # fail before a long export when the build cannot run anyway
        require_gpu("building a TensorRT engine")
        if engine is not None and engine.exists() and not args.force:
            raise FileExistsError(f"{engine} exists; pass --force to overwrite it")
        onnx_path = _export_first(args, engine, err, console)
    else:
        onnx_path = Path(args.onnx)
    engine = engine or default_engine_path(onnx_path, args.precision)
    opts = BuildOptions(
        precision=args.precision,
        batch=args.batch,
        min_shapes=args.min_shapes,
        opt_shapes=args.opt_shapes,
        max_shapes=args.max_shapes,
        workspace_mb=args.workspace,
        timing_cache=args.timing_cache,
        plugin=args.plugin,
        strongly_typed=args.strongly_typed,
        tf32=args.tf32,
        version_compatible=args.version_compatible,
        save_onnx=args.save_onnx,
        verbose=args.verbose,
    )
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    result = build_engine(onnx_path, engine, opts, force=args.force, progress=progress, log=err)
    info = result.info
    prof = "; ".join(
        f"{n} min {'x'.join(map(str, s['min']))} opt {'x'.join(map(str, s['opt']))} max {'x'.join(map(str, s['max']))}"
        for p in info["profiles"]
        for n, s in p.items()
    )
    err(
        f"built {result.engine} in {result.seconds:.1f}s: {info['precision']} ({info['precision_mode']}), "
        f"TensorRT {info['tensorrt_version']}, {prof}"
    )
    if info.get("profile_defaults"):
        err(f"note: {info['profile_defaults']}")
    err(f"sidecar {result.sidecar}")
    if args.json:
        write_json(args, info)
    return 0
