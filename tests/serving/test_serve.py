"""`nat-export serve` end to end: a real Triton Inference Server (PyTriton's bundled tritonserver) on a free
loopback port, concurrent tritonclient requests that Triton batches together, every answer equal to ONNX
Runtime called directly, and a clean stop on Ctrl-C. The serving environment (PyTriton needs numpy<2) is made
by the first run and cached under ~/.cache/nat-export/serve-env, keyed by versions (about a minute, once)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nat_export.serving import ServingError

from .conftest import CLI, REQUESTS, START_TIMEOUT_S, Server, processes_with


def test_serve_batches_concurrent_requests_and_answers_as_onnx_runtime(micro_onnx, serve_python):
    import tritonclient.http as httpclient

    from nat_export.runtime.runners import open_model
    from nat_export.serving.serve import free_port

    begin = time.monotonic()
    port = free_port()
    server = Server(micro_onnx, "--port", port, "--max-batch", 8, "--max-queue-delay-us", 20000)
    try:
        server.wait_for("Ctrl-C stops the server.", START_TIMEOUT_S)
        banner = "".join(server.out)
        assert f"http://127.0.0.1:{port}/v2/models/nat_micro" in banner and "curl -s" in banner
        assert "tritonclient" in banner and "batched up to 8" in banner
        started = time.monotonic() - begin

        rng = np.random.default_rng(0)
        sizes = [1 + (i % 3 == 0) for i in range(REQUESTS)]  # mostly single images, some pairs
        inputs = [rng.standard_normal((n, 3, 64, 64)).astype(np.float32) for n in sizes]
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}", concurrency=16, network_timeout=60)
        try:
            assert client.is_model_ready("nat_micro")
            pending = []
            for x in inputs:
                inp = httpclient.InferInput("pixel_values", list(x.shape), "FP32")
                inp.set_data_from_numpy(x)
                pending.append(client.async_infer("nat_micro", [inp]))
            answers = [p.get_result(timeout=60).as_numpy("logits") for p in pending]
            # Triton updates its statistics after it has sent a response: wait (bounded) until all are counted
            deadline = time.monotonic() + 10
            while True:
                stats = client.get_inference_statistics("nat_micro")["model_stats"][0]
                if int(stats["inference_count"]) >= sum(sizes) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        finally:
            client.close()

        # every answer is what ONNX Runtime gives for that request alone
        direct = open_model(micro_onnx)
        for x, got in zip(inputs, answers):
            want = direct({"pixel_values": x})["logits"]
            assert got.shape == want.shape == (x.shape[0], 10)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        # Triton batched them: fewer executions than requests, batches of more than one request
        assert int(stats["inference_count"]) == sum(sizes)
        executions = int(stats["execution_count"])
        batch_sizes = {int(b["batch_size"]) for b in stats["batch_stats"]}
        assert executions < REQUESTS and max(batch_sizes) > 2, stats
        assert max(batch_sizes) <= 8
    finally:
        code = server.ctrl_c()
    out, err = "".join(server.out), "".join(server.err)
    assert code == 0, (out, err)
    assert "stopped nat_micro" in out and "Traceback" not in err and "error" not in err.lower(), (out, err)
    assert not processes_with(f"--http-port {port}")  # tritonserver is gone, with its stub
    with socket.socket() as s:  # and the port is free again
        s.bind(("127.0.0.1", port))
    print(
        f"\nserve: started in {started:.1f} s, {REQUESTS} requests in {executions} executions "
        f"(batch sizes {sorted(batch_sizes)}), whole test {time.monotonic() - begin:.1f} s",
        file=sys.stderr,
    )


def test_stub_resolves_this_pythons_libpython(serve_python, tmp_path):
    """In the serving environment, the python backend stub is pointed at the interpreter's own libpython."""
    from nat_export.serving.env import package_link_dir

    code = (
        "import sysconfig; from nat_export.serving.env import check_stub_libpython, libpython_dir, stub_environment; "
        "env = stub_environment(); print(check_stub_libpython(env)); print(libpython_dir())"
    )
    env = {**os.environ, "PYTHONPATH": str(package_link_dir(tmp_path / "pkg")), "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run([str(serve_python), "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    resolved, libdir = proc.stdout.split()
    assert os.path.realpath(Path(resolved).parent) == os.path.realpath(libdir)


def test_stub_check_refuses_another_libpython(monkeypatch, tmp_path):
    from nat_export.serving import env as serve_env

    stub = tmp_path / "triton_python_backend_stub"
    stub.write_bytes(b"")
    monkeypatch.setattr(serve_env, "stub_path", lambda: stub)
    monkeypatch.setattr(serve_env.shutil, "which", lambda name: "/usr/bin/ldd")
    elsewhere = "\tlibpython3.11.so.1.0 => /elsewhere/libpython3.11.so.1.0 (0x0000)\n"
    monkeypatch.setattr(
        serve_env.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=elsewhere, stderr="")
    )
    with pytest.raises(ServingError, match="/elsewhere/libpython3.11.so.1.0"):
        serve_env.check_stub_libpython({})


def test_missing_serving_environment_is_one_clear_line(micro_onnx, tmp_path, monkeypatch):
    from nat_export.serving import env as serve_env
    from nat_export.serving.serve import free_port

    monkeypatch.setattr(serve_env, "default_env_dir", lambda: tmp_path / "none")
    with pytest.raises(ServingError, match="nat-export serve --setup"):
        serve_env.ensure_env(create=False)
    empty = tmp_path / "not-a-venv"
    empty.mkdir()
    env = {**os.environ, "NAT_EXPORT_SERVE_ENV": str(empty)}
    proc = subprocess.run(
        [*CLI, "serve", str(micro_onnx), "--port", str(free_port())], capture_output=True, text=True, env=env
    )
    assert proc.returncode not in (0, 130)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("nat-export serve: error: "), proc.stderr
    assert "not a virtual environment" in proc.stderr and "nvidia-pytriton" in proc.stderr


def test_environment_that_cannot_be_made_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """pip failing (here: no package index) is reported with the fix, and no half-made environment stays."""
    from nat_export.serving import env as serve_env

    target = tmp_path / "cache" / "serve-env" / "key"
    monkeypatch.setattr(serve_env, "default_env_dir", lambda: target)
    monkeypatch.delenv(serve_env.ENV_VAR, raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    said = []
    with pytest.raises(ServingError) as e:
        serve_env.ensure_env(create=True, log=said.append)
    msg = str(e.value)
    assert "pip install failed" in msg and "nvidia-pytriton" in msg and "nat-export serve --setup" in msg
    assert "\n" not in msg and said and "making the serving environment" in said[0]
    assert not target.exists()


@pytest.mark.parametrize(
    "case", ["port_in_use", "bad_port", "foreign_host", "engine_without_gpu", "fixed_batch", "no_model"]
)
def test_serve_refusals_before_anything_starts(run_cli, micro_onnx, tmp_path, case):
    from nat_export.serving.serve import free_port

    from .conftest import make_engine

    port = free_port()
    args = [micro_onnx, "--port", port]
    hold = None
    if case == "port_in_use":
        hold = socket.socket()
        hold.bind(("127.0.0.1", port + 1))
        hold.listen()
        needles = (f"port {port + 1} (gRPC)", "--port")
    elif case == "bad_port":
        args = [micro_onnx, "--port", 70000]
        needles = ("--port must be 1..65533", "e.g. --port 8000")
    elif case == "foreign_host":
        args = [micro_onnx, "--port", port, "--host", "192.0.2.1"]  # TEST-NET-1: never this machine's; only bound
        needles = ("--host 192.0.2.1 cannot be bound", "address of this machine")
    elif case == "engine_without_gpu":
        if __import__("nat_export.tensorrt.env", fromlist=["x"]).cuda_device_count() > 0:
            pytest.skip("this machine has a GPU")
        args = [make_engine(tmp_path / "e", na_mode="portable"), "--port", port]
        needles = ("needs an NVIDIA GPU",)
    elif case == "fixed_batch":
        from ..conftest import na_graph

        fixed = tmp_path / "b2.onnx"
        na_graph(fixed, batch=2)
        lib = tmp_path / "libnat_export_ort.so"
        lib.write_bytes(b"x")
        args = [fixed, "--ort-op-library", lib, "--max-batch", 4, "--port", port]
        needles = ("fixed batch of 2",)
    else:
        args = []
        needles = ("give the model to serve",)
    try:
        code, out, err = run_cli("serve", *args)
    finally:
        if hold is not None:
            hold.close()
    assert code not in (0, 130) and err.count("\n") == 1 and err.startswith("nat-export serve: error: "), err
    for n in needles:
        assert n in err, err
    assert "serving" not in out
