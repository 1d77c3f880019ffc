"""Errors the CLI reports as one clear line (no traceback) with a non-zero exit."""
from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input that the user can fix; the message names the problem and the fix."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is already a user-facing one-liner."""
    from ..models import CheckpointError, ConfigError
    from ..ops import NAShapeError

    types: list[type[BaseException]] = [UsageError, CheckpointError, ConfigError, NAShapeError, FileNotFoundError, FileExistsError]
    try:
        from ..native import NativeBuildError

        types.append(NativeBuildError)
    except ImportError:
        pass
    return tuple(types)
