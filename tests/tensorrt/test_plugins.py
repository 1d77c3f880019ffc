"""Loading the plugin library into a registry: once per process; clear errors."""

from __future__ import annotations

import pytest

from nat_export.tensorrt import TrtError
from nat_export.tensorrt import plugins as trt_plugins


def test_plugin_library_is_loaded_once_per_process(tmp_path):
    class Registry:
        def __init__(self):
            self.loads, self.all_creators = [], []

        def load_library(self, path):
            self.loads.append(path)
            return object()

    lib = tmp_path / "libnat_export_trt.so"
    lib.write_bytes(b"")
    reg = Registry()
    h1 = trt_plugins.load_plugin_library(reg, lib)
    h2 = trt_plugins.load_plugin_library(reg, str(lib))
    assert h1 is h2 and len(reg.loads) == 1

    class Failing(Registry):
        def load_library(self, path):
            return None

    with pytest.raises(TrtError, match="could not load the plugin library"):
        trt_plugins.load_plugin_library(Failing(), tmp_path / "other.so")
    trt_plugins._LOADED_PLUGINS.clear()


def test_resolve_plugin(tmp_path, no_plugins):
    from nat_export.native import PluginNotFoundError

    assert trt_plugins.resolve_plugin(None, False) is None
    assert trt_plugins.resolve_plugin(None, None) is None  # unknown need, nothing built: run without
    with pytest.raises(PluginNotFoundError, match="build-plugins"):
        trt_plugins.resolve_plugin(None, True)
    lib = no_plugins / "libnat_export_trt.so"
    lib.write_bytes(b"")
    assert trt_plugins.resolve_plugin(None, True) == lib.resolve()
    assert trt_plugins.resolve_plugin(no_plugins, False) == lib.resolve()  # explicit always wins
