"""Errors the CLI reports as one clear line (no traceback) with a non-zero exit."""
from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input that the user can fix; the message names the problem and the fix."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is already a user-facing one-liner."""
    from ..models import CheckpointError, ConfigError
    from ..ops import NAShapeError

    types: list[type[BaseException]] = [UsageError, CheckpointError, ConfigError, NAShapeError, FileNotFoundError, FileExistsError]
    from ..native import NativeBuildError
    from ..runtime.fp16 import Fp16ConversionError
    from ..runtime.trt_build import ProfileError
    from ..runtime.trt_engine import TrtError
    from ..validate import ValidationError

    types += [NativeBuildError, Fp16ConversionError, ProfileError, TrtError, ValidationError]
    return tuple(types)

