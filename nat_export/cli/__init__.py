"""The `nat-export` command line: argument parsing and wiring only."""

from .main import main

__all__ = ["main"]
