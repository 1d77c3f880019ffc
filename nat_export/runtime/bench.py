"""Latency / throughput: a timing loop over any callable, per batch size.

:func:`time_callable` times ``fn()`` (after ``warmup`` calls; ``sync()`` after each call,
e.g. ``torch.cuda.synchronize``); :func:`bench_batches` does that per batch size with a
factory ``batch -> fn``, such as a runner's ``timed_call`` (:mod:`nat_export.runtime.runners`)
or, for engines with the input resident on the GPU, ``TrtRunner.device_call``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class BenchResult:
    batch: int
    latencies_ms: list[float] = field(repr=False)
    backend: str = ""

    @property
    def iterations(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.latencies_ms), q))

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p90(self) -> float:
        return self.percentile(90)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def mean(self) -> float:
        return float(np.mean(self.latencies_ms))

    @property
    def throughput(self) -> float:
        """Items (images) per second over the timed iterations."""
        total_s = float(np.sum(self.latencies_ms)) / 1000.0
        return self.batch * self.iterations / total_s if total_s > 0 else float("inf")

    def to_json(self) -> dict:
        return {
            "backend": self.backend,
            "batch": self.batch,
            "iterations": self.iterations,
            "p50_ms": round(self.p50, 4),
            "p90_ms": round(self.p90, 4),
            "p99_ms": round(self.p99, 4),
            "mean_ms": round(self.mean, 4),
            "min_ms": round(float(np.min(self.latencies_ms)), 4),
            "throughput_per_s": round(self.throughput, 2),
        }


def parse_batches(text: str | Sequence[int]) -> list[int]:
    """``"1,8,32"`` -> ``[1, 8, 32]``."""
    if not isinstance(text, str):
        vals = [int(b) for b in text]
    else:
        try:
            vals = [int(b) for b in text.replace(" ", "").split(",") if b]
        except ValueError:
            raise ValueError(
                f"--batch-sizes {text!r} is not a comma-separated list of positive integers; e.g. --batch-sizes 1,8,32"
            ) from None
    if not vals or min(vals) < 1:
        raise ValueError(f"--batch-sizes {text!r} needs positive integers; e.g. --batch-sizes 1,8,32")
    return vals


def time_callable(
    fn: Callable[[], object],
    *,
    iterations: int = 100,
    warmup: int = 10,
    sync: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Milliseconds per call of ``fn`` over ``iterations`` calls after ``warmup`` untimed ones."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    out = []
    for _ in range(iterations):
        t0 = clock()
        fn()
        if sync is not None:
            sync()
        out.append((clock() - t0) * 1000.0)
    return out


def bench_batches(
    make_runner: Callable[[int], Callable[[], object]],
    batches: Sequence[int],
    *,
    iterations: int = 100,
    warmup: int = 10,
    sync: Callable[[], object] | None = None,
    backend: str = "",
    on_result: Callable[[BenchResult], object] | None = None,
) -> list[BenchResult]:
    results = []
    for b in batches:
        fn = make_runner(int(b))
        r = BenchResult(int(b), time_callable(fn, iterations=iterations, warmup=warmup, sync=sync), backend)
        results.append(r)
        if on_result is not None:
            on_result(r)
    return results


def cuda_sync(device=None) -> Callable[[], object]:
    import torch

    return lambda: torch.cuda.synchronize(device)
