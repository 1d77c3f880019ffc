"""Entry point: one sub-command per job (polygraphy / trtexec habits), and the one exception -> exit-code table."""

from __future__ import annotations

import argparse
import sys

from .errors import exit_code_table, one_line

COMMANDS = ("onnx", "trt", "validate", "bench", "infer", "models", "build_plugins")


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="nat-export",
        description="NAT / DiNAT from PyTorch to ONNX and TensorRT, with a neighborhood-attention plugin.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  nat-export onnx nat_tiny.onnx                      # built-in nat-tiny -> ONNX, validated\n"
            "  nat-export onnx dinat.onnx --from-pretrained shi-labs/dinat-tiny-in1k-224\n"
            "  nat-export validate nat_tiny.onnx --samples 8\n"
            "  nat-export trt nat_tiny.onnx --fp16 -o nat_tiny.engine\n"
            "  nat-export bench nat_tiny.engine --batch-sizes 1,8,32\n"
            "  nat-export models\n"
            "\n"
            "exit codes: 0 ok, 1 check failed or backend error, 2 bad input, 3 missing TensorRT/GPU/toolchain, "
            "130 interrupted"
        ),
    )
    parser.add_argument("--version", action="version", version=f"nat-export {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        import_module(f".{name}_cmd", __package__).add_parser(sub)
    for p in sub.choices.values():
        p.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    table = exit_code_table()
    handled = tuple(t for types, _ in table for t in types)
    try:
        return int(args.run(args) or 0)
    except handled as e:
        code = next(c for types, c in table if isinstance(e, types))
        if isinstance(e, KeyboardInterrupt):
            print(f"nat-export {args.command}: interrupted", file=sys.stderr)
        else:
            print(f"nat-export {args.command}: error: {one_line(e)}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
