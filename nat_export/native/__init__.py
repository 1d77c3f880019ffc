"""Native plugins: build the C++/CUDA libraries and find them.

- :func:`build_plugins` runs the CMake build of ``plugins/`` (kernel core, ONNX Runtime
  custom op, TensorRT plugin) and returns the built libraries.
- :func:`find_library` locates a built library (``'ort'``, ``'trt'``, ``'trt_autoreg'``).

Importing this package imports neither torch nor builds anything.
"""

from __future__ import annotations


class NativeBuildError(RuntimeError):
    """The native build could not run or failed; the message names the problem and the fix."""


from .libs import LIB_NAMES, PluginNotFoundError, default_plugin_dir, find_library  # noqa: E402


def build_plugins(*args, **kwargs):
    """See :func:`nat_export.native.build.build_plugins`."""
    from .build import build_plugins as _build

    return _build(*args, **kwargs)


def plugin_build_info(library):
    """See :func:`nat_export.native.build.plugin_build_info`."""
    from .build import plugin_build_info as _info

    return _info(library)


__all__ = [
    "LIB_NAMES",
    "NativeBuildError",
    "PluginNotFoundError",
    "build_plugins",
    "default_plugin_dir",
    "find_library",
    "plugin_build_info",
]
