"""ONNX Runtime sessions for the exported graphs: CPU (with the NA custom-op library when the
graph has NA nodes) or the TensorRT execution provider (with the NA TensorRT plugin).

The TensorRT EP of the PyPI ``onnxruntime-gpu`` wheel is linked against one TensorRT major
version (TensorRT 10 for the releases up to 1.26; NVIDIA's migration guide lists ONNX Runtime
1.27+ for TensorRT 11): install that TensorRT next to it. The EP loads the plugin through
``trt_extra_plugin_lib_paths`` and exposes its creators as custom ops of the ``trt.plugins``
domain, which is exactly the domain the exporter gives the NA node.
"""
from __future__ import annotations

from pathlib import Path

TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
PROVIDERS = ("cpu", "tensorrt")


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
    "max"}}`` shapes (as :meth:`nat_export.runtime.trt_build.Profile.to_json`) for
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
        for key, opt_name in (("min", "trt_profile_min_shapes"), ("opt", "trt_profile_opt_shapes"), ("max", "trt_profile_max_shapes")):
            opts[opt_name] = ",".join(f"{n}:{'x'.join(str(d) for d in s[key])}" for n, s in profile.items())
    return [(TRT_EP, opts), (CUDA_EP, {}), (CPU_EP, {})]


def graph_has_na_nodes(onnx_path: str | Path) -> bool:
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return any(n.op_type == "NeighborhoodAttention2D" for n in model.graph.node)


def onnx_session(
    onnx_path: str | Path,
    *,
    provider: str = "cpu",
    plugin_lib: str | Path | None = None,
    fp16: bool = False,
    engine_cache_dir: str | Path | None = None,
    threads: int | None = None,
):
    """An ``InferenceSession`` for an exported graph.

    ``provider="cpu"``: the portable graph as it is, an NA graph with the ORT custom-op
    library (``plugin_lib`` or :func:`nat_export.native.find_library` ``('ort')``).
    ``provider="tensorrt"``: the TensorRT EP with the TensorRT plugin
    (``plugin_lib`` or ``find_library('trt_autoreg')``).
    """
    from ..native import find_library

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX file {onnx_path} not found")
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    has_na = graph_has_na_nodes(onnx_path)
    if provider == "cpu":
        from .ort import make_session

        lib = find_library("ort", plugin_lib) if (has_na or plugin_lib is not None) else None
        return make_session(onnx_path, custom_op_library=lib, threads=threads)

    import onnxruntime as ort

    from .trt_engine import TrtError

    if TRT_EP not in ort.get_available_providers():
        raise TrtError(
            f"this ONNX Runtime ({ort.__version__}) has no TensorRT execution provider; install onnxruntime-gpu "
            "and the TensorRT version it was built with (TensorRT 10 for onnxruntime-gpu <= 1.26)"
        )
    lib = find_library("trt_autoreg", plugin_lib) if (has_na or plugin_lib is not None) else None
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), so, providers=tensorrt_ep_providers(lib, fp16, engine_cache_dir))
    if TRT_EP not in sess.get_providers():
        raise TrtError(f"ONNX Runtime could not enable the TensorRT EP for {onnx_path} (providers: {sess.get_providers()})")
    return sess


def session_runner(session):
    """``feed dict -> output dict`` over an ORT session (numpy in and out)."""
    names = [o.name for o in session.get_outputs()]

    def run(feed: dict) -> dict:
        return dict(zip(names, session.run(names, feed)))

    run.input_names = [i.name for i in session.get_inputs()]  # type: ignore[attr-defined]
    run.output_names = names  # type: ignore[attr-defined]
    return run
