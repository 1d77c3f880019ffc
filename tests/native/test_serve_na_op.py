"""`nat-export serve` of a custom-op graph: Triton (PyTriton) runs it in ONNX Runtime with the NA op library this
session built, and answers as ONNX Runtime with the same library called directly."""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..serving.conftest import START_TIMEOUT_S, Server, processes_with, serving_python


def test_serve_custom_op_graph_with_the_op_library(tmp_path, micro_loaded, ort_lib):
    import tritonclient.http as httpclient

    from nat_export.export import ExportOptions, export_onnx
    from nat_export.runtime.runners import open_model
    from nat_export.serving.serve import free_port

    serving_python()
    model = tmp_path / "na_micro.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert export_onnx(micro_loaded, model, ExportOptions(resolution=(64, 64))).na_nodes > 0
    port = free_port()
    server = Server(model, "--port", port, "--ort-op-library", ort_lib, "--max-queue-delay-us", 20000)
    try:
        server.wait_for("Ctrl-C stops the server.", START_TIMEOUT_S)
        assert "custom-op ONNX graph" in "".join(server.out)
        rng = np.random.default_rng(3)
        inputs = [rng.standard_normal((1 + i % 2, 3, 64, 64)).astype(np.float32) for i in range(8)]
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}", concurrency=8, network_timeout=60)
        try:
            pending = []
            for x in inputs:
                inp = httpclient.InferInput("pixel_values", list(x.shape), "FP32")
                inp.set_data_from_numpy(x)
                pending.append(client.async_infer("na_micro", [inp]))
            answers = [p.get_result(timeout=60).as_numpy("logits") for p in pending]
            stats = client.get_inference_statistics("na_micro")["model_stats"][0]
        finally:
            client.close()
        direct = open_model(model, ort_op_library=ort_lib)
        assert direct.name == "ort+na-op"
        for x, got in zip(inputs, answers):
            np.testing.assert_allclose(got, direct({"pixel_values": x})["logits"], rtol=1e-5, atol=1e-6)
        assert int(stats["inference_count"]) == sum(x.shape[0] for x in inputs)
        assert int(stats["execution_count"]) < len(inputs)
    finally:
        code = server.ctrl_c()
    assert code == 0 and "stopped na_micro" in "".join(server.out), "".join(server.err)
    time.sleep(0.1)
    assert not processes_with(f"--http-port {port}")
