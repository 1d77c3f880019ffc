"""ONNX Runtime for the exported graphs: providers, sessions, and a feed -> outputs runner.

- CPU (``provider="cpu"``): the portable graph as it is; a graph with NA nodes with the NA
  custom-op library (``libnat_export_ort.so``), or, when asked (``expand_missing_op=True``),
  with every NA node expanded into standard ops.
- TensorRT EP (``provider="tensorrt"``): the NA TensorRT plugin through
  ``trt_extra_plugin_lib_paths``. The EP exposes plugin creators as custom ops of the
  ``trt.plugins`` domain, the exporter's NA domain. The EP of the PyPI ``onnxruntime-gpu``
  wheel is linked against one TensorRT major (TensorRT 10 up to 1.26; NVIDIA lists ONNX
  Runtime 1.27+ for TensorRT 11): install that TensorRT next to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "CPU_EP",
    "CUDA_EP",
    "OrtError",
    "PROVIDERS",
    "TRT_EP",
    "make_session",
    "onnx_session",
    "run_session",
    "session_runner",
    "tensorrt_ep_providers",
]

TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
PROVIDERS = ("cpu", "tensorrt")
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OrtError(RuntimeError):
    """ONNX Runtime refused a model or a run; the message carries ONNX Runtime's own first line."""


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    for marker in ("] ", "Exception during initialization: "):
        if marker in text and text.startswith("["):
            text = text.split(marker, 1)[1]
    return text[:400]


def tensorrt_ep_providers(
    plugin_lib: str | Path | None,
    fp16: bool = False,
    engine_cache_dir: str | Path | None = None,
    *,
    profile: dict | None = None,
) -> list[tuple[str, dict]]:
    """``providers=`` for an ``InferenceSession`` on the TensorRT EP, CUDA and CPU behind it.

    ``plugin_lib``: the auto-registering plugin library (``libnat_export_trt_autoreg.so``),
    needed when the graph has NA nodes. ``engine_cache_dir``: where the EP keeps its engines
    and timing cache between sessions (None: no cache). ``profile``: ``{input: {"min", "opt",
    "max"}}`` shapes (as :meth:`nat_export.tensorrt.profiles.Profile.to_json`) for
    explicit optimization profiles.
    """
    opts: dict = {"trt_fp16_enable": bool(fp16)}
    if plugin_lib is not None:
        opts["trt_extra_plugin_lib_paths"] = str(plugin_lib)
    if engine_cache_dir is not None:
        d = Path(engine_cache_dir)
        d.mkdir(parents=True, exist_ok=True)
        opts.update(
            trt_engine_cache_enable=True,
            trt_engine_cache_path=str(d),
            trt_timing_cache_enable=True,
            trt_timing_cache_path=str(d),
        )
    if profile:
        for key, opt_name in (
            ("min", "trt_profile_min_shapes"),
            ("opt", "trt_profile_opt_shapes"),
            ("max", "trt_profile_max_shapes"),
        ):
            opts[opt_name] = ",".join(f"{n}:{'x'.join(str(d) for d in s[key])}" for n, s in profile.items())
    return [(TRT_EP, opts), (CUDA_EP, {}), (CPU_EP, {})]


def make_session(model, custom_op_library: str | Path | None = None, threads: int | None = None, providers=None):
    """An ``InferenceSession`` (CPU unless ``providers`` say otherwise) for a path or a ``ModelProto``.

    Raises:
        OrtError: ONNX Runtime refused the model or the op library (its message, on one line).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    src = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    try:
        if custom_op_library is not None:
            so.register_custom_ops_library(str(custom_op_library))
        return ort.InferenceSession(src, so, providers=providers or [CPU_EP])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types (Fail, InvalidGraph, ...)
        raise OrtError(
            f"ONNX Runtime cannot load the model: {_one_line(e)}; re-export it with `nat-export onnx`"
        ) from None


def onnx_session(
    onnx_path: str | Path,
    *,
    provider: str = "cpu",
    plugin_lib: str | Path | None = None,
    fp16: bool = False,
    engine_cache_dir: str | Path | None = None,
    threads: int | None = None,
    has_na: bool | None = None,
):
    """An ``InferenceSession`` for an exported graph file.

    ``provider="cpu"``: the portable graph as it is, an NA graph with the ORT custom-op
    library (``plugin_lib`` or :func:`nat_export.native.find_library` ``('ort')``).
    ``provider="tensorrt"``: the TensorRT EP with the TensorRT plugin
    (``plugin_lib`` or ``find_library('trt_autoreg')``). ``has_na``: whether the graph has NA
    nodes (read from the file when None).

    Raises:
        ValueError: unknown provider.
        nat_export.native.PluginNotFoundError: the library the graph needs is not built / not there.
        nat_export.tensorrt.TrtError: the TensorRT EP is not available or not enabled.
        OrtError: ONNX Runtime refused the model.
    """
    from .native import find_library

    onnx_path = Path(onnx_path)
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    if has_na is None:
        from .onnx.files import read_onnx

        has_na = read_onnx(onnx_path)[1].na_nodes > 0
    if provider == "cpu":
        lib = find_library("ort", plugin_lib) if (has_na or plugin_lib is not None) else None
        return make_session(onnx_path, custom_op_library=lib, threads=threads)

    import onnxruntime as ort

    from .tensorrt.env import TrtError

    if TRT_EP not in ort.get_available_providers():
        raise TrtError(
            f"this ONNX Runtime ({ort.__version__}) has no TensorRT execution provider; install onnxruntime-gpu "
            "and the TensorRT version it was built with (TensorRT 10 for onnxruntime-gpu <= 1.26)"
        )
    lib = find_library("trt_autoreg", plugin_lib) if (has_na or plugin_lib is not None) else None
    sess = make_session(onnx_path, threads=threads, providers=tensorrt_ep_providers(lib, fp16, engine_cache_dir))
    if TRT_EP not in sess.get_providers():
        raise TrtError(
            f"ONNX Runtime could not enable the TensorRT EP for {onnx_path} (providers: {sess.get_providers()}); "
            "run with -v for ONNX Runtime's reason, or use --provider cpu"
        )
    return sess


def input_numpy_type(session, name: str | None = None):
    """The numpy dtype a session input takes (float32 / float16).

    Raises:
        OrtError: a bfloat16 input (ONNX Runtime on the CPU cannot run bf16 graphs).
    """
    inp = next(i for i in session.get_inputs() if name is None or i.name == name)
    if inp.type == "tensor(bfloat16)":
        raise OrtError("ONNX Runtime on the CPU cannot run a bfloat16 graph; build a TensorRT engine from it")
    return _NUMPY_TYPES.get(inp.type, np.float32)


def session_runner(session):
    """``feed dict -> output dict`` over a session (numpy in and out; float inputs cast to the graph's type).

    Raises (when called):
        OrtError: ONNX Runtime failed the run (its message, on one line).
    """
    names = [o.name for o in session.get_outputs()]
    types = {i.name: _NUMPY_TYPES.get(i.type) for i in session.get_inputs()}

    def run(feed: dict) -> dict:
        cast = {k: (np.asarray(v).astype(types[k]) if types.get(k) is not None else v) for k, v in feed.items()}
        try:
            outs = session.run(names, cast)
        except Exception as e:  # noqa: BLE001 - onnxruntime's own exception types
            raise OrtError(
                f"ONNX Runtime failed to run the model: {_one_line(e)}; check the model with `nat-export validate`"
            ) from None
        return {n: np.asarray(o) for n, o in zip(names, outs)}

    run.input_names = [i.name for i in session.get_inputs()]  # type: ignore[attr-defined]
    run.output_names = names  # type: ignore[attr-defined]
    return run


def run_session(session, pixel_values: np.ndarray) -> dict[str, np.ndarray]:
    """Feed ``pixel_values`` to the first input (cast to the graph's input type) and return every output.

    Raises:
        OrtError: a bfloat16 graph, or a failed run.
    """
    inp = session.get_inputs()[0]
    input_numpy_type(session, inp.name)
    return session_runner(session)({inp.name: pixel_values})
