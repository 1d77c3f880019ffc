"""`nat-export validate`: PyTorch vs ONNX Runtime (and TensorRT) on the same inputs."""
from __future__ import annotations

from pathlib import Path

from .console import wide_console
from .errors import UsageError
from .model_args import add_model_args, load_from_args, quiet_torch_warnings


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
            "  nat-export validate dinat.onnx --from-pretrained shi-labs/dinat-tiny-in1k-224 --images ./val_images"
        ),
    )
    p.add_argument("onnx", metavar="MODEL.onnx")
    p.add_argument("--engine", metavar="E", help="TensorRT engine built from MODEL.onnx to compare as well")
    p.add_argument("--plugin", metavar="LIB", help="TensorRT plugin library for --engine")
    p.add_argument("--ort-op-library", metavar="LIB", help="ONNX Runtime NA custom-op library (default: the built one)")
    p.add_argument("--samples", type=int, default=4, help="number of random input batches (default 4)")
    p.add_argument("--batch", type=int, help="batch size of each sample (default: the file's, or 2)")
    p.add_argument("--images", metavar="DIR", help="use the images in DIR (preprocessed per the metadata) instead of random inputs")
    p.add_argument("--atol", type=float, help="absolute tolerance (default per precision)")
    p.add_argument("--rtol", type=float, help="relative tolerance (default per precision)")
    p.add_argument("--json", metavar="R", help="write the report as JSON")
    add_model_args(p, default_hint=False)
    p.set_defaults(run=run)


def run(args) -> int:
    import dataclasses

    import onnx
    from ..export import read_metadata
    from ..validate import TOLERANCES, print_report, validate

    quiet_torch_warnings()
    console = wide_console()
    path = Path(args.onnx)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass an ONNX file written by `nat-export onnx`")
    meta = read_metadata(onnx.load(str(path), load_external_data=False))
    loaded = load_from_args(args, spec=meta.get("source"), console=console)
    engine, precision = None, None
    if args.engine:
        engine, precision = _load_engine(args.engine, args.plugin)
    tol = TOLERANCES[precision if precision in ("fp16", "bf16") else meta.get("dtype", "fp32")]
    tol = dataclasses.replace(tol, atol=args.atol if args.atol is not None else tol.atol,
                              rtol=args.rtol if args.rtol is not None else tol.rtol)
    inputs = _image_inputs(args.images, meta) if args.images else None
    with console.status("validating ..."):
        report = validate(path, loaded.model, samples=args.samples, batch=args.batch, inputs=inputs, engine=engine,
                          engine_precision=precision, ort_library=args.ort_op_library, tolerance=tol)
    print_report(report, console)
    if args.json:
        report.write_json(args.json)
    return 0 if report.ok else 1


def _load_engine(engine_path, plugin):
    try:
        from ..runtime.trt_engine import TrtEngine
    except ImportError as e:
        raise UsageError(f"--engine needs the TensorRT runtime of nat-export ({e})") from None
    engine = TrtEngine(engine_path, plugin_lib=plugin)
    precision = getattr(engine, "precision", None)
    return (lambda feed: engine(feed)), precision


def _image_inputs(folder, meta):
    import numpy as np

    try:
        from ..runtime.preprocess import load_images
    except ImportError as e:
        raise UsageError(f"--images needs image preprocessing ({e})") from None
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp"))
    if not files:
        raise FileNotFoundError(f"no images (.jpg/.png/.ppm/...) in {folder}")
    batch = load_images(files, meta.get("preprocessing"))
    return [np.asarray(batch, dtype=np.float32)]
