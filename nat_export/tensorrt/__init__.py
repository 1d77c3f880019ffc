"""The TensorRT backend: environment, plugin loading, profiles, precision, build, engine, sidecar.

Laid out as Polygraphy's ``backend/trt`` (loader / config / profile / runner) and mmdeploy's
``backend/tensorrt`` (init_plugins / utils / wrapper):

- :mod:`.env`        import TensorRT, versions, the GPU check, the logger
- :mod:`.plugins`    load the NA plugin library into a registry, once
- :mod:`.profiles`   optimization profiles from min / opt / max shapes
- :mod:`.precision`  the fp32 / fp16 / bf16 build policy per TensorRT major
- :mod:`.build`      ONNX -> engine (+ sidecar)
- :mod:`.engine`     :class:`TrtEngine`: run an engine on numpy or torch CUDA tensors
- :mod:`.sidecar`    the ``ENGINE.json`` format, written and read

Importing this package does not import ``tensorrt``: that happens when a build or engine needs it.
"""

from .build import BuildOptions, BuildResult, build_engine
from .engine import TrtEngine
from .env import TrtError, cuda_device_count, gpu_info, import_tensorrt, require_gpu
from .precision import PRECISIONS, PrecisionPlan, precision_plan
from .profiles import Profile, ProfileError, parse_shape_arg, profiles_from_args
from .sidecar import read_sidecar, sidecar_path

__all__ = [
    "PRECISIONS",
    "BuildOptions",
    "BuildResult",
    "PrecisionPlan",
    "Profile",
    "ProfileError",
    "TrtEngine",
    "TrtError",
    "build_engine",
    "cuda_device_count",
    "gpu_info",
    "import_tensorrt",
    "parse_shape_arg",
    "precision_plan",
    "profiles_from_args",
    "read_sidecar",
    "require_gpu",
    "sidecar_path",
]
