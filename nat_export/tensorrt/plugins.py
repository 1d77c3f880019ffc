"""Loading the NA plugin library into a TensorRT plugin registry, once per registry and process."""

from __future__ import annotations

from pathlib import Path

from .env import TrtRefusedError

__all__ = ["NA_PLUGIN_NAME", "load_plugin_library", "plugin_creator_info", "resolve_plugin"]

NA_PLUGIN_NAME = "NeighborhoodAttention2D"

_LOADED_PLUGINS: dict[str, object] = {}


def load_plugin_library(registry, path: str | Path, logger=None):
    """Register the creators of a plugin library (``libnat_export_trt.so``) with a TensorRT registry.

    Once per process: TensorRT's registry is process-wide and refuses a second registration of
    the same creator, so a library already loaded (by an earlier build or engine, or the
    auto-registering library loaded by someone else) is not loaded again.

    Raises:
        TrtError: TensorRT refused the library (the message carries TensorRT's last error).
    """
    key = str(Path(path).resolve())
    if key in _LOADED_PLUGINS:
        return _LOADED_PLUGINS[key]
    if plugin_creator_info(registry) is not None:
        _LOADED_PLUGINS[key] = None
        return None
    try:
        handle = registry.load_library(str(path))
    except Exception as e:  # noqa: BLE001 - some bindings raise instead of returning None
        handle = None
        if logger is not None:
            logger.errors.append(" ".join(str(e).split()))
    if handle is None:
        why = logger.last_error("") if logger is not None else ""
        raise TrtRefusedError(
            f"TensorRT could not load the plugin library {path}"
            + (f" ({why})" if why else "")
            + "; rebuild it against this TensorRT with `nat-export build-plugins`"
        )
    _LOADED_PLUGINS[key] = handle
    return handle


def plugin_creator_info(registry, name: str = NA_PLUGIN_NAME) -> dict | None:
    """``{"name", "version", "namespace"}`` of the registered NA plugin creator, when found."""
    try:
        for c in registry.all_creators:
            if getattr(c, "name", None) == name:
                return {"name": c.name, "version": str(c.plugin_version), "namespace": str(c.plugin_namespace)}
    except Exception:  # noqa: BLE001 - informative only
        return None
    return None


def resolve_plugin(explicit: str | Path | None, needed: bool | None) -> Path | None:
    """The plugin library to load: ``explicit`` (a file or folder), else the built one when ``needed``.

    ``needed``: True (the graph/engine has NA plugin layers), False (it has none), None (unknown:
    the built library is used when there is one).

    Raises:
        nat_export.native.PluginNotFoundError: ``explicit`` does not exist, or a needed library is not built.
    """
    from ..native import PluginNotFoundError, find_library

    if explicit is not None:
        return find_library("trt", explicit)
    if needed is False:
        return None
    try:
        return find_library("trt")
    except PluginNotFoundError:
        if needed:
            raise
        return None
