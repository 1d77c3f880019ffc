"""Entry point: one sub-command per job, like polygraphy / trtexec habits."""
from __future__ import annotations

import argparse
import sys

from .errors import UsageError, user_errors

COMMANDS = ("onnx", "trt", "validate", "bench", "infer", "models", "build_plugins")


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

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
            "  nat-export models"
        ),
    )
    from .. import __version__

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
    try:
        return int(args.run(args) or 0)
    except user_errors() as e:
        msg = e.args[0] if isinstance(e, (FileNotFoundError, FileExistsError)) and e.args and isinstance(e.args[0], str) else str(e)
        print(f"nat-export {args.command}: error: {msg}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        print("nat-export: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
