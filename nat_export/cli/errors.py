"""Errors the CLI reports as one line (``nat-export CMD: error: <problem>; <fix>``) and their exit codes.

Exit codes (the one table, :func:`exit_code_table`; docs/cli.md shows it):

====  ==========================================================================================
0     success
1     any expected failure: bad arguments or files, a model / config / checkpoint / ONNX file / engine that
      cannot be used, a library or TensorRT / GPU / toolchain missing, ONNX Runtime or TensorRT refusing the
      model or the run, not enough memory, a failed validation. Also an unexpected error (a bug): one line
      asking to rerun with ``--debug`` for the traceback.
130   interrupted (Ctrl-C)
====  ==========================================================================================
"""

from __future__ import annotations

FAILED = 1
INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input that the user can fix; the message names the problem and the fix."""


def exit_code_table() -> list[tuple[tuple[type[BaseException], ...], int]]:
    """``[(exception types, exit code)]``: the expected failures, each reported as :func:`one_line`; the first
    match decides. Anything else is a bug (one line naming ``--debug``, exit 1)."""
    from ..models import CheckpointError, ConfigError
    from ..models.memory import MemoryCheckError
    from ..native import NativeBuildError
    from ..onnx.files import OnnxFileError
    from ..onnx.fp16 import Fp16ConversionError
    from ..onnx.metadata import MetadataError
    from ..ops import NAShapeError
    from ..ort import OrtError
    from ..runtime.runners import RunnerError
    from ..serving import RepositoryError, ServingError
    from ..tensorrt import ProfileError, TrtError
    from ..validate import ValidationError

    return [
        ((KeyboardInterrupt,), INTERRUPTED),
        (
            (
                UsageError,  # arguments
                OSError,  # files: missing, existing, folders, permissions, full disks (PluginNotFoundError too)
                ConfigError,  # model, checkpoint, ONNX file, metadata, shapes
                CheckpointError,
                OnnxFileError,
                MetadataError,
                NAShapeError,
                RunnerError,
                ProfileError,
                TrtError,  # TensorRT or a GPU missing, an engine to rebuild, TensorRT refusing the model or run
                NativeBuildError,
                OrtError,  # ONNX Runtime refusing the model or run
                Fp16ConversionError,
                MemoryCheckError,  # out of memory, up front or during the run
                MemoryError,
                ValidationError,  # a check that failed or could not run
                RepositoryError,  # serving: a model Triton cannot take as asked
                ServingError,  # serving: PyTriton's environment, libpython, the server
            ),
            FAILED,
        ),
    ]


def one_line(e: BaseException) -> str:
    """The user-facing line of an expected failure: ``<problem>; <fix>``."""
    if isinstance(e, MemoryError):
        return "out of memory; use a smaller batch or resolution, or a machine with more memory"
    if isinstance(e, FileNotFoundError) and e.strerror:  # from the OS (ours carry their own line)
        return f"{e.filename or 'a file'} not found; check the path"
    if isinstance(e, OSError) and e.strerror:
        where = f" {e.filename}" if e.filename else ""
        return f"cannot write or read{where}: {e.strerror}; check the path and its permissions"
    return " ".join(str(e).split())
