"""Entry point: one sub-command per job (polygraphy / trtexec habits), and the one exception -> exit-code table."""

from __future__ import annotations

import argparse
import sys

from .errors import FAILED, INTERRUPTED, exit_code_table, one_line

COMMANDS = ("onnx", "trt", "validate", "bench", "infer", "models", "build_plugins", "triton_repo", "serve")


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    from .. import __version__

    parser = _Parser(
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
            "exit codes: 0 ok, 1 an error (one line on stderr: the problem and its fix), 130 interrupted"
        ),
    )
    parser.add_argument("--version", action="version", version=f"nat-export {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        import_module(f".{name}_cmd", __package__).add_parser(sub)
    for p in sub.choices.values():
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        p.add_argument("--debug", action="store_true", help="show the Python traceback of an unexpected error")
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one line, like every other error of the tool."""

    def parse_known_args(self, args=None, namespace=None):
        from .args import finish_aliases

        namespace, extras = super().parse_known_args(args, namespace)
        problem = finish_aliases(self, namespace)
        if problem:
            self.error(problem)
        return namespace, extras

    def error(self, message):
        command = self.prog if self.prog.startswith("nat-export ") else "nat-export"
        self.exit(FAILED, f"{command}: error: {message}; see `{self.prog} --help`\n")


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args, extras = parser.parse_known_args(argv)
        if extras:  # said by the command's parser: `nat-export CMD: error: ...`
            parser._subparsers._group_actions[0].choices.get(args.command, parser).error(
                f"unrecognized arguments: {' '.join(extras)}"
            )
    except KeyboardInterrupt:
        print("nat-export: interrupted", file=sys.stderr)
        return INTERRUPTED
    if not getattr(args, "run", None):
        names = ", ".join(c.replace("_", "-") for c in COMMANDS)
        print(f"nat-export: error: no command given; run one of {names} (see `nat-export --help`)", file=sys.stderr)
        return FAILED
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"nat-export {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `nat-export models --json - | head`: the reader left; not an error
        _silence_stdout()
        return 0
    except Exception as e:  # noqa: BLE001 - matched against the one table below
        return _report(args, e)


def _report(args, e: Exception) -> int:
    """One line for ``e``; its exit code from :func:`exit_code_table`; a traceback only with ``--debug``."""
    try:
        table = exit_code_table()
    except KeyboardInterrupt:
        return INTERRUPTED
    code = next((c for types, c in table if isinstance(e, types)), None)
    if getattr(args, "debug", False):
        raise e
    if code is not None:
        print(f"nat-export {args.command}: error: {one_line(e)}", file=sys.stderr)
        return code
    what = " ".join(str(e).split())[:300]
    print(
        f"nat-export {args.command}: error: unexpected {type(e).__name__}: {what}; "
        "run again with --debug for the traceback, and report it",
        file=sys.stderr,
    )
    return FAILED


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file
        pass


if __name__ == "__main__":
    sys.exit(main())
