"""One way to run a model file, whatever it is: :func:`open_model` -> :class:`ModelRunner`.

Runners are Polygraphy ``BaseRunner`` s (``activate`` / ``get_input_metadata`` / ``infer``,
``inference_time`` in seconds), so Polygraphy's ``Comparator`` can run them side by side.
Each also carries what nat-export knows of its model (:attr:`ModelRunner.description`: labels,
preprocessing, resolution), its input name / shape / dtype and the batch sizes it takes, so
``infer``, ``bench`` and ``validate`` do no backend work of their own:

- :class:`OrtRunner`    an ONNX file in ONNX Runtime (CPU with the NA op library, or the TensorRT EP)
- :class:`TrtRunner`    a TensorRT engine (:class:`nat_export.tensorrt.TrtEngine`)
- :class:`TorchRunner`  the PyTorch reference model
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from polygraphy.backend.base import BaseRunner
from polygraphy.common import TensorMetadata

from ..onnx.files import OnnxFacts, concrete_shape, read_onnx
from ..onnx.metadata import ModelDescription

__all__ = ["ModelRunner", "OrtRunner", "RunnerError", "TorchRunner", "TrtRunner", "is_onnx", "open_model"]


class RunnerError(ValueError):
    """Input the model cannot take (batch, shape) or a model file it cannot open; the message says the fix."""


def is_onnx(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


class ModelRunner(BaseRunner):
    """A model ready to run, with what is known of it.

    Attributes:
        description: the model's :class:`~nat_export.onnx.metadata.ModelDescription`.
        input_name: the (first) input, ``pixel_values`` for nat-export files.
        input_dims: its dims (int, or None where dynamic).
        input_dtype: the numpy dtype fed to it (float32 unless the file takes float16).
        output_names: outputs, in order.
        min_batch, max_batch: the batch sizes it takes (``max_batch`` None: any).
        backend: a one-line description (``ONNX Runtime 1.32.0 CPUExecutionProvider`` ...).
    """

    description: ModelDescription
    input_name: str
    input_dims: list
    input_dtype: type = np.float32
    output_names: list[str]
    min_batch: int = 1
    max_batch: int | None = None
    backend: str = ""
    notes: Sequence[str] = ()  # what the caller should be told about how the model runs

    def shape_for_batch(self, batch: int, resolution=None) -> tuple[int, ...]:
        """The concrete input shape for ``batch``: dynamic H, W take ``resolution`` (H, W), else the recorded one.

        Raises:
            RunnerError: the batch is outside what the model takes, ``resolution`` differs from a fixed input size,
                or a dynamic axis nothing fixes.
        """
        self.check_batch(batch)
        if resolution is not None:
            self.check_resolution(resolution)
        try:
            return concrete_shape(self.input_dims, batch, resolution or self.description.resolution)
        except ValueError as e:
            raise RunnerError(
                f"{e} of {self.name} is dynamic and the model records no resolution; export it with `nat-export onnx --resolution HxW`"
            ) from None

    def check_resolution(self, resolution) -> None:
        """Raises RunnerError when the input's fixed height / width are not ``resolution`` (H, W)."""
        hw = list(self.input_dims[2:4]) if len(self.input_dims) == 4 else []
        fixed = [d for d in hw if isinstance(d, int) and d > 0]
        if fixed and (len(fixed) < 2 or tuple(fixed) != tuple(resolution)):
            size = "x".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in hw)
            raise RunnerError(
                f"{self.name} takes {size} inputs, not {resolution[0]}x{resolution[1]}; leave out --resolution, or "
                "export with `nat-export onnx --dynamic-resolution` for other sizes"
            )

    def check_batch(self, batch: int) -> None:
        """Raises RunnerError when ``batch`` is not one this model takes in one call."""
        if batch < 1:
            raise RunnerError(f"batch must be >= 1, got {batch}; give a positive batch size")
        if batch < self.min_batch or (self.max_batch is not None and batch > self.max_batch):
            hi = self.max_batch if self.max_batch is not None else "any"
            raise RunnerError(
                f"batch {batch} is outside what {self.name} takes ({self.min_batch}..{hi}); give a batch in that range"
            )

    def get_input_metadata_impl(self):
        dims = [d if isinstance(d, int) and d > 0 else None for d in self.input_dims]
        return TensorMetadata().add(self.input_name, self.input_dtype, dims)

    def __call__(self, feed: dict) -> dict[str, np.ndarray]:
        """Run once (activating the runner if needed); ``feed`` maps input names to arrays."""
        if not self.is_active:
            self.activate()
        return self.infer(feed, check_inputs=False)

    def timed_call(self, batch: int, resolution=None):
        """A no-argument callable that runs one batch of random input (for benchmarks), at ``resolution``
        (H, W) when the input size is dynamic."""
        x = np.random.default_rng(0).standard_normal(self.shape_for_batch(batch, resolution)).astype(self.input_dtype)
        feed = {self.input_name: x}
        if not self.is_active:
            self.activate()
        return lambda: self.infer(feed, check_inputs=False)

    def deactivate_impl(self):
        pass

    def __del__(self):  # a runner used through __call__ is deactivated quietly when dropped
        if getattr(self, "is_active", False):
            try:
                self.deactivate()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def _timed(self, fn, feed):
        start = time.perf_counter()
        out = fn(feed)
        self.inference_time = time.perf_counter() - start
        return OrderedDict((n, out[n]) for n in self.output_names if n in out)


class OrtRunner(ModelRunner):
    """An ONNX file in ONNX Runtime; ``session`` is an ``InferenceSession``."""

    def __init__(self, session, facts: OnnxFacts, label: str | None = None):
        import onnxruntime as ort

        from ..ort import input_numpy_type, session_runner

        super().__init__(name=label or str(facts.path), prefix="ort-runner")
        self.session, self.facts = session, facts
        self.description = facts.description
        self.input_name = facts.input_name
        self.input_dims = list(facts.input_shape)
        self.input_dtype = input_numpy_type(session, self.input_name)
        self.output_names = list(facts.outputs)
        fixed = facts.fixed_batch
        self.min_batch, self.max_batch = (fixed, fixed) if fixed is not None else (1, None)
        self.backend = f"ONNX Runtime {ort.__version__} {session.get_providers()[0]}"
        self._run = session_runner(session)

    def check_batch(self, batch: int) -> None:
        if self.facts.fixed_batch is not None and batch != self.facts.fixed_batch:
            raise RunnerError(
                f"{self.facts.path} has a fixed batch of {self.facts.fixed_batch}, not {batch}; use batch "
                f"{self.facts.fixed_batch}, or re-export with a dynamic batch (nat-export onnx without --batch)"
            )
        super().check_batch(batch)

    def infer_impl(self, feed_dict):
        return self._timed(self._run, feed_dict)


class TrtRunner(ModelRunner):
    """A TensorRT engine. Larger batches than its profile are split, smaller ones padded (see TrtEngine)."""

    def __init__(self, engine, label: str | None = None):
        super().__init__(name=label or str(engine.path), prefix="trt-runner")
        self.engine = engine
        self.description = engine.description
        self.input_name = engine.input_names[0]
        self.input_dims = list(engine.input_shape())
        self.output_names = list(engine.output_names)
        self.min_batch, self.max_batch = 1, None  # TrtEngine.__call__ splits and pads
        self.backend = f"TensorRT {engine.tensorrt_version} {engine.precision or ''}".rstrip()

    def infer_impl(self, feed_dict):
        return self._timed(self.engine, feed_dict)

    def check_profile(self, batch: int, resolution=None) -> None:
        """Raises RunnerError when ``batch`` (or ``resolution``, H x W) is outside the engine's optimization
        profile (one call, no splitting)."""
        lo, hi = self.engine.min_batch, self.engine.max_batch
        if not lo <= batch <= hi:
            raise RunnerError(
                f"batch {batch} is outside the engine's profile ({lo}..{hi}); rebuild it with e.g. --min 1 "
                f"--opt {batch} --max {max(batch, hi)}, or use batches within the profile"
            )
        if resolution is not None:
            smin, smax = (self.engine.input_shape(None, which)[2:] for which in ("min", "max"))
            if not all(a <= r <= b for a, r, b in zip(smin, resolution, smax)):
                raise RunnerError(
                    f"{resolution[0]}x{resolution[1]} is outside the engine's profile ({smin[0]}x{smin[1]} .. "
                    f"{smax[0]}x{smax[1]}); rebuild it with --min/--max NxCxHxW covering it, or use sizes within"
                )

    def shape_for_batch(self, batch: int, resolution=None) -> tuple[int, ...]:
        """The engine's input shape for ``batch``: its profile's opt height / width unless ``resolution`` says.

        Raises:
            RunnerError: outside the engine's profile (:meth:`check_profile`).
        """
        self.check_profile(batch, resolution)
        shape = list(self.engine.input_shape(batch))
        if resolution is not None:
            shape[2:4] = resolution
        return tuple(shape)

    def device_call(self, batch: int, resolution=None):
        """A callable running one batch whose input stays on the GPU (the engine's own time, as trtexec's)."""
        import torch

        x = np.random.default_rng(0).standard_normal(self.shape_for_batch(batch, resolution)).astype(np.float32)
        xd = torch.from_numpy(x).to(self.engine.device)
        return lambda: self.engine.run_device({self.input_name: xd})


class TorchRunner(ModelRunner):
    """The PyTorch reference model (``nat_export.models.NAT``) in eval mode, no grad.

    ``output_names``: the names of the model's outputs: ``logits`` for a classifier, its ``out_features`` for a
    backbone (default: those).
    """

    def __init__(
        self,
        model,
        output_names: Sequence[str] | None = None,
        device: str = "cpu",
        dtype: str = "fp32",
        resolution: Sequence[int] | None = None,
        name: str = "pytorch",
    ):
        import torch

        super().__init__(name=name, prefix="torch-runner")
        self._model, self._device = model, device
        self._dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
        chans = model.config.in_chans
        self.description = ModelDescription(resolution=tuple(resolution) if resolution else None, dtype=dtype)
        self.input_name = "pixel_values"
        self.input_dims = [None, chans, None, None]
        cfg = model.config
        self.output_names = list(output_names or (cfg.out_features if cfg.is_backbone else ("logits",)))
        self.backend = f"PyTorch {torch.__version__} {device} {dtype}"

    def activate_impl(self):
        self._net = self._model.to(device=self._device, dtype=self._dtype).eval()

    def _forward(self, x):
        import torch

        with torch.inference_mode():
            out = self._net(x)
            return list(out) if isinstance(out, tuple) else [out]

    def infer_impl(self, feed_dict):
        import torch

        start = time.perf_counter()
        x = torch.from_numpy(np.asarray(feed_dict[self.input_name], dtype=np.float32))
        outs = self._forward(x.to(device=self._device, dtype=self._dtype))
        result = OrderedDict((n, o.float().cpu().numpy()) for n, o in zip(self.output_names, outs))
        self.inference_time = time.perf_counter() - start
        return result

    def timed_call(self, batch: int, resolution=None):
        import torch

        x = np.random.default_rng(0).standard_normal(self.shape_for_batch(batch, resolution)).astype(np.float32)
        if not self.is_active:
            self.activate()
        xt = torch.from_numpy(x).to(device=self._device, dtype=self._dtype)
        return lambda: self._forward(xt)

    def deactivate_impl(self):
        del self._net


ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def _check_engine_file(path: Path) -> None:
    """Anything that is not an .onnx file is taken for an engine only when it looks like one.

    Raises:
        RunnerError: neither an engine suffix nor a sidecar (e.g. an image given where the model goes).
    """
    from ..tensorrt.sidecar import sidecar_path

    if path.suffix.lower() in ENGINE_SUFFIXES or sidecar_path(path).is_file():
        return
    raise RunnerError(
        f"{path} is neither an .onnx file nor a TensorRT engine ({'/'.join(ENGINE_SUFFIXES)}, or with its sidecar "
        f"{sidecar_path(path).name}); pass the model file first, then the images"
    )


def open_model(
    path: str | Path,
    *,
    provider: str = "cpu",
    plugin: str | Path | None = None,
    ort_op_library: str | Path | None = None,
    fp16: bool = False,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    cuda_graphs: bool = True,
    expand_missing_op: bool = False,
    model=None,
    facts: OnnxFacts | None = None,
    verbose: bool = False,
) -> ModelRunner:
    """Open an exported ONNX file or a TensorRT engine as a runner; the file is parsed once.

    Args:
        path: ``*.onnx`` (ONNX Runtime) or anything else (a TensorRT engine with its sidecar).
        provider: ONNX Runtime provider for ONNX files: ``cpu`` or ``tensorrt`` (the TensorRT EP).
        plugin: the TensorRT plugin library (engines, and the TensorRT EP); default: the built one.
        ort_op_library: the ONNX Runtime NA op library (ONNX files with NA nodes on the CPU); default: the built one.
        fp16, cache_dir: TensorRT EP options (fp16 kernels; engine / timing cache folder).
        threads: ONNX Runtime intra-op threads.
        cuda_graphs: engines: replay CUDA graphs.
        expand_missing_op: CPU: when the op library is not built, run the NA nodes expanded into
            standard ops (needs ``model`` with weights, or loads it) instead of failing.
        model, facts: an already parsed ``ModelProto`` / :class:`OnnxFacts` of ``path`` (not parsed again).

    Raises:
        nat_export.onnx.files.OnnxFileError: the ONNX file is missing or does not parse.
        nat_export.native.PluginNotFoundError: a library the model needs is not built.
        nat_export.ort.OrtError / nat_export.tensorrt.TrtError: the backend refused the model.
    """
    from ..native import PluginNotFoundError, find_library
    from ..ort import make_session, onnx_session

    path = Path(path)
    if not is_onnx(path):
        from ..tensorrt import TrtEngine

        if not path.is_file():
            what = "is not a file" if path.exists() else "not found"
            raise FileNotFoundError(f"{path} {what}; pass an engine built by `nat-export trt` or an .onnx file")
        _check_engine_file(path)
        return TrtRunner(TrtEngine(path, plugin_lib=plugin, cuda_graphs=cuda_graphs, verbose=verbose))
    if facts is None:
        model, facts = read_onnx(path, load_weights=expand_missing_op)
    if provider != "cpu":
        sess = onnx_session(
            path,
            provider=provider,
            plugin_lib=plugin,
            fp16=fp16,
            engine_cache_dir=cache_dir,
            threads=threads,
            has_na=facts.na_nodes > 0,
        )
        return OrtRunner(sess, facts, label="ort-trt-ep")
    if facts.na_nodes == 0:
        lib = find_library("ort", ort_op_library) if ort_op_library is not None else None
        return OrtRunner(make_session(path, custom_op_library=lib, threads=threads), facts, label="ort")
    try:
        lib = find_library("ort", ort_op_library)
    except PluginNotFoundError:
        if ort_op_library is not None or not expand_missing_op:
            raise
        lib = None
    if lib is not None:
        runner = OrtRunner(make_session(path, custom_op_library=lib, threads=threads), facts, label="ort+na-op")
        runner.notes = [f"ONNX Runtime ran the custom-op graph with the NA op library {lib}"]
        return runner
    from ..export.portable import expand_na_nodes

    if model is None:
        model, _ = read_onnx(path, load_weights=True)
    runner = OrtRunner(make_session(expand_na_nodes(model), threads=threads), facts, label="ort-portable")
    runner.notes = [
        "the NA custom-op library is not built, so ONNX Runtime ran this graph with every NA node expanded "
        "into standard ops (--portable); run `nat-export build-plugins` to validate the custom-op graph itself"
    ]
    return runner
