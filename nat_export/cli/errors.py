"""Errors the CLI reports as one line (``nat-export CMD: error: <problem>; <fix>``) and their exit codes.

Exit codes (the one table; docs/cli.md shows it):

====  ==========================================================================================
0     success
1     the check failed or could not run (validation), or a backend refused the model, plugin, engine or run
2     bad input the user can fix: arguments, model / checkpoint / config, ONNX file, engine to rebuild, shapes, files
3     the environment lacks something: TensorRT, a GPU, a toolchain for the native build
130   interrupted (Ctrl-C)
====  ==========================================================================================
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input that the user can fix; the message names the problem and the fix."""


def exit_code_table() -> list[tuple[tuple[type[BaseException], ...], int]]:
    """``[(exception types, exit code)]``, most specific first; the first match decides."""
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
    from ..tensorrt.env import EngineFileError, TrtRefusedError
    from ..validate import ValidationError

    return [
        ((KeyboardInterrupt,), 130),
        ((TrtRefusedError,), 1),
        (
            (
                UsageError,
                EngineFileError,
                ProfileError,
                RunnerError,
                ConfigError,
                CheckpointError,
                NAShapeError,
                MetadataError,
                MemoryCheckError,
                OnnxFileError,
                FileNotFoundError,
                FileExistsError,
                IsADirectoryError,
                RepositoryError,  # serving: a model Triton cannot take as asked
            ),
            2,
        ),
        ((TrtError, NativeBuildError, ServingError), 3),  # ServingError: PyTriton's environment, the server
        ((ValidationError, OrtError, Fp16ConversionError, PermissionError, OSError), 1),
    ]


def one_line(e: BaseException) -> str:
    """The user-facing line of an exception."""
    if isinstance(e, OSError) and not isinstance(e, (FileNotFoundError, FileExistsError)) and e.strerror:
        where = f" {e.filename}" if e.filename else ""
        return f"cannot write or read{where}: {e.strerror}; check the path and its permissions"
    if (
        isinstance(e, (FileNotFoundError, FileExistsError))
        and e.args
        and isinstance(e.args[0], str)
        and len(e.args) == 1
    ):
        return e.args[0]
    if isinstance(e, FileNotFoundError) and e.filename:
        return f"{e.filename} not found"
    return " ".join(str(e).split())
