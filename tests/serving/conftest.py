"""Serving tests: Triton's ModelConfig schema from tritonclient, hand-made engine sidecars, the CLI in-process."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_config_pb2():
    """tritonclient's generated ``model_config_pb2`` (Triton's ModelConfig schema), loaded from its file: the
    ``tritonclient.grpc`` package itself would import grpcio, which the schema does not need."""
    import tritonclient  # the test extra: tritonclient[http]

    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("_tritonclient_model_config_pb2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def parse_config(model_config_pb2):
    """``parse_config(path) -> ModelConfig`` (protobuf text format, as Triton reads config.pbtxt)."""
    from google.protobuf import text_format

    def parse(path):
        return text_format.Parse(Path(path).read_text(), model_config_pb2.ModelConfig())

    return parse


def make_engine(
    folder: Path,
    name: str = "m.engine",
    *,
    profile=((1, 3, 64, 64), (8, 3, 64, 64), (32, 3, 64, 64)),
    dtype: str = "FLOAT",
    plugin: dict | None = None,
    na_mode: str = "plugin",
    labels=("cat", "dog"),
    sidecar: bool = True,
) -> Path:
    """A dummy plan file with a sidecar as ``nat-export trt`` writes it (TensorRT is not needed to read it)."""
    from nat_export.onnx.metadata import ModelDescription, Preprocessing
    from nat_export.tensorrt.precision import precision_plan
    from nat_export.tensorrt.profiles import Profile
    from nat_export.tensorrt.sidecar import make_sidecar, write_sidecar

    folder.mkdir(parents=True, exist_ok=True)
    engine = folder / name
    engine.write_bytes(b"not really a TensorRT plan\0" * 10)
    if not sidecar:
        return engine
    desc = ModelDescription(
        variant="nat-mini",
        na_mode=na_mode,
        dtype="fp32",
        resolution=(64, 64),
        preprocessing=Preprocessing.imagenet((64, 64)),
        labels=list(labels) if labels else None,
        contract_version="1",
    )
    batch_dims = [-1, 3, 64, 64] if profile[0][0] != profile[2][0] else list(profile[0])
    data = make_sidecar(
        engine_path=engine,
        onnx_path=folder / "m.onnx",
        description=desc,
        plan=precision_plan("fp16", "fp32", 11),
        tensorrt_version="11.4.0.106",
        profiles=[Profile({"pixel_values": profile})],
        inputs=[{"name": "pixel_values", "dtype": dtype, "shape": batch_dims}],
        outputs=[{"name": "logits", "dtype": dtype, "shape": [batch_dims[0], len(labels) if labels else 1000]}],
        plugin=plugin
        if plugin is not None
        else ({"library": "libnat_export_trt.so", "version": "1", "namespace": ""} if na_mode == "plugin" else None),
        gpu={"name": "NVIDIA H100", "compute_capability": "9.0"},
    )
    write_sidecar(engine, data)
    return engine


CLI = [sys.executable, "-c", "import sys; from nat_export.cli import main; sys.exit(main())"]
REQUESTS = 24  # bounded: 24 requests, 16 at a time
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60


def serving_python() -> Path:
    """The serving environment's python, made now when the cache has none (the first CI run: about a minute)."""
    from nat_export.serving.env import ensure_env

    start = time.perf_counter()
    py = ensure_env(create=True, log=lambda text: print(f"\n{text}", file=sys.stderr))
    print(f"\nserving environment: {py.parent.parent} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return py


@pytest.fixture(scope="session")
def serve_python():
    return serving_python()


class Server:
    """``nat-export serve`` as a user runs it in a terminal: its own process group, so SIGINT to the group is
    Ctrl-C; stdout and stderr collected as they come."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            [*CLI, "serve", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=env,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(line) for line in s], daemon=True).start()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.out):
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the readers finish
                pytest.fail(f"serve exited with {self.proc.returncode}:\n{''.join(self.out)}\n{''.join(self.err)}")
            time.sleep(0.1)
        self.ctrl_c()
        pytest.fail(f"serve did not print {text!r} in {timeout} s:\n{''.join(self.out)}\n{''.join(self.err)}")

    def ctrl_c(self, timeout: float = STOP_TIMEOUT_S) -> int:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


def processes_with(text: str) -> list[str]:
    """Command lines of the running processes that contain ``text``."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(cmd)
    return found
