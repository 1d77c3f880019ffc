"""`nat-export onnx`: PyTorch -> ONNX, then validation against PyTorch (like optimum-cli)."""

from __future__ import annotations

import re
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
    load_from_args,
    model_input_files,
    print_load_notes,
    quiet_torch_warnings,
    write_json,
)
from .console import step, wide_console
from .memory_args import add_memory_arg, check_run_memory


def add_parser(sub):
    p = sub.add_parser(
        "onnx",
        help="export a NAT / DiNAT model to ONNX (each NA layer one custom op) and validate it",
        description=(
            "Export to ONNX. Every neighborhood-attention layer becomes one NeighborhoodAttention2D node "
            "(domain trt.plugins) for the TensorRT plugin; --portable writes standard ONNX ops instead. "
            "The file is validated against PyTorch after writing."
        ),
        epilog=(
            "examples:\n"
            "  nat-export onnx nat_tiny.onnx\n"
            "  nat-export onnx dinat_tiny.onnx --from-pretrained shi-labs/dinat-tiny-in1k-224 --fp16\n"
            "  nat-export onnx nat.onnx --model nat-small --weights nat_small.pth --batch 8 --resolution 256x320\n"
            "  nat-export onnx nat_portable.onnx --portable --dynamic-resolution\n"
            "  nat-export onnx dinat_l_oneformer.onnx --from-pretrained shi-labs/oneformer_ade20k_dinat_large "
            "--dynamic-resolution --resolution 640\n"
            "  nat-export onnx dinat_t_mrcnn.onnx --weights mask_rcnn_dinat_tiny.pth --model dinat-tiny --backbone "
            "--dynamic-resolution --resolution 800x1216"
        ),
    )
    p.add_argument("output", metavar="OUT.onnx", help="file to write")
    add_model_args(p)
    add_backbone_args(p, features_alias=True)
    s = p.add_argument_group("shape")
    s.add_argument("--resolution", default="224", metavar="N|HxW", help="input resolution (default: 224)")
    b = s.add_mutually_exclusive_group()
    b.add_argument("--batch", type=int, metavar="N", help="static batch size (default: a dynamic batch axis)")
    b.add_argument("--dynamic-batch", action="store_true", help="dynamic batch axis (the default)")
    s.add_argument(
        "--dynamic-resolution",
        action="store_true",
        help="dynamic height/width axes: one graph for any H, W from 32 to 4096 (levels smaller than "
        "kernel x dilation are padded at run time, as HF does); --resolution is then the validated size",
    )
    f = p.add_argument_group("precision and format")
    add_precision_args(
        f, "graph (default: fp32)", dtype_alias=True, bf16_help="bf16 graph (validated only against an engine)"
    )
    f.add_argument("--opset", type=int, default=18, metavar="N", help="ONNX opset, 18..25 (default: 18)")
    f.add_argument(
        "--portable",
        action="store_true",
        help="NA as standard ONNX ops: runs in stock ONNX Runtime / TensorRT without the plugin",
    )
    f.add_argument(
        "--plugin-namespace",
        default="",
        metavar="NS",
        help="TensorRT plugin namespace recorded on NA nodes (default: '')",
    )
    a = p.add_argument_group("validation and output")
    a.add_argument("--no-validate", action="store_true", help="skip the validation after writing")
    a.add_argument("--samples", type=int, default=2, metavar="N", help="validation batches (default: 2)")
    add_json_arg(a, "the validation report")
    add_force_arg(a, "OUT.onnx (and the --json file)")
    add_verbose_arg(a)
    add_memory_arg(a)
    add_library_args(p, trt=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..export import ExportOptions, check_options, export_onnx, parse_resolution
    from ..validate import print_report, validate
    from .errors import UsageError

    console = wide_console(stderr=args.json == "-")
    quiet_torch_warnings()
    out = Path(args.output)
    if str(args.output).endswith(("/", "\\")):
        raise UsageError(f"{args.output} names a folder; give the ONNX file a name, e.g. {out / 'model.onnx'}")
    if out.exists() and not out.is_dir() and not out.is_file():
        raise UsageError(f"{out} is not a regular file (a device or a pipe); give the ONNX file a name")
    if args.plugin_namespace and args.portable:
        raise UsageError("--plugin-namespace names the NA plugin's namespace; a --portable graph has no NA node")
    if args.plugin_namespace and not re.fullmatch(r"[A-Za-z0-9_.:-]+", args.plugin_namespace):
        raise UsageError(
            f"--plugin-namespace {args.plugin_namespace!r} may hold letters, digits and _ . : - only; e.g. natx"
        )
    if args.json and args.no_validate:
        raise UsageError("--json writes the validation report, which --no-validate skips; drop one of them")
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give the ONNX file a name, e.g. {out / 'model.onnx'}")
    check_not_an_input(out, model_input_files(args), "the output")
    check_writable(out, "the output")
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    check_json_target(args, inputs=[out, *model_input_files(args)])
    if args.samples < 1 and not args.no_validate:
        raise UsageError(f"--samples must be >= 1, got {args.samples}; e.g. --samples 2, or --no-validate")
    if args.ort_op_library is not None and not args.no_validate:
        from ..native import find_library

        find_library("ort", args.ort_op_library)  # a library that is not there is refused before the export
    opts = ExportOptions(
        resolution=parse_resolution(args.resolution),
        batch=args.batch,
        dynamic_resolution=args.dynamic_resolution,
        dtype=args.precision,
        opset=args.opset,
        portable=args.portable,
        plugin_namespace=args.plugin_namespace,
    )
    loaded = load_from_args(args)  # its notes follow the checks: a bad option is one line
    check_options(loaded.model.config, opts)
    runs = opts.batch or (1 if args.no_validate else 2)
    check_run_memory(args, loaded.model.config, runs, opts.resolution, f"exporting {loaded.name}")
    if not all(bool(p.isfinite().all()) for p in loaded.model.parameters()):
        raise UsageError(f"the weights of {loaded.name} hold NaN or infinite values; check the checkpoint")
    print_load_notes(args, loaded)
    with step(console, f"exporting {loaded.name} ({opts.na_mode} NA, {opts.dtype}) to {out} ..."):
        result = export_onnx(loaded, out, opts, force=args.force)
    size = out.stat().st_size / 2**20
    console.print(
        f"wrote {out} ({size:.1f} MiB, {result.na_nodes} NeighborhoodAttention2D nodes, "
        f"{len(result.model.graph.node)} nodes, {result.seconds:.1f} s)"
    )
    if args.no_validate:
        return 0
    if opts.dtype == "bf16":
        console.print(
            "note: not validated here: ONNX Runtime on the CPU cannot run bf16 graphs; build an engine and run "
            f"`nat-export validate {out} --engine ENGINE`"
        )
        return 0
    with step(console, "validating against PyTorch ..."):
        report = validate(out, loaded.model, samples=args.samples, ort_op_library=args.ort_op_library)
    print_report(report, console)
    if args.json:
        write_json(args, report.to_dict())
    return 0 if report.ok else 1
