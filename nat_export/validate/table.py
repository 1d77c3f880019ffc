"""The ✓/✗ table printed by `nat-export onnx` and `nat-export validate`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .validation import ValidationReport


def print_report(report: ValidationReport, console: Console | None = None) -> None:
    console = console or Console()
    tol = report.tolerance
    t = Table(
        title=f"vs PyTorch: {report.samples} inputs, pass if max|diff| <= {tol.atol:g} + {tol.rtol:g}*max|ref|, cosine >= {tol.min_cosine:g}"
    )
    logits = any(c.output == "logits" for c in report.checks)
    cols = ["", "input", "backend", "output", "shape", "max|diff|", "rel L2", "cosine"]
    for col in cols + (["top-1", "top-5"] if logits else []):
        t.add_column(col, no_wrap=True)
    for c in report.checks:
        m = c.metrics
        size = "x".join(map(str, c.input_shape[2:])) if c.input_shape else ""
        if "shape_mismatch" in m:
            row = ["[red]✗", size, c.backend, c.output, str(c.shape), m["shape_mismatch"], "", ""]
            t.add_row(*row, *(["", ""] if logits else []))
            continue
        pct = lambda k, m=m: f"{100 * m[k]:.1f}%" if k in m else "-"  # noqa: E731
        row = [
            "[green]✓" if c.ok else "[red]✗",
            size,
            c.backend,
            c.output,
            "x".join(map(str, c.shape)),
            f"{m['max_abs']:.1e}",
            f"{m['rel_l2']:.1e}",
            f"{m['cosine']:.6f}",
        ]
        t.add_row(*row, *([pct("top1"), pct("top5")] if logits else []))
    console.print(t)
    for note in report.notes:
        console.print(f"note: {note}")
    console.print("[green]validation passed" if report.ok else "[red]validation FAILED")
