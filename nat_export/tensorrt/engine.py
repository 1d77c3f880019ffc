"""Run a TensorRT engine from Python: :class:`TrtEngine`.

Device buffers and CUDA graphs come from ``torch.cuda`` (torch is already a dependency; a
CUDA build of PyTorch is needed to run engines).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..onnx.metadata import ModelDescription
from . import env
from .env import TrtError, TrtRefusedError
from .plugins import load_plugin_library, resolve_plugin
from .sidecar import check_engine_version, engine_needs_plugin, read_sidecar, sidecar_description

__all__ = ["TrtEngine"]


_TORCH_DTYPE_NAMES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "BF16": "bfloat16",
    "INT32": "int32",
    "INT64": "int64",
    "INT8": "int8",
    "UINT8": "uint8",
    "BOOL": "bool",
}


def _require_torch_cuda():
    import torch

    if not torch.cuda.is_available():
        if env.cuda_device_count() > 0:
            raise TrtError(
                "TrtEngine keeps its buffers in GPU memory through torch.cuda, but this PyTorch is a CPU-only build; "
                "install a CUDA build of PyTorch (https://pytorch.org/get-started/locally/)"
            )
        raise TrtError(
            "running a TensorRT engine needs an NVIDIA GPU, and none is usable here (no CUDA driver or device); "
            "run it on a machine with one, or use the .onnx file (ONNX Runtime on the CPU)"
        )
    return torch


class _ShapeState:
    """One execution context bound to one set of input shapes, its buffers and CUDA graph."""

    def __init__(self, context, inputs: dict, outputs: dict, graph):
        self.context, self.inputs, self.outputs, self.graph = context, inputs, outputs, graph

    def release(self) -> None:
        """Drops the graph, the context and the buffers (freed when no one else holds them). Only once
        the work queued with them is done: see TrtEngine._evict."""
        self.graph = None
        self.context = None
        self.inputs = {}
        self.outputs = {}


class TrtEngine:
    """A TensorRT engine built by ``nat-export trt``, called with numpy arrays.

    ``engine(feed)`` takes ``{input name: array}`` and returns ``{output name: array}``.
    Batches larger than the engine's optimization profile are split into chunks of its
    maximum batch, smaller ones are zero-padded up to its minimum; the first axis of every
    input and output is the batch. Each distinct set of input shapes gets its own execution
    context and, where TensorRT allows it, a CUDA graph (``cuda_graphs=False`` turns them off;
    :attr:`graph_errors` says why a capture failed). At most ``max_cached_shapes`` states are kept; the least
    recently used is dropped only after the engine's stream has finished the work queued with it (also in
    :meth:`close`), and every buffer records the streams that use it (``record_stream``).

    :meth:`run_device` runs on torch CUDA tensors without host copies (for timing and for
    callers that keep data on the GPU).
    """

    def __init__(
        self,
        engine_path: str | Path,
        plugin_lib: str | Path | None = None,
        *,
        device: int = 0,
        cuda_graphs: bool = True,
        max_cached_shapes: int = 4,
        verbose: bool = False,
    ):
        self.path = Path(engine_path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"engine {self.path} not found; build one with `nat-export trt MODEL.onnx -o {self.path}`"
            )
        self.sidecar: dict = read_sidecar(self.path) or {}
        version_compatible = bool(self.sidecar.get("version_compatible"))
        trt = env.import_tensorrt(allow_lean=version_compatible)
        self.trt = trt
        self.tensorrt_version = str(trt.__version__)
        check_engine_version(self.sidecar, self.tensorrt_version, self.path)
        torch = _require_torch_cuda()  # also the GPU check: before any TensorRT Runtime exists
        self._torch = torch
        self.device = torch.device("cuda", device)
        self.plugin_path = self._plugin_path(plugin_lib)

        self._logger = env.make_logger(trt, verbose)
        self._states: OrderedDict[tuple, _ShapeState] = OrderedDict()
        self._stream = None
        with torch.cuda.device(self.device):
            self._runtime = trt.Runtime(self._logger)
            if version_compatible and hasattr(self._runtime, "engine_host_code_allowed"):
                self._runtime.engine_host_code_allowed = True
            if self.plugin_path is not None:
                self._plugin_handle = load_plugin_library(
                    self._runtime.get_plugin_registry(), self.plugin_path, self._logger
                )
            self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise TrtRefusedError(self._deserialize_error())
        self._init_io(cuda_graphs, max_cached_shapes)

    def _init_io(self, cuda_graphs: bool, max_cached_shapes: int) -> None:
        """Names, types and profile of the deserialized engine's tensors; the state cache and stream."""
        torch, trt = self._torch, self.trt
        e = self.engine
        names = [e.get_tensor_name(i) for i in range(e.num_io_tensors)]
        self.input_names = [n for n in names if e.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if e.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._dtypes = {n: self._torch_dtype(e.get_tensor_dtype(n)) for n in names}
        self.profile = {
            n: tuple(tuple(int(d) for d in s) for s in e.get_tensor_profile_shape(n, 0)) for n in self.input_names
        }
        first = self.input_names[0]
        self.min_batch, self.opt_batch, self.max_batch = (self.profile[first][k][0] for k in range(3))
        self.cuda_graphs = cuda_graphs
        self.graph_errors: list[str] = []
        self._max_cached = max(1, int(max_cached_shapes))
        self._states = OrderedDict()
        self._stream = torch.cuda.Stream(device=self.device)

    # ------------------------------------------------------------ setup helpers

    def _plugin_path(self, plugin_lib) -> Path | None:
        needs = engine_needs_plugin(self.sidecar)
        if plugin_lib is None and self.sidecar.get("version_compatible") and self.sidecar.get("plugin_serialized"):
            return None  # the plugin is serialized into the engine
        return resolve_plugin(plugin_lib, needs)

    def _deserialize_error(self) -> str:
        why = self._logger.last_error("")
        hint = ""
        if "version" in why.lower() or not self.sidecar:
            hint = (
                f"; it may have been built by another TensorRT version (this is {self.tensorrt_version}) or for "
                "another GPU: rebuild it here with `nat-export trt MODEL.onnx -o ENGINE --force`"
            )
        if self.plugin_path is None and ("plugin" in why.lower() or "creator" in why.lower()):
            hint += "; the engine needs the NA plugin: pass plugin_lib / --plugin, or run `nat-export build-plugins`"
        built = self.sidecar.get("gpu", {}) or {}
        if built.get("name"):
            here = env.gpu_info(self.device.index or 0) or {}
            if here.get("name") and here.get("name") != built.get("name"):
                hint += f"; it was built on {built['name']}, this GPU is {here['name']}"
        return f"TensorRT cannot load the engine {self.path}" + (f" ({why})" if why else "") + (hint or "")

    def _torch_dtype(self, trt_dtype):
        name = getattr(trt_dtype, "name", str(trt_dtype))
        if name not in _TORCH_DTYPE_NAMES:
            raise TrtRefusedError(
                f"engine tensor type {name} is not supported by TrtEngine; build the engine from a nat-export ONNX file"
            )
        return getattr(self._torch, _TORCH_DTYPE_NAMES[name])

    # ------------------------------------------------------------ info

    @property
    def description(self) -> ModelDescription:
        """The model description recorded in the sidecar (empty without one)."""
        return sidecar_description(self.sidecar)

    @property
    def labels(self) -> list[str] | None:
        return self.description.labels

    @property
    def preprocessing(self):
        """The :class:`~nat_export.onnx.metadata.Preprocessing` recorded in the sidecar, or None."""
        return self.description.preprocessing

    @property
    def precision(self) -> str | None:
        return self.sidecar.get("precision")

    def input_shape(self, batch: int | None = None, which: str = "opt") -> tuple[int, ...]:
        """Shape of the first input at the profile's min/opt/max, with the batch replaced when given."""
        shape = list(self.profile[self.input_names[0]][("min", "opt", "max").index(which)])
        if batch is not None:
            shape[0] = batch
        return tuple(shape)

    def input_dtype(self, name: str | None = None):
        return self._dtypes[name or self.input_names[0]]

    def __repr__(self) -> str:
        return (
            f"TrtEngine({str(self.path)!r}, inputs={self.input_names}, outputs={self.output_names}, "
            f"batch={self.min_batch}..{self.max_batch}, precision={self.precision})"
        )

    # ------------------------------------------------------------ execution

    def _check_feed(self, feed: dict) -> dict:
        missing = [n for n in self.input_names if n not in feed]
        extra = [n for n in feed if n not in self.input_names]
        if missing or extra:
            raise ValueError(f"the engine takes inputs {self.input_names}; missing {missing}, unexpected {extra}")
        batches = {int(v.shape[0]) for v in feed.values()}
        if len(batches) != 1:
            raise ValueError(f"all inputs need the same batch size, got {sorted(batches)}")
        for n, v in feed.items():
            lo, _, hi = self.profile[n]
            if len(v.shape) != len(lo):
                raise ValueError(
                    f"input {n} needs {len(lo)} dims like {list(self.profile[n][1])}, got shape {list(v.shape)}"
                )
            for ax in range(1, len(lo)):
                if not lo[ax] <= v.shape[ax] <= hi[ax]:
                    raise ValueError(
                        f"input {n} has shape {list(v.shape)}, but the engine's profile allows "
                        f"{list(lo)} .. {list(hi)} (axis {ax}); rebuild with other --min/--max shapes"
                    )
        return feed

    def _state_for(self, shapes: dict[str, tuple[int, ...]]) -> _ShapeState:
        key = tuple(shapes[n] for n in self.input_names)
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
            return state
        torch = self._torch
        while len(self._states) >= self._max_cached:  # make room first: the old state's memory is reused
            self._evict(next(iter(self._states)))
        with torch.cuda.device(self.device):
            ctx = self.engine.create_execution_context()
            if ctx is None:
                raise TrtRefusedError(
                    f"TensorRT could not create an execution context ({self._logger.last_error()}); is the GPU out of memory?"
                )
            inputs = {}
            for n in self.input_names:
                if not ctx.set_input_shape(n, shapes[n]):
                    raise TrtRefusedError(
                        f"TensorRT refused shape {list(shapes[n])} for input {n} ({self._logger.last_error()}); "
                        "use a shape inside the engine's profile"
                    )
                inputs[n] = torch.zeros(shapes[n], dtype=self._dtypes[n], device=self.device)
            outputs = {
                n: torch.empty(
                    tuple(int(d) for d in ctx.get_tensor_shape(n)), dtype=self._dtypes[n], device=self.device
                )
                for n in self.output_names
            }
            for n, t in {**inputs, **outputs}.items():
                ctx.set_tensor_address(n, t.data_ptr())
                # Allocated on the current stream, used on the engine's: the caching allocator must not
                # hand the memory out again before the engine's stream is done with it.
                t.record_stream(self._stream)
            self._stream.wait_stream(torch.cuda.current_stream(self.device))  # the buffers' zero-fill
            # A first launch outside capture lets TensorRT finish its shape-dependent setup.
            if not ctx.execute_async_v3(self._stream.cuda_stream):
                raise TrtRefusedError(
                    f"TensorRT failed to run the engine ({self._logger.last_error()}); run with -v for its log"
                )
            self._stream.synchronize()
            graph = self._capture(ctx) if self.cuda_graphs else None
        state = _ShapeState(ctx, inputs, outputs, graph)
        self._states[key] = state
        return state

    def _evict(self, key) -> None:
        """Drops a cached state. Its context, CUDA graph and buffers may still be in use by work queued on
        the engine's stream: wait for that first (run_device's callers are covered by record_stream)."""
        state = self._states.pop(key)
        self._stream.synchronize()
        state.release()

    def _capture(self, ctx):
        torch = self._torch
        g = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(g, stream=self._stream, capture_error_mode="thread_local"):
                ok = ctx.execute_async_v3(self._stream.cuda_stream)
        except RuntimeError as e:
            self.graph_errors.append(" ".join(str(e).split())[:300])
            self._stream.synchronize()
            return None
        if not ok:
            self.graph_errors.append(f"enqueue during capture failed: {self._logger.last_error()}")
            return None
        return g

    def _launch(self, state: _ShapeState) -> None:
        if state.graph is not None:
            state.graph.replay()
        elif not state.context.execute_async_v3(self._stream.cuda_stream):
            raise TrtRefusedError(
                f"TensorRT failed to run the engine ({self._logger.last_error()}); run with -v for its log"
            )

    def uses_cuda_graph(self, batch: int | None = None) -> bool | None:
        """Whether the state for ``batch`` (at the opt shape) was captured; None if not run yet."""
        shapes = {n: (batch or self.opt_batch, *self.profile[n][1][1:]) for n in self.input_names}
        st = self._states.get(tuple(shapes[n] for n in self.input_names))
        return None if st is None else st.graph is not None

    def run_device(self, feed: dict) -> dict:
        """Run on torch CUDA tensors whose batch lies within the profile.

        Returns the engine's own output tensors: they are overwritten by the next call
        with the same shapes (clone them to keep them). The work is queued on the engine's
        stream; the returned tensors are safe to read on the current stream.
        """
        torch = self._torch
        self._check_feed(feed)
        b = int(next(iter(feed.values())).shape[0])
        if not self.min_batch <= b <= self.max_batch:
            raise ValueError(f"batch {b} is outside the engine's profile ({self.min_batch}..{self.max_batch})")
        state = self._state_for({n: tuple(int(d) for d in feed[n].shape) for n in self.input_names})
        cur = torch.cuda.current_stream(self.device)
        self._stream.wait_stream(cur)
        with torch.cuda.stream(self._stream):
            for n in self.input_names:
                state.inputs[n].copy_(feed[n], non_blocking=True)  # converts to the engine's dtype
            self._launch(state)
        cur.wait_stream(self._stream)
        for t in state.outputs.values():  # read on the caller's stream: keep them until that is done too
            t.record_stream(cur)
        return state.outputs

    def __call__(self, feed: dict[str, Any]) -> dict[str, np.ndarray]:
        feed = {n: np.asarray(v) for n, v in feed.items()}
        self._check_feed(feed)
        total = int(next(iter(feed.values())).shape[0])
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, total, self.max_batch):
            chunk = {n: v[start : start + self.max_batch] for n, v in feed.items()}
            n_real = int(next(iter(chunk.values())).shape[0])
            if n_real < self.min_batch:
                chunk = {
                    n: np.concatenate([v, np.zeros((self.min_batch - n_real, *v.shape[1:]), v.dtype)])
                    for n, v in chunk.items()
                }
            out = self._run_host(chunk)
            parts.append({n: v[:n_real] for n, v in out.items()})
        if len(parts) == 1:
            return parts[0]
        return {n: np.concatenate([p[n] for p in parts]) for n in self.output_names}

    def _run_host(self, chunk: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        state = self._state_for({n: tuple(int(d) for d in v.shape) for n, v in chunk.items()})
        with torch.cuda.stream(self._stream):
            for n in self.input_names:
                src = torch.from_numpy(np.ascontiguousarray(chunk[n]))
                state.inputs[n].copy_(src.to(self._dtypes[n]), non_blocking=False)
            self._launch(state)
            out = {}
            for n in self.output_names:
                t = state.outputs[n]
                if t.dtype == torch.bfloat16:
                    t = t.float()
                out[n] = t.to("cpu", non_blocking=False)
        self._stream.synchronize()
        return {n: t.numpy() for n, t in out.items()}

    def close(self) -> None:
        """Frees the cached states (after the work queued with them is done) and the engine. Idempotent."""
        if self._states and self._stream is not None:
            self._stream.synchronize()
        for state in self._states.values():
            state.release()
        self._states.clear()
        self.engine = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
