"""Terminal output helpers shared by the commands."""

from __future__ import annotations


def wide_console(min_width: int = 120):
    """A rich Console at least ``min_width`` wide (pipes and CI logs would otherwise wrap tables at 80)."""
    from rich.console import Console

    console = Console()
    return (
        console if console.is_terminal and console.width >= min_width else Console(width=max(console.width, min_width))
    )
