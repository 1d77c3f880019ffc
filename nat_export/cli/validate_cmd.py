"""`nat-export validate`: PyTorch vs ONNX Runtime (and TensorRT) on the same inputs."""

from __future__ import annotations

from pathlib import Path

from .args import (
    add_force_arg,
    add_json_arg,
    add_library_args,
    add_model_args,
    add_verbose_arg,
    check_json_target,
    load_from_args,
    model_input_files,
    parse_preprocess,
    quiet_torch_warnings,
    write_json,
)
from .console import step, wide_console
from .errors import UsageError
from .memory_args import add_memory_arg, check_run_memory

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp")


def add_parser(sub):
    p = sub.add_parser(
        "validate",
        help="compare an ONNX file (and a TensorRT engine) with the PyTorch reference",
        description=(
            "Run the PyTorch reference, ONNX Runtime and, with --engine, TensorRT on the same inputs and report "
            "max/mean abs error, relative L2, cosine and top-1/top-5 agreement. Exits 1 on failure. "
            "The reference model is rebuilt from the ONNX metadata unless --model/--from-pretrained/--weights say otherwise."
        ),
        epilog=(
            "examples:\n"
            "  nat-export validate nat_tiny.onnx\n"
            "  nat-export validate nat_tiny.onnx --engine nat_tiny.engine --samples 16 --json report.json\n"
            "  nat-export validate dinat.onnx --from-pretrained shi-labs/dinat-tiny-in1k-224 --images ./val_images\n"
            "  nat-export validate backbone.onnx --resolution 512x512 --resolution 800x1216 --resolution 97x131"
        ),
    )
    p.add_argument("onnx", metavar="MODEL.onnx")
    p.add_argument("--engine", metavar="ENGINE", help="TensorRT engine built from MODEL.onnx to compare as well")
    g = p.add_argument_group("inputs and tolerances")
    g.add_argument("--samples", type=int, default=4, metavar="N", help="random input batches (default: 4)")
    g.add_argument("--batch", type=int, metavar="N", help="batch size of each sample (default: the file's, or 2)")
    g.add_argument(
        "--resolution",
        action="append",
        metavar="HxW",
        help="make the random inputs at this size (repeatable: a dynamic-resolution file checked at several "
        "sizes; default: the recorded resolution)",
    )
    g.add_argument(
        "--images", metavar="DIR", help="use the images in DIR (preprocessed per the metadata) instead of random inputs"
    )
    g.add_argument("--atol", type=float, metavar="X", help="absolute tolerance (default: per precision)")
    g.add_argument("--rtol", type=float, metavar="X", help="relative tolerance (default: per precision)")
    o = p.add_argument_group("output")
    add_json_arg(o, "the report")
    add_force_arg(o, "the --json file")
    add_verbose_arg(o)
    add_memory_arg(o)
    add_library_args(p)
    add_model_args(p, default_hint=False)
    p.set_defaults(run=run)


def run(args) -> int:
    import dataclasses

    from ..export.exporter import MIN_SIDE, parse_resolution
    from ..onnx.files import read_onnx
    from ..validate import TOLERANCES, print_report, validate

    quiet_torch_warnings()
    console = wide_console(stderr=args.json == "-")
    check_json_target(args, inputs=[args.onnx, args.engine, *model_input_files(args)])
    if args.samples < 1:
        raise UsageError(f"--samples must be >= 1, got {args.samples}; e.g. --samples 4")
    for flag, value in (("--atol", args.atol), ("--rtol", args.rtol)):
        if value is not None and not (0 <= value < float("inf")):
            raise UsageError(f"{flag} must be a finite number >= 0, got {value}; e.g. {flag} 1e-4")
    if args.plugin and not args.engine:
        raise UsageError(
            "--plugin is the TensorRT plugin for --engine; give --engine ENGINE, or --ort-op-library for ONNX Runtime"
        )
    if args.engine and Path(args.engine).suffix.lower() == ".onnx":
        raise UsageError(
            f"--engine takes a TensorRT engine, not {args.engine}; to check another ONNX file, validate it on its own"
        )
    proto, facts = read_onnx(args.onnx, load_weights=True)
    desc = facts.description
    if not desc.is_nat_export and not (args.model or args.from_pretrained or args.weights):
        raise UsageError(
            f"{args.onnx} has no nat-export metadata, so the PyTorch model it came from is unknown; "
            "name it with --model/--from-pretrained/--weights"
        )
    if args.images and args.resolution:
        raise UsageError("--resolution sizes random inputs, and --images replaces them; drop one of them")
    resolutions = [parse_resolution(r) for r in args.resolution] if args.resolution else None
    for hw in resolutions or []:
        if min(hw) < MIN_SIDE:
            raise UsageError(f"--resolution {hw[0]}x{hw[1]} is too small (NAT/DiNAT downsample by 32); use >= 32x32")
    # a backbone file is compared with the backbone of the model named here, at the file's outputs
    args.out_features = (desc.config or {}).get("out_features") if isinstance(desc.config, dict) else None
    loaded = load_from_args(args, spec=desc.source, console=console)
    sizes = resolutions or ([desc.resolution] if desc.resolution else [])
    if sizes and not args.images:
        batch = args.batch or facts.fixed_batch or 2
        largest = max(sizes, key=lambda hw: hw[0] * hw[1])
        check_run_memory(args, loaded.model.config, batch, largest, "validating")
    engine = None
    if args.engine:
        from ..runtime.runners import open_model

        engine = open_model(args.engine, plugin=args.plugin, verbose=args.verbose)
    precision = getattr(getattr(engine, "engine", None), "precision", None)
    tol = TOLERANCES[precision if precision in ("fp16", "bf16") else (desc.dtype or "fp32")]
    tol = dataclasses.replace(
        tol,
        atol=args.atol if args.atol is not None else tol.atol,
        rtol=args.rtol if args.rtol is not None else tol.rtol,
    )
    inputs = _image_inputs(args.images, desc, facts, parse_preprocess(args.preprocess)) if args.images else None
    with step(console, "validating ..."):
        report = validate(
            args.onnx,
            loaded.model,
            samples=args.samples,
            batch=args.batch,
            inputs=inputs,
            engine=engine,
            engine_precision=precision,
            ort_op_library=args.ort_op_library,
            tolerance=tol,
            onnx_model=proto,
            facts=facts,
            resolutions=resolutions,
        )
    print_report(report, console)
    if args.json:
        write_json(args, report.to_dict())
    return 0 if report.ok else 1


def _image_inputs(folder, desc, facts, override=None):
    import numpy as np

    from ..runtime.preprocess import load_images

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--images {folder} is not a folder; pass a folder holding images (.jpg/.png/...)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images (.jpg/.png/.ppm/...) in {folder}; pass a folder holding images")
    pp = desc.preprocessing_or_default(facts.input_shape)
    if pp is None:
        raise UsageError(f"{facts.path} records no preprocessing or resolution; export it with `nat-export onnx`")
    if override:
        pp = pp.override(**override)
    try:
        batch = load_images(files, pp)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return [np.asarray(batch, dtype=np.float32)]
