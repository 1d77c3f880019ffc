"""Locate the built plugin libraries."""

from __future__ import annotations

import os
from pathlib import Path

#: Library file name for each kind.
LIB_NAMES = {
    "ort": "libnat_export_ort.so",
    "trt": "libnat_export_trt.so",
    "trt_autoreg": "libnat_export_trt_autoreg.so",
}

_DESCRIPTIONS = {
    "ort": "ONNX Runtime custom-op library",
    "trt": "TensorRT plugin library",
    "trt_autoreg": "TensorRT plugin library (auto-registering)",
}

ENV_PLUGIN_DIR = "NAT_EXPORT_PLUGIN_DIR"


class PluginNotFoundError(FileNotFoundError):
    """A plugin library is not where it was looked for."""


def default_plugin_dir() -> Path:
    """``$NAT_EXPORT_PLUGIN_DIR`` if set, else ``~/.cache/nat-export/plugins``."""
    env = os.environ.get(ENV_PLUGIN_DIR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "nat-export" / "plugins"


def find_library(kind: str, explicit: str | os.PathLike | None = None) -> Path:
    """Path of the built library of `kind` ('ort', 'trt' or 'trt_autoreg').

    Looks at `explicit` (a file, or a folder holding the library) only, when given;
    otherwise in ``$NAT_EXPORT_PLUGIN_DIR`` and then ``~/.cache/nat-export/plugins``.
    """
    if kind not in LIB_NAMES:
        raise ValueError(f"unknown plugin kind {kind!r}; expected one of {', '.join(LIB_NAMES)}")
    name = LIB_NAMES[kind]
    what = _DESCRIPTIONS[kind]
    flag = "--ort-op-library" if kind == "ort" else "--plugin"
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir():
            path = path / name
        if path.is_file():
            return path.resolve()
        raise PluginNotFoundError(
            f"{what} not found at {path}; pass the path of {name} to {flag}, "
            f"or run `nat-export build-plugins` and leave {flag} out"
        )
    candidates = []
    env = os.environ.get(ENV_PLUGIN_DIR)
    if env:
        candidates.append(Path(env).expanduser() / name)
    default = Path.home() / ".cache" / "nat-export" / "plugins" / name
    if default not in candidates:
        candidates.append(default)
    for path in candidates:
        if path.is_file():
            return path.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise PluginNotFoundError(
        f"{what} ({name}) not found (looked in {looked}); run `nat-export build-plugins` or pass {flag} PATH"
    )
