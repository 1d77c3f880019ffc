"""TrtEngine's cached shape states, its device side played by fakes on the CPU: a fake TensorRT
engine / context and a fake ``torch.cuda`` (streams that know whether work is queued on them,
CPU tensors that record ``record_stream``). What is checked: a state's context, CUDA graph and
buffers are released only once the engine's stream has finished the work queued with them (on
eviction and in ``close()``); buffers record the streams that use them; float16 / bfloat16
engine inputs and outputs are converted (an fp16 / bf16 build from a model name has a float16
input)."""

from __future__ import annotations

import contextlib
import types
import weakref
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nat_export.tensorrt import TrtEngine  # noqa: E402


class Log:
    def __init__(self):
        self.events: list[str] = []
        self.busy = False  # work queued on the engine's stream and not synchronized
        self.freed_busy: list[str] = []  # what was freed while that work could still run
        self.freed: list[str] = []


class FakeStream:
    def __init__(self, log: Log, name: str):
        self.log, self.name, self.cuda_stream = log, name, id(self)

    def synchronize(self):
        if self.name == "engine":
            self.log.busy = False
        self.log.events.append(f"sync:{self.name}")

    def wait_stream(self, other):
        self.log.events.append(f"wait:{self.name}<-{other.name}")


class RecTensor(torch.Tensor):
    """A CPU tensor whose record_stream is noted (real ones need CUDA)."""

    def record_stream(self, stream):
        self.recorded.append(stream.name)


def _track(log: Log, obj, label: str):
    def gone():
        log.freed.append(label)
        if log.busy:
            log.freed_busy.append(label)

    weakref.finalize(obj, gone)
    return obj


class FakeTorch:
    """torch, with torch.cuda played on the CPU."""

    def __init__(self, log: Log):
        self.log = log
        self.current = FakeStream(log, "caller")
        self.by_ptr: dict[int, torch.Tensor] = {}
        cuda = types.SimpleNamespace()
        cuda.device = lambda d: contextlib.nullcontext()
        cuda.stream = lambda s: contextlib.nullcontext()
        cuda.current_stream = lambda device=None: self.current
        cuda.Stream = lambda device=None: FakeStream(log, "engine")
        self.cuda = cuda

    def __getattr__(self, name):
        return getattr(torch, name)

    def _buffer(self, t):
        t = t.as_subclass(RecTensor)
        t.recorded = []
        self.by_ptr[t.data_ptr()] = t
        return _track(self.log, t, f"buffer{tuple(t.shape)}")

    def zeros(self, shape, dtype, device):
        return self._buffer(torch.zeros(shape, dtype=dtype))

    def empty(self, shape, dtype, device):
        return self._buffer(torch.empty(shape, dtype=dtype))


class FakeContext:
    """logits[b] = 2 * mean(pixel_values[b]), computed in the engine's dtypes."""

    def __init__(self, log: Log, ft: FakeTorch, tag: str):
        self.log, self.ft, self.tag, self.addr, self.shapes = log, ft, tag, {}, {}

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        return (self.shapes["pixel_values"][0], 1)

    def set_tensor_address(self, name, ptr):
        self.addr[name] = ptr

    def execute_async_v3(self, stream):
        x = self.ft.by_ptr[self.addr["pixel_values"]]
        y = self.ft.by_ptr[self.addr["logits"]]
        y.copy_((2 * x.float().reshape(x.shape[0], -1).mean(1, keepdim=True)).to(y.dtype))
        self.log.busy = True
        self.log.events.append(f"execute:{self.tag}")
        return True


class FakeEngine:
    num_io_tensors = 2

    def __init__(self, log, ft, in_type, out_type):
        self.log, self.ft, self.types, self.n = log, ft, {"pixel_values": in_type, "logits": out_type}, 0

    def get_tensor_name(self, i):
        return ["pixel_values", "logits"][i]

    def get_tensor_mode(self, name):
        return "IN" if name == "pixel_values" else "OUT"

    def get_tensor_dtype(self, name):
        return types.SimpleNamespace(name=self.types[name])

    def get_tensor_profile_shape(self, name, profile):
        return [(1, 3, 4, 4), (2, 3, 4, 4), (4, 3, 4, 4)]

    def create_execution_context(self):
        self.n += 1
        self.log.events.append(f"context{self.n}")
        return _track(self.log, FakeContext(self.log, self.ft, f"context{self.n}"), f"context{self.n}")


def make_engine(in_type="FLOAT", out_type="FLOAT", max_cached=1):
    log = Log()
    ft = FakeTorch(log)
    eng = object.__new__(TrtEngine)
    eng._torch, eng.device = ft, "cuda:0"
    eng.trt = types.SimpleNamespace(TensorIOMode=types.SimpleNamespace(INPUT="IN", OUTPUT="OUT"))
    eng._logger = types.SimpleNamespace(last_error=lambda: "")
    eng._states, eng._stream = OrderedDict(), None
    eng.engine = FakeEngine(log, ft, in_type, out_type)
    eng._init_io(cuda_graphs=False, max_cached_shapes=max_cached)
    return eng, log, ft


def feed(batch, dtype=torch.float32):
    return {"pixel_values": torch.arange(batch * 48, dtype=torch.float32).reshape(batch, 3, 4, 4).to(dtype)}


def test_eviction_waits_for_the_engine_stream():
    eng, log, ft = make_engine(max_cached=1)
    eng.run_device(feed(1))  # state 1; then queued work with it, not synchronized
    eng.run_device(feed(1))
    assert log.busy
    eng.run_device(feed(2))  # a new shape: state 1 is evicted
    assert "context1" in log.freed, "the evicted state's context was not released"
    assert not log.freed_busy, f"freed while the engine's stream could still use them: {log.freed_busy}"
    ev = log.events
    assert ev.index("sync:engine", ev.index("execute:context1", 2)) < ev.index("context2")


def test_close_waits_then_releases_everything():
    eng, log, ft = make_engine(max_cached=2)
    eng.run_device(feed(1))
    eng.run_device(feed(2))
    assert log.busy and not log.freed
    eng.close()
    assert {"context1", "context2"} <= set(log.freed) and not log.freed_busy
    eng.close()  # idempotent


def test_buffers_record_the_streams_that_use_them():
    eng, log, ft = make_engine()
    out = eng.run_device(feed(2))
    (state,) = eng._states.values()
    assert state.inputs["pixel_values"].recorded == ["engine"]
    assert out["logits"].recorded[:1] == ["engine"] and out["logits"].recorded[-1] == "caller"
    assert "wait:engine<-caller" in log.events and "wait:caller<-engine" in log.events


@pytest.mark.parametrize(("in_type", "out_type"), [("HALF", "HALF"), ("HALF", "FLOAT"), ("BF16", "BF16")])
def test_half_typed_engines(in_type, out_type):
    """An fp16 / bf16 engine's input takes the float32 feed converted to its type; bfloat16 logits come
    back as float32 arrays, float16 ones as float16."""
    eng, log, ft = make_engine(in_type, out_type)
    x = feed(2)["pixel_values"].numpy() / 7
    got = eng({"pixel_values": x})["logits"]
    want_in = torch.from_numpy(x).to({"HALF": torch.float16, "BF16": torch.bfloat16}[in_type])
    (state,) = eng._states.values()
    assert state.inputs["pixel_values"].dtype == want_in.dtype
    assert torch.equal(state.inputs["pixel_values"].as_subclass(torch.Tensor), want_in)
    assert got.dtype == (np.float16 if out_type == "HALF" else np.float32)
    np.testing.assert_allclose(got[:, 0], 2 * x.reshape(2, -1).mean(1), rtol=1e-2)
    out = eng.run_device(feed(2, torch.float32))  # device feed in float32: copied into the fp16 buffer
    assert out["logits"].shape == (2, 1)
