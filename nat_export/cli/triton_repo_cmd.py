"""`nat-export triton-repo`: a Triton Inference Server model repository for an ONNX file or a TensorRT engine."""

from __future__ import annotations

import argparse

from .args import add_force_arg, add_library_args, check_writable, positive_int
from .errors import UsageError


def _delay(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_parser(sub):
    p = sub.add_parser(
        "triton-repo",
        help="write a Triton Inference Server model repository (config.pbtxt, model, labels, plugin) for a model",
        description=(
            "Write OUT_DIR/<name>/config.pbtxt and OUT_DIR/<name>/1/model.onnx|model.plan, the labels file, the "
            "op library (custom-op ONNX graphs: model_operations) or the self-registering TensorRT plugin (engines), "
            "and OUT_DIR/README.md with the exact tritonserver command line. Everything Triton must be told comes "
            "from the file: input/output names, data types and dims from the ONNX graph or the engine's sidecar "
            "(ENGINE.json), max_batch_size from the engine profile's max batch (8 for a dynamic-batch ONNX file), "
            "dynamic batching (preferred sizes: the profile's opt and max), instance groups (KIND_GPU for engines, "
            "KIND_CPU for ONNX Runtime), and the preprocessing recipe as model parameters. TensorRT is not needed."
        ),
        epilog=(
            "examples:\n"
            "  nat-export triton-repo models/ --onnx nat_tiny.onnx                  # ONNX Runtime backend (CPU)\n"
            "  nat-export triton-repo models/ --engine nat_tiny.engine --instances 2 # TensorRT backend (GPU)\n"
            "  nat-export triton-repo models/ --onnx dinat.onnx --name dinat --max-batch 16\n"
            "  nat-export triton-repo /srv/models --engine nat.engine --server-path /models   # for a container\n"
            "then: tritonserver --model-repository=$PWD/models   (OUT_DIR/README.md has the exact line)"
        ),
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="the model repository folder (made if missing)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--onnx", metavar="FILE", help="an ONNX file exported by `nat-export onnx`")
    src.add_argument("--engine", metavar="FILE", help="a TensorRT engine built by `nat-export trt` (with its sidecar)")
    p.add_argument("--name", help="the model name in the repository and its URLs (default: the file's stem)")
    p.add_argument(
        "--max-batch",
        type=positive_int,
        metavar="N",
        help="max_batch_size: the most samples one execution takes (default: the engine profile's max; 8 for ONNX)",
    )
    p.add_argument("--instances", type=positive_int, default=1, metavar="N", help="model instances (default: 1)")
    p.add_argument(
        "--max-queue-delay-us",
        type=_delay,
        default=100,
        metavar="U",
        help="how long the dynamic batcher may hold a request to fill a batch, microseconds (default: 100)",
    )
    p.add_argument(
        "--server-path",
        metavar="DIR",
        help="where the server sees OUT_DIR, for the library paths in config.pbtxt and the README (default: "
        "OUT_DIR's absolute path; e.g. /models inside a container)",
    )
    add_library_args(p)
    add_force_arg(p, "the repository entry OUT_DIR/<name> (and a README.md not written by nat-export)")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from ..serving.triton_repo import check_name, check_targets, default_name, describe_model, write_repository

    source = Path(args.onnx or args.engine)
    if args.onnx and source.suffix.lower() != ".onnx":
        raise UsageError(f"--onnx {source} is not an .onnx file; pass an engine with --engine")
    if args.engine and source.suffix.lower() == ".onnx":
        raise UsageError(f"--engine {source} is an ONNX file; pass it with --onnx")
    if args.server_path is not None and not args.server_path.startswith("/"):
        raise UsageError(f"--server-path {args.server_path} is not absolute; give the folder as the server sees it")
    name = check_name(args.name or default_name(source))
    out = Path(args.out_dir)
    check_targets(out, name, source, args.force)
    check_writable(out / name, "the repository entry")
    model = describe_model(source, max_batch=args.max_batch, ort_op_library=args.ort_op_library, plugin=args.plugin)
    entry = write_repository(
        model,
        out,
        name=name,
        instances=args.instances,
        queue_delay_us=args.max_queue_delay_us,
        force=args.force,
        server_path=args.server_path,
    )
    batch = f"max_batch_size {model.max_batch}" if model.max_batch else "fixed batch (no batching)"
    lib = f", {model.library.name} copied" if model.library else ""
    print(f"wrote {entry}/ ({model.what()}, {batch}{lib}) and {out / 'README.md'}")
    served = args.server_path or str(out.absolute())
    print(f"start it: tritonserver --model-repository={served}   (README.md: plugins, container, curl)")
    return 0
