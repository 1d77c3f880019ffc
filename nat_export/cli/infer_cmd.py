"""`nat-export infer`: classify images with an engine or an ONNX file; prints the top-k."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .args import (
    add_force_arg,
    add_json_arg,
    add_library_args,
    add_ort_args,
    add_verbose_arg,
    check_json_target,
    check_writable,
    parse_preprocess,
    warn_deprecated,
    write_json,
)
from .errors import UsageError
from .memory_args import add_memory_arg, check_run_memory


def add_parser(sub):
    p = sub.add_parser(
        "infer",
        help="classify images with a TensorRT engine or an ONNX file (top-5 labels)",
        description=(
            "Preprocess the images as the model file says (by default resize the shorter side to res/0.875, "
            "bicubic; center crop; /255; ImageNet mean/std), run them through a TensorRT engine (with the NA "
            "plugin) or an ONNX file (ONNX Runtime: the portable graph directly, an NA graph with the custom-op "
            "library), and print the top-k labels. Labels and preprocessing come from the engine's sidecar or the "
            "ONNX metadata."
        ),
        epilog=(
            "examples:\n"
            "  nat-export infer nat_tiny.engine cat.jpg dog.png\n"
            "  nat-export infer nat_tiny.onnx cat.jpg --top 3 --json -\n"
            "  nat-export infer nat_tiny.onnx cat.jpg --provider tensorrt      # ONNX Runtime's TensorRT EP\n"
            "  nat-export infer nat_tiny.onnx cat.jpg --save-input cat.f32     # raw tensor for samples/cpp"
        ),
    )
    p.add_argument("model", metavar="ENGINE|ONNX", help="engine built by `nat-export trt`, or an exported .onnx")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (anything Pillow reads)")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to print (default: 5)")
    p.add_argument("--save-input", metavar="FILE", help="also write the preprocessed batch as raw float32 NCHW")
    p.add_argument(
        "--preprocess",
        action="append",
        metavar="KEY=VALUE",
        help="override the recorded preprocessing (as `nat-export onnx --preprocess`): resize=shorter_side|exact, "
        "crop_pct=F, interpolation=bicubic|bilinear|nearest, mean=R,G,B, std=R,G,B",
    )
    add_json_arg(p, "the results")
    add_force_arg(p, "the --save-input and --json files")
    add_verbose_arg(p)
    add_memory_arg(p)
    add_library_args(p)
    add_ort_args(p)
    p.set_defaults(run=run)


def _open(args):
    from ..runtime.runners import is_onnx, open_model

    ort_lib = args.ort_op_library
    plugin = args.plugin
    if is_onnx(args.model) and args.provider == "cpu" and plugin is not None and ort_lib not in (None, plugin):
        raise UsageError(
            f"--plugin {plugin} and --ort-op-library {ort_lib} disagree; give --ort-op-library only (--plugin for "
            "an .onnx file on the CPU is deprecated)"
        )
    if is_onnx(args.model) and args.provider == "cpu" and plugin is not None:
        warn_deprecated(
            "--plugin for an .onnx file on the CPU",
            "--ort-op-library (ONNX Runtime's NA op library)",
            "nat-export infer",
        )
        ort_lib, plugin = plugin, None
    return open_model(
        args.model,
        provider=args.provider,
        plugin=plugin,
        ort_op_library=ort_lib,
        threads=args.threads,
        verbose=args.verbose,
    )


def run(args) -> int:
    from ..runtime.preprocess import load_images, save_raw_tensor, top_k

    def err(msg: str) -> None:
        print(msg, file=sys.stderr)

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}; e.g. --top 5")
    if args.save_input:
        target = Path(args.save_input)
        if target.resolve() in {Path(x).resolve() for x in (args.model, *args.images)}:
            raise UsageError(f"--save-input {target} is one of the input files; give another file name")
        if target.exists() and not args.force:
            raise FileExistsError(f"{args.save_input} exists; pass --force to overwrite it")
        check_writable(target, "--save-input")
    check_json_target(args, inputs=[args.model, *args.images, args.save_input])
    runner = _open(args)
    desc = runner.description
    if desc.feature_maps or "logits" not in runner.output_names and len(runner.output_names) > 1:
        raise UsageError(
            f"{args.model} is a backbone (outputs {', '.join(runner.output_names)}: feature maps, no classes); infer "
            "prints classes: time it with `nat-export bench`, check it with `nat-export validate`, or run it with "
            "nat_export.runtime.open_model in your detection / segmentation pipeline"
        )
    pp = desc.preprocessing_or_default(runner.input_dims)
    if pp is None:
        raise UsageError("the model file records no preprocessing or resolution; export it with `nat-export onnx`")
    override = parse_preprocess(args.preprocess)
    if override:
        pp = pp.override(**override)
    batch = runner.max_batch if runner.max_batch == runner.min_batch else len(args.images)
    check_run_memory(args, desc.config, batch, pp.center_crop, "classifying the images")
    if desc.preprocessing is None:
        err(f"note: no preprocessing recorded in the model file; using the ImageNet recipe at {pp.center_crop}")
    try:
        x = load_images(args.images, pp)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.save_input:
        save_raw_tensor(args.save_input, x)
        err(f"wrote the preprocessed input {list(x.shape)} float32 to {args.save_input}")
    outputs = _run_in_batches(runner, x)
    logits = outputs.get("logits", next(iter(outputs.values())))
    if not np.isfinite(logits).all():
        from ..ort import OrtError

        raise OrtError(
            f"{args.model} produced NaN or infinite outputs; its weights or preprocessing are broken: "
            "check them with `nat-export validate`"
        )
    labels = desc.labels
    source = desc.source or {}
    if source and not (source.get("weights") or source.get("from_pretrained")):
        err(
            f"warning: {args.model} was exported from {source.get('model', 'a model')} with random weights (no "
            "checkpoint was loaded); these labels mean nothing"
        )
    classes = logits.shape[-1]
    if labels and len(labels) != classes:
        err(f"warning: the model file records {len(labels)} labels for {classes} classes; printing class indices")
        labels = None
    elif not labels:
        err("note: the model file records no labels; printing class indices")
    rows = top_k(logits, labels, args.top)
    if args.json:
        write_json(args, [{"image": str(img), "top": r} for img, r in zip(args.images, rows)])
        return 0
    for img, r in zip(args.images, rows):
        print(img)
        for item in r:
            print(f"  {item['probability']:7.4f}  {item['label']}  ({item['index']})")
    return 0


def _run_in_batches(runner, x):
    """All images through the runner, in chunks of its fixed batch (the last one padded) when it has one."""
    import numpy as np

    n = x.shape[0]
    fixed = runner.max_batch if runner.max_batch is not None and runner.max_batch == runner.min_batch else None
    if fixed is None:
        return runner({runner.input_name: x})
    parts = []
    for start in range(0, n, fixed):
        chunk = x[start : start + fixed]
        real = chunk.shape[0]
        if real < fixed:
            chunk = np.concatenate([chunk, np.zeros((fixed - real, *chunk.shape[1:]), chunk.dtype)])
        out = runner({runner.input_name: chunk})
        parts.append({k: v[:real] for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
