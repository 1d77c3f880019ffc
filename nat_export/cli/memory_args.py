"""``--no-memory-check`` and the up-front memory check each command runs before heavy work."""

from __future__ import annotations

from collections.abc import Sequence


def add_memory_arg(p) -> None:
    p.add_argument(
        "--no-memory-check",
        action="store_true",
        help="run even when the up-front estimate says the machine lacks the memory",
    )


def check_run_memory(args, config, batch: int, resolution: Sequence[int], what: str) -> None:
    """Refuse (MemoryCheckError) when one forward pass of ``config`` at ``batch`` x ``resolution`` would not fit.

    ``config`` is a NatConfig or the recorded config dict (None: nothing known, nothing checked).
    """
    from ..models.memory import check_memory, forward_bytes

    if getattr(args, "no_memory_check", False) or config is None:
        return
    if isinstance(config, dict):
        from ..models import NatConfig

        try:
            config = NatConfig.from_dict(config)
        except Exception:  # noqa: BLE001 - a config this version cannot read: nothing to estimate from
            return
    h, w = int(resolution[0]), int(resolution[1])
    check_memory(forward_bytes(config, batch, h, w), f"{what} at batch {batch}, {h}x{w}")
