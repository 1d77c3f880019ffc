"""`nat-export build-plugins`: build the TensorRT plugin and ONNX Runtime op libraries (CMake)."""

from __future__ import annotations


def add_parser(sub):
    from ..native import build

    p = sub.add_parser(
        "build-plugins",
        help="build the native NA libraries (TensorRT plugin, ONNX Runtime custom op)",
        description="Configure and build plugins/ with CMake; adapters whose headers are missing are skipped, with the reason.",
        epilog="examples:\n  nat-export build-plugins\n  nat-export build-plugins --fetch-ort-headers\n  TensorRT_ROOT=/opt/TensorRT nat-export build-plugins",
    )
    build.add_arguments(p)
    p.set_defaults(run=build.run)
