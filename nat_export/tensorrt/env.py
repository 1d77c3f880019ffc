"""TensorRT's Python module, its version, the GPU check and the logger: what build and run share.

Never construct a TensorRT ``Runtime`` or ``Builder`` without a GPU: it crashes the process.
:func:`require_gpu` checks through the CUDA driver (``libcuda.so.1``) without touching
TensorRT or torch, and comes first.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = [
    "TRT_INSTALL_HINT",
    "EngineFileError",
    "TrtError",
    "TrtRefusedError",
    "cuda_device_count",
    "gpu_info",
    "import_tensorrt",
    "make_logger",
    "require_gpu",
    "trt_major",
]

TRT_INSTALL_HINT = (
    "install TensorRT for Python (pip install tensorrt-cu12 or tensorrt-cu13, matching your CUDA; "
    "or the TensorRT tar/deb packages from NVIDIA)"
)


class TrtError(RuntimeError):
    """TensorRT or a GPU is not usable here; the message names the problem and the fix (CLI exit code 1)."""


class TrtRefusedError(TrtError):
    """TensorRT refused the model, the plugin library, the engine or a run (CLI exit code 1)."""


class EngineFileError(TrtError):
    """An engine or its sidecar that must be rebuilt (another TensorRT version, unreadable sidecar) (CLI exit code 1)."""


def import_tensorrt(allow_lean: bool = False):
    """The ``tensorrt`` module.

    With ``allow_lean``, TensorRT's lean runtime (``tensorrt_lean_bindings``, on PyPI) is used
    when the full package is missing: it runs version-compatible engines only.

    Raises:
        TrtError: TensorRT is missing or its libraries do not load (the message says how to install it).
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
            raise TrtError(
                f"TensorRT is installed but cannot be imported ({e}); reinstall it: {TRT_INSTALL_HINT}"
            ) from None
        raise TrtError(f"TensorRT is not installed (no Python module 'tensorrt'); {TRT_INSTALL_HINT}") from None
    except OSError as e:  # the wheel is there but its shared libraries are not loadable
        raise TrtError(f"TensorRT's libraries cannot be loaded ({e}); {TRT_INSTALL_HINT}") from None


def trt_major(trt) -> int:
    """The major version of a ``tensorrt`` module (0 when it does not say)."""
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
    """Call before creating any TensorRT Runtime/Builder.

    Raises:
        TrtError: no CUDA driver or no device.
    """
    if cuda_device_count() < 1:
        raise TrtError(
            f"{what} needs an NVIDIA GPU, and none is usable here (no CUDA driver libcuda.so.1 or no device); "
            "run it on a machine with a GPU and its driver"
        )


def make_logger(trt, verbose: bool = False):
    """A TensorRT ``ILogger`` that keeps the errors (they end up in one-line messages); prints all when verbose."""

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
