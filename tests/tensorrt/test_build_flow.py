"""build_engine's wiring, run against a recording stand-in for TensorRT (no TensorRT, no GPU needed):
which network flags, builder flags, profile, parser input, files and sidecar each precision gets on
TensorRT 10 and 11. The real builder is exercised by test_trt_gpu.py where it exists."""

from __future__ import annotations

import io
import json
import types

import onnx
import pytest
from onnx import TensorProto

from nat_export.tensorrt import BuildOptions, TrtError, build_engine
from nat_export.tensorrt import env as trt_env
from nat_export.tensorrt import plugins as trt_plugins


class Flag:
    def __init__(self, name, value=0):
        self.name, self.value = name, value

    def __int__(self):
        return self.value

    def __repr__(self):
        return self.name


def make_fake_trt(version: str, fail_parse: bool = False, fail_build: bool = False):
    major = int(version.split(".")[0])
    rec = types.SimpleNamespace(
        network_flags=None,
        set_flags=[],
        cleared_flags=[],
        profiles=[],
        parsed=None,
        workspace=None,
        timing_cache_in=None,
        phases=[],
        plugins_to_serialize=None,
    )
    m = types.SimpleNamespace(__version__=version, __name__="tensorrt", rec=rec)

    class ILogger:
        def __init__(self):
            pass

    class IProgressMonitor:
        def __init__(self):
            pass

    flags = {"TF32": Flag("TF32"), "VERSION_COMPATIBLE": Flag("VERSION_COMPATIBLE")}
    if major < 11:
        flags.update(FP16=Flag("FP16"), BF16=Flag("BF16"))
    m.BuilderFlag = types.SimpleNamespace(**flags)
    m.NetworkDefinitionCreationFlag = types.SimpleNamespace(
        **({"STRONGLY_TYPED": Flag("STRONGLY_TYPED", 5)} if major < 11 else {})
    )
    m.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    m.ILogger, m.IProgressMonitor = ILogger, IProgressMonitor

    class Tensor:
        def __init__(self, name, shape):
            self.name, self.shape, self.dtype = name, shape, Flag("FLOAT")

    class Network:
        num_inputs = num_outputs = 1

        def get_input(self, i):
            return Tensor("pixel_values", [-1, 3, 64, 64])

        def get_output(self, i):
            return Tensor("logits", [-1, 10])

    class Parser:
        num_errors = 1

        def __init__(self, network, logger):
            pass

        def parse(self, data, path=None):
            rec.parsed = ("bytes", onnx.load_model_from_string(bytes(data)))
            return not fail_parse

        def parse_from_file(self, path):
            rec.parsed = ("file", onnx.load(path, load_external_data=False))
            return not fail_parse

        def get_error(self, i):
            return types.SimpleNamespace(
                desc=lambda: "Unsupported operator Foo", node_name=lambda: "n1", node_operator=lambda: "Foo"
            )

    class Cache:
        def serialize(self):
            return b"TIMING"

    class Config:
        progress_monitor = None

        def set_memory_pool_limit(self, pool, size):
            rec.workspace = (pool, size)

        def set_flag(self, f):
            rec.set_flags.append(f.name)

        def clear_flag(self, f):
            rec.cleared_flags.append(f.name)

        def add_optimization_profile(self, p):
            rec.profiles.append(p.shapes)

        def create_timing_cache(self, data):
            rec.timing_cache_in = data
            return Cache()

        def set_timing_cache(self, cache, ignore_mismatch):
            pass

        def get_timing_cache(self):
            return Cache()

        def __setattr__(self, k, v):
            if k == "plugins_to_serialize":
                rec.plugins_to_serialize = v
            object.__setattr__(self, k, v)

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, lo, op, hi):
            self.shapes[name] = (tuple(lo), tuple(op), tuple(hi))

    class Registry:
        all_creators = []

        def load_library(self, path):
            return object()

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def get_plugin_registry(self):
            return Registry()

        def create_network(self, flags=0):
            rec.network_flags = flags
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            mon = config.progress_monitor
            if mon is not None:
                mon.phase_start("Building", None, 2)
                mon.phase_start("Tactics", "Building", 3)
                for i in range(3):
                    assert mon.step_complete("Tactics", i) is True
                mon.phase_finish("Tactics")
                mon.step_complete("Building", 0)
                mon.phase_finish("Building")
                rec.phases.append("done")
            if fail_build:
                self.logger.log(Flag("ERROR"), "out of   memory")
                return None
            return b"ENGINE"

    m.Builder, m.OnnxParser = Builder, Parser
    return m


@pytest.fixture
def use_fake(monkeypatch):
    def install(version, **kw):
        fake = make_fake_trt(version, **kw)
        monkeypatch.setattr(trt_env, "import_tensorrt", lambda allow_lean=False: fake)
        monkeypatch.setattr(trt_env, "require_gpu", lambda what: None)
        monkeypatch.setattr(trt_env, "gpu_info", lambda ordinal=0: {"name": "Fake GPU", "compute_capability": "9.0"})
        return fake.rec

    return install


def progress():
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(file=io.StringIO()), transient=True)


def init_types(model):
    return {i.data_type for i in model.graph.initializer if len(i.dims) > 1}


def test_trt11_fp16_builds_a_converted_onnx_strongly_typed(use_fake, micro_onnx, tmp_path):
    rec = use_fake("11.4.0.106")
    out, cache = tmp_path / "m.engine", tmp_path / "t.cache"
    notes = []
    res = build_engine(
        micro_onnx,
        out,
        BuildOptions(precision="fp16", timing_cache=cache, workspace_mb=512, save_onnx=tmp_path / "m16.onnx"),
        progress=progress(),
        log=notes.append,
    )
    assert out.read_bytes() == b"ENGINE" and cache.read_bytes() == b"TIMING" and rec.timing_cache_in == b""
    kind, parsed = rec.parsed
    assert kind == "bytes" and init_types(parsed) == {TensorProto.FLOAT16}
    assert parsed.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # fp32 I/O
    assert (tmp_path / "m16.onnx").is_file()
    assert rec.network_flags == 0 and rec.set_flags == [] and rec.cleared_flags == ["TF32"]
    assert rec.workspace == ("WORKSPACE", 512 << 20)
    assert rec.profiles == [{"pixel_values": ((1, 3, 64, 64), (8, 3, 64, 64), (32, 3, 64, 64))}]
    assert rec.phases == ["done"]
    side = json.loads((tmp_path / "m.engine.json").read_text())
    assert side == res.info
    assert side["precision"] == "fp16" and side["strongly_typed"] and side["tensorrt_version"] == "11.4.0.106"
    assert side["gpu"]["name"] == "Fake GPU" and side["plugin"] is None and side["na_mode"] == "portable"
    assert side["inputs"] == [{"name": "pixel_values", "dtype": "FLOAT", "shape": [-1, 3, 64, 64]}]
    assert any("converted" in n for n in notes)
    assert not list(tmp_path.glob(".*.tmp"))


def test_trt10_fp16_uses_the_builder_flag(use_fake, micro_onnx, tmp_path):
    rec = use_fake("10.14.1.48")
    res = build_engine(micro_onnx, tmp_path / "m.engine", BuildOptions(precision="fp16", batch=4))
    assert rec.parsed[0] == "file" and init_types(rec.parsed[1]) == {TensorProto.FLOAT}
    assert rec.network_flags == 0 and rec.set_flags == ["FP16"]
    assert rec.profiles == [{"pixel_values": ((4, 3, 64, 64),) * 3}]
    assert (
        res.info["precision"] == "fp16"
        and not res.info["strongly_typed"]
        and "builder flag" in res.info["precision_mode"]
    )


def test_trt10_fp16_strongly_typed_on_request(use_fake, micro_onnx, tmp_path):
    rec = use_fake("10.14.1.48")
    build_engine(micro_onnx, tmp_path / "m.engine", BuildOptions(precision="fp16", strongly_typed=True))
    assert rec.parsed[0] == "bytes" and rec.network_flags == 1 << 5 and rec.set_flags == []


def test_trt10_fp32_is_strongly_typed_without_tf32(use_fake, micro_onnx, tmp_path):
    rec = use_fake("10.14.1.48")
    build_engine(micro_onnx, tmp_path / "m.engine", BuildOptions(version_compatible=True, tf32=True))
    assert rec.network_flags == 1 << 5 and rec.parsed[0] == "file"
    assert rec.set_flags == ["TF32", "VERSION_COMPATIBLE"] and rec.cleared_flags == []


def test_parser_and_builder_errors_are_one_line(use_fake, micro_onnx, tmp_path):
    use_fake("11.4.0.106", fail_parse=True)
    with pytest.raises(TrtError, match=r"rejected .*: Unsupported operator Foo \(node n1, op Foo\); re-export"):
        build_engine(micro_onnx, tmp_path / "m.engine")
    use_fake("11.4.0.106", fail_build=True)
    with pytest.raises(TrtError, match="could not build the engine: out of memory"):
        build_engine(micro_onnx, tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists() and not (tmp_path / "m.engine.json").exists()


def test_plugin_graph_loads_and_records_the_plugin(use_fake, na_onnx, tmp_path):
    use_fake("11.4.0.106")
    lib = tmp_path / "libnat_export_trt.so"
    # The record build-plugins puts into the library (plugins/tensorrt/common/pluginEntry.cpp).
    lib.write_bytes(b"\x7fELF...natx-build: cuda-runtime=12.9.86 nvcc=/usr/local/cuda-12.9/bin/nvcc archs=86,90\0...")
    res = build_engine(na_onnx, tmp_path / "na.engine", BuildOptions(plugin=lib))
    assert res.info["plugin"]["library"] == "libnat_export_trt.so" and res.info["na_mode"] == "plugin"
    assert res.info["plugin"]["build"] == {
        "cuda-runtime": "12.9.86",
        "nvcc": "/usr/local/cuda-12.9/bin/nvcc",
        "archs": "86,90",
    }
    trt_plugins._LOADED_PLUGINS.clear()


def test_cli_trt_with_stand_in_tensorrt(use_fake, run_cli, micro_onnx, tmp_path):
    use_fake("11.4.0.106")
    out = tmp_path / "cli.engine"
    code, stdout, err = run_cli(
        "trt", micro_onnx, "-o", out, "--fp16", "--min", "1", "--opt", "2", "--max", "4", "--json"
    )
    assert code == 0, err
    side = json.loads(stdout)
    assert side["precision"] == "fp16" and side["profiles"][0]["pixel_values"]["opt"] == [2, 3, 64, 64]
    assert "built " in err and "sidecar" in err
    code, _, err = run_cli("trt", micro_onnx, "-o", out)
    assert code != 0 and "--force" in err
    code, _, err = run_cli("trt", micro_onnx, "-o", out, "--force")
    assert code == 0, err
    code, _, _ = run_cli("trt", micro_onnx)  # default name next to the ONNX
    assert code == 0 and micro_onnx.with_name("nat_micro.engine").is_file()


def test_cli_trt_exports_first_with_stand_in_tensorrt(use_fake, run_cli, tmp_path):
    from pathlib import Path

    hf = Path(__file__).resolve().parents[1] / "fixtures" / "nat_micro" / "hf"
    use_fake("11.4.0.106")
    engine = tmp_path / "exp.engine"
    code, _, err = run_cli(
        "trt", "-o", engine, "--from-pretrained", hf, "--resolution", "64", "--portable", "--batch", "2"
    )
    assert code == 0, err
    assert engine.read_bytes() == b"ENGINE" and (tmp_path / "exp.onnx").is_file()
    side = json.loads((tmp_path / "exp.engine.json").read_text())
    assert side["onnx"] == "exp.onnx" and side["na_mode"] == "portable" and side["resolution"] == [64, 64]
    code, _, err = run_cli("trt", "-o", engine, "--from-pretrained", hf, "--resolution", "64", "--portable")
    assert code != 0 and "exists; pass --force" in err


def test_save_onnx_keeps_the_force_rule(use_fake, micro_onnx, tmp_path):
    from nat_export.tensorrt import ProfileError

    use_fake("11.4.0.106")
    keep = tmp_path / "kept.onnx"
    keep.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="--force"):
        build_engine(micro_onnx, tmp_path / "m.engine", BuildOptions(precision="fp16", save_onnx=keep))
    assert keep.read_bytes() == b"mine" and not (tmp_path / "m.engine").exists()
    before = micro_onnx.read_bytes()
    with pytest.raises(ProfileError, match="also the input"):
        build_engine(
            micro_onnx, tmp_path / "m.engine", BuildOptions(precision="fp16", save_onnx=micro_onnx), force=True
        )
    assert micro_onnx.read_bytes() == before
    build_engine(micro_onnx, tmp_path / "m.engine", BuildOptions(precision="fp16", save_onnx=keep), force=True)
    assert keep.read_bytes() != b"mine"
