"""`nat-export build-plugins`: build the TensorRT plugin and ONNX Runtime op libraries (CMake)."""

from __future__ import annotations


def add_parser(sub):
    from ..native import build

    p = sub.add_parser(
        "build-plugins",
        help="build the native NA libraries (TensorRT plugin, ONNX Runtime custom op)",
        description=(
            "Configure and build plugins/ with CMake; adapters whose headers are missing are skipped, with the reason."
        ),
        epilog=(
            "examples:\n"
            "  nat-export build-plugins\n"
            "  nat-export build-plugins --fetch-ort-headers\n"
            "  nat-export build-plugins --cuda-archs 90 --json -\n"
            "  TensorRT_ROOT=/opt/TensorRT nat-export build-plugins"
        ),
    )
    build.add_arguments(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """As :func:`nat_export.native.build.run`, with --json checked first and a failed build reported through
    the CLI's one error path (NativeBuildError: one line, exit 1)."""
    from ..native import NativeBuildError, build
    from .args import check_json_target

    check_json_target(args)
    code = build.run(args, raise_errors=True)
    if code:
        raise NativeBuildError("no plugin library was built; fix what the lines above name, then run it again")
    return 0
