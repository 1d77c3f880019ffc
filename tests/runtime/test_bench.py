"""The timing loop (any callable), result statistics, and `nat-export bench` on an ONNX file."""

from __future__ import annotations

import json

import pytest

from nat_export.runtime.bench import BenchResult, bench_batches, parse_batches, time_callable


class FakeClock:
    """Each call of the timed function advances time by the next step (ms)."""

    def __init__(self, steps_ms):
        self.t, self.steps = 0.0, list(steps_ms)

    def __call__(self):
        return self.t

    def work(self):
        self.t += self.steps.pop(0) / 1000.0


def test_time_callable_counts_and_measures():
    calls = []
    clock = FakeClock([100.0] * 3 + [1.0, 2.0, 3.0, 4.0])  # 3 warm-up calls, then 4 timed
    syncs = []

    def fn():
        calls.append(1)
        clock.work()

    ms = time_callable(fn, iterations=4, warmup=3, sync=lambda: syncs.append(1), clock=clock)
    assert len(calls) == 7 and ms == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert len(syncs) == 5  # once after warm-up, once per timed call


def test_time_callable_real_clock():
    ms = time_callable(lambda: sum(range(100)), iterations=5, warmup=0)
    assert len(ms) == 5 and all(m >= 0 for m in ms)


def test_time_callable_rejects_bad_counts():
    with pytest.raises(ValueError):
        time_callable(lambda: None, iterations=0)
    with pytest.raises(ValueError):
        time_callable(lambda: None, warmup=-1)


def test_bench_result_statistics():
    r = BenchResult(8, [float(i) for i in range(1, 101)], "x")
    assert r.iterations == 100 and r.p50 == pytest.approx(50.5) and r.p90 == pytest.approx(90.1)
    assert r.p99 == pytest.approx(99.01) and r.mean == pytest.approx(50.5)
    assert r.throughput == pytest.approx(8 * 100 / (5050 / 1000))
    j = r.to_json()
    assert j["batch"] == 8 and j["p50_ms"] == 50.5 and j["min_ms"] == 1.0


def test_bench_batches_uses_a_runner_per_batch():
    made, seen = [], []
    results = bench_batches(
        lambda b: (made.append(b), lambda: None)[1],
        [1, 4],
        iterations=3,
        warmup=1,
        on_result=seen.append,
        backend="noop",
    )
    assert made == [1, 4] and [r.batch for r in results] == [1, 4] and seen == results
    assert all(r.iterations == 3 and r.backend == "noop" for r in results)


def test_parse_batches():
    assert parse_batches("1,8, 32") == [1, 8, 32] and parse_batches([2]) == [2]
    for bad in ("", "0", "1,a"):
        with pytest.raises(ValueError):
            parse_batches(bad)


def test_bench_cli_on_onnx(run_cli, micro_onnx, tmp_path):
    out = tmp_path / "bench.json"
    code, stdout, err = run_cli(
        "bench", micro_onnx, "--batch", "1,2", "--iterations", "2", "--warmup", "1", "--json", out
    )
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert [r["batch"] for r in doc["results"]] == [1, 2] and "ONNX Runtime" in doc["backend"]
    assert all(r["iterations"] == 2 and r["p50_ms"] > 0 and r["throughput_per_s"] > 0 for r in doc["results"])
    assert "p99 ms" in stdout
    code, _, err = run_cli("bench", micro_onnx, "--batch", "1", "--iterations", "1", "--json", out)
    assert code != 0 and "--force" in err
