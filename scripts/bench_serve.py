#!/usr/bin/env python3
"""Serving benchmark: `nat-export serve` (Triton through PyTriton, dynamic batching, HTTP) against direct ONNX
Runtime calls in this process, with 1, 4 and 16 concurrent clients, measured in the same run on the same model.

    python scripts/bench_serve.py [--onnx FILE | --model nat-tiny] [--clients 1,4,16] [--duration 15]
                                  [--max-batch 8] [--max-queue-delay-us 100] [--ort-op-library LIB] [--json out.json]

Each client sends one image (batch 1) at a time and waits for the answer (closed loop), for --duration seconds
after a warm-up. Direct ONNX Runtime: the same number of threads calling one InferenceSession (ONNX Runtime runs
concurrent calls; its intra-op threads are shared). Served: the same number of threads, each with its own
tritonclient HTTP client (binary tensors), against `nat-export serve` on a free loopback port. Both run on this
machine's cores: the clients, the server and ONNX Runtime share them, as they would on one box.

Prints a table (requests/s, p50 and p99 latency per request, and for the server the mean batch Triton formed).
Without --onnx the model is exported first (portable graph: stock ONNX Runtime, no op library needed); a
custom-op graph given with --onnx runs with the NA op library (--ort-op-library, default: the built one) in both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def closed_loop(setup, clients: int, duration: float, warmup: float) -> dict:
    """``clients`` threads, thread ``i`` calling ``setup(i)()`` back to back (``setup`` runs in the thread: HTTP
    clients belong to the thread that made them); requests/s and latencies of the calls that complete inside the
    measured window (after ``warmup`` seconds, for ``duration`` seconds)."""
    stop = threading.Event()
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    t_begin = time.perf_counter() + warmup
    t_end = t_begin + duration

    def worker(i):
        try:
            call = setup(i)
            while not stop.is_set():
                t0 = time.perf_counter()
                call()
                t1 = time.perf_counter()
                if t_begin <= t1 <= t_end:  # completed inside the window
                    lat[i].append(t1 - t0)
                if t1 > t_end:
                    return
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=warmup + duration + 120)
    stop.set()
    if errors:
        raise errors[0]
    all_lat = sorted(x for per in lat for x in per)
    if not all_lat:
        raise RuntimeError("no call completed in the window; raise --duration")
    return {
        "clients": clients,
        "requests": len(all_lat),
        "rps": len(all_lat) / duration,
        "p50_ms": 1e3 * all_lat[len(all_lat) // 2],
        "p99_ms": 1e3 * all_lat[min(len(all_lat) - 1, int(0.99 * len(all_lat)))],
        "mean_ms": 1e3 * statistics.fmean(all_lat),
    }


def start_server(onnx: Path, port: int, max_batch: int, delay_us: int, op_library: str | None) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "import sys; from nat_export.cli import main; sys.exit(main())"]
    cmd += ["serve", str(onnx), "--port", str(port), "--max-batch", str(max_batch)]
    cmd += ["--max-queue-delay-us", str(delay_us)]
    if op_library:
        cmd += ["--ort-op-library", op_library]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 600  # the first run makes the serving environment
    for line in proc.stdout:
        if "Ctrl-C stops the server." in line:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc
        if time.monotonic() > deadline:
            break
    os.killpg(proc.pid, signal.SIGINT)
    raise RuntimeError(f"nat-export serve did not start (exit {proc.wait()})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", help="an exported ONNX file (default: export --model as a portable graph)")
    ap.add_argument("--model", default="nat-tiny", help="built-in variant to export when --onnx is not given")
    ap.add_argument("--clients", default="1,4,16", help="concurrent clients (default: 1,4,16)")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds measured per point (default: 15)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds before each measurement (default: 3)")
    ap.add_argument("--ort-op-library", help="the NA op library, for a custom-op graph (default: the built one)")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-queue-delay-us", type=int, default=100)
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]

    import onnxruntime as ort
    import tritonclient.http as httpclient

    from nat_export.ort import make_session
    from nat_export.serving.serve import free_port

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    if args.onnx:
        onnx = Path(args.onnx)
    else:
        import warnings

        from nat_export.export import ExportOptions, export_onnx
        from nat_export.models import load_model

        onnx = work / f"{args.model.replace('-', '_')}.onnx"
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(load_model(args.model), onnx, ExportOptions(portable=True))
        print(f"exported {onnx.name} (portable) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    from nat_export.onnx.files import read_onnx

    _, facts = read_onnx(onnx)
    shape = facts.shape_for_batch(1)
    name = facts.input_name
    model_name = onnx.stem
    rng = np.random.default_rng(0)
    images = [rng.standard_normal(shape).astype(np.float32) for _ in range(max(levels))]

    results = {
        "model": str(onnx.name),
        "graph": "custom-op + NA op library" if facts.na_nodes else "portable",
        "input": list(shape),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "max_batch": args.max_batch,
        "max_queue_delay_us": args.max_queue_delay_us,
        "duration_s": args.duration,
        "direct": [],
        "served": [],
    }
    op_library = None
    if facts.na_nodes:
        from nat_export.native import find_library

        op_library = str(find_library("ort", args.ort_op_library))
    session = make_session(onnx, custom_op_library=op_library)
    out_names = [o.name for o in session.get_outputs()]
    for c in levels:
        r = closed_loop(lambda i: lambda: session.run(out_names, {name: images[i]}), c, args.duration, args.warmup)
        results["direct"].append(r)
        print(
            f"direct ORT  {c:>2} clients: {r['rps']:7.2f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms"
        )
    session = None  # noqa: F841 - its threads and memory go before the server starts

    port = free_port()
    server = start_server(onnx, port, args.max_batch, args.max_queue_delay_us, op_library)
    try:
        made = []  # the clients of the current point, closed after it
        for c in levels:

            def setup(i):
                client = httpclient.InferenceServerClient(f"127.0.0.1:{port}", network_timeout=300)
                made.append(client)
                inp = httpclient.InferInput(name, list(shape), "FP32")
                inp.set_data_from_numpy(images[i], binary_data=True)
                return lambda: client.infer(model_name, [inp])

            stats_client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
            stats0 = stats_client.get_inference_statistics(model_name)["model_stats"][0]
            r = closed_loop(setup, c, args.duration, args.warmup)
            stats1 = stats_client.get_inference_statistics(model_name)["model_stats"][0]
            stats_client.close()
            done = int(stats1["inference_count"]) - int(stats0["inference_count"])
            runs = int(stats1["execution_count"]) - int(stats0["execution_count"])
            r["mean_batch"] = done / runs if runs else None
            results["served"].append(r)
            for client in made:
                client.close()
            made.clear()
            print(
                f"served      {c:>2} clients: {r['rps']:7.2f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 "
                f"{r['p99_ms']:7.1f} ms  mean batch {r['mean_batch']:.2f}"
            )
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=120)

    print()
    print("| clients | direct ORT req/s | p50 | p99 | served req/s | p50 | p99 | mean batch | served / direct |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d, s in zip(results["direct"], results["served"]):
        print(
            f"| {d['clients']} | {d['rps']:.2f} | {d['p50_ms']:.1f} ms | {d['p99_ms']:.1f} ms | {s['rps']:.2f} | "
            f"{s['p50_ms']:.1f} ms | {s['p99_ms']:.1f} ms | {s['mean_batch']:.2f} | {s['rps'] / d['rps']:.2f}x |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
