"""The engine sidecar ``ENGINE.json``: one format, written and read here.

A TensorRT engine file says nothing about the model, and runs only with the TensorRT version
that built it. The sidecar beside it (``nat_tiny.engine.json``) records what the engine is and
how to feed it:

- ``format`` (``nat-export.engine``), ``format_version`` (1), ``engine``, ``onnx`` (file names);
- the :class:`~nat_export.onnx.metadata.ModelDescription` fields of the ONNX it was built from,
  as top-level keys (``variant``, ``config``, ``dtype``, ``na_mode``, ``resolution``,
  ``preprocessing``, ``labels``, ...);
- how it was built: ``precision``, ``precision_mode``, ``strongly_typed``, ``tf32``,
  ``tensorrt_version``, ``version_compatible``, ``plugin_serialized``, ``plugin``
  (``{"library", "path", "name", "version", "namespace"}``), ``gpu``, ``profiles``
  (``[{input: {"min", "opt", "max"}}]``), ``inputs`` / ``outputs`` (``{"name", "dtype", "shape"}``),
  ``workspace_mb``, ``build_seconds``, ``created``, ``nat_export_version``.

The C++ sample (samples/cpp) reads the same file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..onnx.files import write_atomic
from ..onnx.metadata import MetadataError, ModelDescription
from .env import EngineFileError

__all__ = [
    "SIDECAR_FORMAT",
    "SIDECAR_SUFFIX",
    "SIDECAR_VERSION",
    "check_engine_version",
    "engine_needs_plugin",
    "make_sidecar",
    "read_sidecar",
    "sidecar_description",
    "sidecar_path",
    "write_sidecar",
]

SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = "nat-export.engine"
SIDECAR_VERSION = 1


def sidecar_path(engine_path: str | Path) -> Path:
    """``ENGINE.json`` beside ``ENGINE`` (e.g. ``nat_tiny.engine.json``)."""
    p = Path(engine_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def make_sidecar(
    *,
    engine_path: str | Path,
    onnx_path: str | Path | None,
    description: ModelDescription,
    plan,
    tensorrt_version: str,
    profiles: Sequence,
    inputs: Sequence[dict],
    outputs: Sequence[dict],
    plugin: dict | None = None,
    gpu: dict | None = None,
    workspace_mb: int | None = None,
    tf32: bool = False,
    version_compatible: bool = False,
    build_seconds: float | None = None,
) -> dict:
    """The sidecar of an engine: what it is (``description``), how it was built (``plan``: a
    :class:`~nat_export.tensorrt.precision.PrecisionPlan`; ``profiles``:
    :class:`~nat_export.tensorrt.profiles.Profile`), how to feed it."""
    from .. import __version__

    data: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "engine": Path(engine_path).name,
        "onnx": Path(onnx_path).name if onnx_path else None,
    }
    data.update(description.to_json())
    data.update(
        precision=plan.precision,
        precision_mode=plan.mode,
        strongly_typed=plan.strongly_typed,
        tf32=bool(tf32),
        tensorrt_version=str(tensorrt_version),
        version_compatible=bool(version_compatible),
        plugin_serialized=bool(version_compatible and plugin),
        plugin=plugin,
        gpu=gpu,
        profiles=[p.to_json() for p in profiles],
        profile_defaults=next((p.defaults for p in profiles if getattr(p, "defaults", None)), None),
        inputs=list(inputs),
        outputs=list(outputs),
        workspace_mb=workspace_mb,
        build_seconds=None if build_seconds is None else round(float(build_seconds), 2),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        nat_export_version=__version__,
    )
    return data


def write_sidecar(engine_path: str | Path, data: dict, force: bool = True) -> Path:
    """Write ``data`` atomically to the engine's sidecar path; returns that path."""
    path = sidecar_path(engine_path)
    write_atomic(path, (json.dumps(data, indent=1) + "\n").encode(), force=force)
    return path


def read_sidecar(engine_path: str | Path) -> dict | None:
    """The engine's sidecar as a dict, or None when there is none.

    Raises:
        EngineFileError: the sidecar is not a JSON object, or its model fields are invalid.
    """
    p = sidecar_path(engine_path)
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EngineFileError(
            f"sidecar {p} is not readable JSON ({e}); rebuild the engine with `nat-export trt ... --force`"
        ) from None
    if not isinstance(data, dict):
        raise EngineFileError(f"sidecar {p} is not a JSON object; rebuild the engine with `nat-export trt ... --force`")
    try:
        ModelDescription.from_json(data, where=str(p))
    except MetadataError as e:
        raise EngineFileError(str(e)) from None
    return data


def sidecar_description(sidecar: dict | None) -> ModelDescription:
    """The model description carried by a sidecar (empty without one)."""
    return ModelDescription.from_json(sidecar or {}, where="sidecar")


def check_engine_version(sidecar: dict | None, running_version: str, engine_path: str | Path) -> None:
    """An engine runs only with the TensorRT version that built it (unless built version-compatible).

    Raises:
        EngineFileError: the sidecar names another TensorRT version.
    """
    if not sidecar or sidecar.get("version_compatible"):
        return
    built = sidecar.get("tensorrt_version")
    if built and str(built) != str(running_version):
        raise EngineFileError(
            f"{engine_path} was built by TensorRT {built}, but this is TensorRT {running_version}: an engine runs only "
            f"with the TensorRT version that built it; rebuild it here (nat-export trt MODEL.onnx -o {engine_path} --force)"
        )


def engine_needs_plugin(sidecar: dict | None) -> bool | None:
    """True/False from the sidecar; None when unknown (no sidecar)."""
    if not sidecar:
        return None
    if sidecar.get("plugin"):
        return True
    return sidecar.get("na_mode") == "plugin"
