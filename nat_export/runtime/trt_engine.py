"""Run a TensorRT engine from Python: :class:`TrtEngine`.

Also holds what engine building and running share: importing TensorRT with a clear error,
the GPU check that must come before any TensorRT ``Runtime``/``Builder`` is constructed
(constructing one without a GPU crashes the process), the TensorRT logger, loading the
plugin library, and reading the engine's JSON sidecar (``ENGINE.json``, written by
:mod:`nat_export.runtime.trt_build`).

Device buffers and CUDA graphs come from ``torch.cuda`` (torch is already a dependency; a
CUDA build of PyTorch is needed to run engines).
"""
from __future__ import annotations

import ctypes
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

TRT_INSTALL_HINT = (
    "install TensorRT for Python (pip install tensorrt-cu12 or tensorrt-cu13, matching your CUDA; "
    "or the TensorRT tar/deb packages from NVIDIA)"
)
SIDECAR_SUFFIX = ".json"
NA_PLUGIN_NAME = "NeighborhoodAttention2D"


class TrtError(RuntimeError):
    """TensorRT, a GPU or an engine is not usable; the message names the problem and the fix."""


# ---------------------------------------------------------------- TensorRT and the GPU


def import_tensorrt(allow_lean: bool = False):
    """The ``tensorrt`` module, or a :class:`TrtError` saying how to install it.

    With ``allow_lean``, TensorRT's lean runtime (``tensorrt_lean_bindings``, on PyPI) is used
    when the full package is missing: it runs version-compatible engines only.
    """
    try:
        import tensorrt as trt

        return trt
    except ImportError as e:
        if allow_lean:
            try:
                import tensorrt_lean_bindings as trt_lean

                return trt_lean
            except ImportError:
                pass
        if getattr(e, "name", None) not in (None, "tensorrt"):
            raise TrtError(f"TensorRT is installed but cannot be imported ({e}); reinstall it: {TRT_INSTALL_HINT}") from None
        raise TrtError(f"TensorRT is not installed (no Python module 'tensorrt'); {TRT_INSTALL_HINT}") from None
    except OSError as e:  # the wheel is there but its shared libraries are not loadable
        raise TrtError(f"TensorRT's libraries cannot be loaded ({e}); {TRT_INSTALL_HINT}") from None


def trt_major(trt) -> int:
    try:
        return int(str(trt.__version__).split(".")[0])
    except (AttributeError, ValueError):
        return 0


def _libcuda():
    try:
        return ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None


def cuda_device_count() -> int:
    """Number of CUDA GPUs the driver sees (0 without a driver); touches neither TensorRT nor torch."""
    lib = _libcuda()
    if lib is None:
        return 0
    if lib.cuInit(0) != 0:
        return 0
    n = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(n)) != 0:
        return 0
    return n.value


def gpu_info(ordinal: int = 0) -> dict | None:
    """``{"name", "compute_capability", "driver"}`` of a GPU, or None without one."""
    lib = _libcuda()
    if lib is None or lib.cuInit(0) != 0:
        return None
    dev = ctypes.c_int(0)
    if lib.cuDeviceGet(ctypes.byref(dev), ordinal) != 0:
        return None
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, dev)
    major, minor, drv = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    lib.cuDriverGetVersion(ctypes.byref(drv))
    return {
        "name": name.value.decode(errors="replace"),
        "compute_capability": f"{major.value}.{minor.value}",
        "driver": f"{drv.value // 1000}.{(drv.value % 1000) // 10}",
    }


def require_gpu(what: str) -> None:
    """Raise :class:`TrtError` unless a CUDA GPU is usable. Call before creating any TensorRT Runtime/Builder."""
    if cuda_device_count() < 1:
        raise TrtError(
            f"{what} needs an NVIDIA GPU, and none is usable here (no CUDA driver libcuda.so.1 or no device); "
            "run it on a machine with a GPU and its driver"
        )


def make_logger(trt, verbose: bool = False):
    """A TensorRT logger that keeps the errors (they end up in one-line messages); prints everything when verbose."""
    import sys

    class _Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg):
            sev = getattr(severity, "name", str(severity))
            if sev in ("ERROR", "INTERNAL_ERROR"):
                self.errors.append(" ".join(str(msg).split()))
            if verbose:
                print(f"[TensorRT {sev}] {msg}", file=sys.stderr)

        def last_error(self, default: str = "no error was logged") -> str:
            return self.errors[-1] if self.errors else default

    return _Logger()


_LOADED_PLUGINS: dict[str, object] = {}


def load_plugin_library(registry, path: str | Path, logger=None):
    """Register the creators of a plugin library (``libnat_export_trt.so``) with a TensorRT registry.

    Once per process: TensorRT's registry is process-wide and refuses a second registration of
    the same creator, so a library already loaded (by an earlier build or engine, or the
    auto-registering library loaded by someone else) is not loaded again.
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
        raise TrtError(
            f"TensorRT could not load the plugin library {path}" + (f" ({why})" if why else "")
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


# ---------------------------------------------------------------- sidecar


def sidecar_path(engine_path: str | Path) -> Path:
    """``ENGINE.json`` beside ``ENGINE`` (e.g. ``nat_tiny.engine.json``)."""
    p = Path(engine_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def read_sidecar(engine_path: str | Path) -> dict | None:
    """The engine's sidecar, or None when there is none."""
    p = sidecar_path(engine_path)
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise TrtError(f"sidecar {p} is not readable JSON ({e}); rebuild the engine with `nat-export trt ... --force`") from None
    return data if isinstance(data, dict) else None


def check_engine_version(sidecar: dict | None, running_version: str, engine_path: str | Path) -> None:
    """An engine runs only with the TensorRT version that built it (unless built version-compatible)."""
    if not sidecar or sidecar.get("version_compatible"):
        return
    built = sidecar.get("tensorrt_version")
    if built and str(built) != str(running_version):
        raise TrtError(
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


# ---------------------------------------------------------------- execution


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
        if cuda_device_count() > 0:
            raise TrtError(
                "TrtEngine keeps its buffers in GPU memory through torch.cuda, but this PyTorch is a CPU-only build; "
                "install a CUDA build of PyTorch (https://pytorch.org/get-started/locally/)"
            )
        raise TrtError("running a TensorRT engine needs an NVIDIA GPU, and none is usable here (no CUDA driver or device)")
    return torch


class _ShapeState:
    """One execution context bound to one set of input shapes, its buffers and CUDA graph."""

    def __init__(self, context, inputs: dict, outputs: dict, graph):
        self.context, self.inputs, self.outputs, self.graph = context, inputs, outputs, graph


class TrtEngine:
    """A TensorRT engine built by ``nat-export trt``, called with numpy arrays.

    ``engine(feed)`` takes ``{input name: array}`` and returns ``{output name: array}``.
    Batches larger than the engine's optimization profile are split into chunks of its
    maximum batch, smaller ones are zero-padded up to its minimum; the first axis of every
    input and output is the batch. Each distinct set of input shapes gets its own execution
    context and, where TensorRT allows it, a CUDA graph (``cuda_graphs=False`` turns them off;
    :attr:`graph_errors` says why a capture failed).

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
            raise FileNotFoundError(f"engine {self.path} not found; build one with `nat-export trt MODEL.onnx -o {self.path}`")
        self.sidecar: dict = read_sidecar(self.path) or {}
        version_compatible = bool(self.sidecar.get("version_compatible"))
        trt = import_tensorrt(allow_lean=version_compatible)
        self.trt = trt
        self.tensorrt_version = str(trt.__version__)
        check_engine_version(self.sidecar, self.tensorrt_version, self.path)
        torch = _require_torch_cuda()  # also the GPU check: before any TensorRT Runtime exists
        self._torch = torch
        self.device = torch.device("cuda", device)
        self.plugin_path = self._plugin_path(plugin_lib)

        self._logger = make_logger(trt, verbose)
        with torch.cuda.device(self.device):
            self._runtime = trt.Runtime(self._logger)
            if version_compatible and hasattr(self._runtime, "engine_host_code_allowed"):
                self._runtime.engine_host_code_allowed = True
            if self.plugin_path is not None:
                self._plugin_handle = load_plugin_library(self._runtime.get_plugin_registry(), self.plugin_path, self._logger)
            self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise TrtError(self._deserialize_error())

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
        self._states: OrderedDict[tuple, _ShapeState] = OrderedDict()
        self._stream = torch.cuda.Stream(device=self.device)

    # ------------------------------------------------------------ setup helpers

    def _plugin_path(self, plugin_lib) -> Path | None:
        from ..native import PluginNotFoundError, find_library

        if plugin_lib is not None:
            return find_library("trt", plugin_lib)
        needs = engine_needs_plugin(self.sidecar)
        if needs is False or (self.sidecar.get("version_compatible") and self.sidecar.get("plugin_serialized")):
            return None
        try:
            return find_library("trt")
        except PluginNotFoundError:
            if needs:
                raise
            return None  # no sidecar: the engine may not need the plugin

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
            here = gpu_info(self.device.index or 0) or {}
            if here.get("name") and here.get("name") != built.get("name"):
                hint += f"; it was built on {built['name']}, this GPU is {here['name']}"
        return f"TensorRT cannot load the engine {self.path}" + (f" ({why})" if why else "") + (hint or "")

    def _torch_dtype(self, trt_dtype):
        name = getattr(trt_dtype, "name", str(trt_dtype))
        if name not in _TORCH_DTYPE_NAMES:
            raise TrtError(f"engine tensor type {name} is not supported by TrtEngine")
        return getattr(self._torch, _TORCH_DTYPE_NAMES[name])

    # ------------------------------------------------------------ info

    @property
    def labels(self) -> list[str] | None:
        return self.sidecar.get("labels")

    @property
    def preprocessing(self) -> dict | None:
        return self.sidecar.get("preprocessing")

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
                raise ValueError(f"input {n} needs {len(lo)} dims like {list(self.profile[n][1])}, got shape {list(v.shape)}")
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
        with torch.cuda.device(self.device):
            ctx = self.engine.create_execution_context()
            if ctx is None:
                raise TrtError(f"TensorRT could not create an execution context ({self._logger.last_error()}); is the GPU out of memory?")
            inputs = {}
            for n in self.input_names:
                if not ctx.set_input_shape(n, shapes[n]):
                    raise TrtError(f"TensorRT refused shape {list(shapes[n])} for input {n} ({self._logger.last_error()})")
                inputs[n] = torch.zeros(shapes[n], dtype=self._dtypes[n], device=self.device)
            outputs = {
                n: torch.empty(tuple(int(d) for d in ctx.get_tensor_shape(n)), dtype=self._dtypes[n], device=self.device)
                for n in self.output_names
            }
            for n, t in {**inputs, **outputs}.items():
                ctx.set_tensor_address(n, t.data_ptr())
            self._stream.wait_stream(torch.cuda.current_stream(self.device))  # the buffers' zero-fill
            # A first launch outside capture lets TensorRT finish its shape-dependent setup.
            if not ctx.execute_async_v3(self._stream.cuda_stream):
                raise TrtError(f"TensorRT failed to run the engine ({self._logger.last_error()})")
            self._stream.synchronize()
            graph = self._capture(ctx) if self.cuda_graphs else None
        state = _ShapeState(ctx, inputs, outputs, graph)
        self._states[key] = state
        while len(self._states) > self._max_cached:
            self._states.popitem(last=False)
        return state

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
            raise TrtError(f"TensorRT failed to run the engine ({self._logger.last_error()})")

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
                state.inputs[n].copy_(feed[n], non_blocking=True)
            self._launch(state)
        cur.wait_stream(self._stream)
        return state.outputs

    def __call__(self, feed: dict[str, Any]) -> dict[str, np.ndarray]:
        feed = {n: np.asarray(v) for n, v in feed.items()}
        self._check_feed(feed)
        total = int(next(iter(feed.values())).shape[0])
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, total, self.max_batch):
            chunk = {n: v[start:start + self.max_batch] for n, v in feed.items()}
            n_real = int(next(iter(chunk.values())).shape[0])
            if n_real < self.min_batch:
                chunk = {
                    n: np.concatenate([v, np.zeros((self.min_batch - n_real, *v.shape[1:]), v.dtype)]) for n, v in chunk.items()
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
        self._states.clear()
        self.engine = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
