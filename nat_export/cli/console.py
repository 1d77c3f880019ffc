"""Terminal output helpers shared by the commands."""

from __future__ import annotations


def wide_console(min_width: int = 120, stderr: bool = False):
    """A rich Console at least ``min_width`` wide (pipes and CI logs would otherwise wrap tables at 80).

    ``stderr``: print there (when stdout carries machine-readable output, ``--json -``).
    """
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal and console.width >= min_width:
        return console
    return Console(width=max(console.width, min_width), stderr=stderr)


class step:
    """A long step: a spinner on a terminal; in logs and CI (no terminal) a plain line when it starts and one
    with the seconds it took when it ends."""

    def __init__(self, console, text: str):
        self.console, self.text = console, text

    def __enter__(self):
        import time

        self.start = time.perf_counter()
        if self.console.is_terminal:
            self.status = self.console.status(self.text)
            self.status.__enter__()
        else:
            self.status = None
            self.console.print(self.text, highlight=False, markup=False)
        return self

    def __exit__(self, *exc):
        import time

        if self.status is not None:
            return self.status.__exit__(*exc)
        if exc[0] is None:
            seconds = time.perf_counter() - self.start
            self.console.print(f"  done in {seconds:.1f} s", highlight=False, markup=False)
        return False
