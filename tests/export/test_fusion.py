"""The exported graph in the forms ONNX Runtime and TensorRT fuse (docs/export.md, "What the graph contains"): GELU
one Gelu op (opset >= 20) or the erf form ONNX Runtime's GeluFusion matches, every norm one LayerNormalization,
linear layers MatMul + bias Add; and ONNX Runtime's optimizer really fuses them (BiasGelu, no Erf left)."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from nat_export.export import DOMAIN, OP_TYPE, ExportOptions, to_onnx
from nat_export.export.fusion import gelu_translation
from nat_export.models import load_model

from ..conftest import FIXTURES


@pytest.fixture(scope="module")
def micro():
    return load_model(from_pretrained=str(FIXTURES / "nat_micro" / "hf"))


@pytest.fixture(scope="module")
def exported(micro):
    """nat_micro (5 layers, layer scale) exported once per opset in this module."""
    cache: dict[int, onnx.ModelProto] = {}

    def get(opset: int) -> onnx.ModelProto:
        if opset not in cache:
            cache[opset] = to_onnx(micro.model, micro.model.config, ExportOptions(resolution=(64, 64), opset=opset))
        return cache[opset]

    return get


def _ort_optimized(proto, path) -> Counter:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(path)
    ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize("opset", [18, 20])
def test_gelu_layernorm_and_linear_forms(micro, exported, opset):
    cfg = micro.model.config
    proto = exported(opset)
    layers = sum(cfg.depths)
    g = proto.graph
    counts = Counter(n.op_type for n in g.node)
    producers = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}

    def scalar(name):
        return float(consts[name]) if name in consts and consts[name].size == 1 else None

    # one LayerNormalization per norm: two per layer, the embedding's, the downsamplers', the final one
    assert counts["LayerNormalization"] == 2 * layers + 1 + (cfg.num_levels - 1) + 1
    assert counts["ReduceMean"] <= 1  # the head's pooling only: no decomposed LayerNorm
    # qkv, proj, fc1, fc2: MatMul on a constant weight + the bias Add (ORT: BiasGelu for fc1; TensorRT fuses all)
    matmuls = [n for n in g.node if n.op_type == "MatMul"]
    assert len(matmuls) == 4 * layers and counts["Gemm"] == 1  # the head's 2-D linear is a Gemm with its bias
    for mm in matmuls:
        assert consts[mm.input[1]].ndim == 2
        (add,) = consumers[mm.output[0]]
        assert add.op_type == "Add" and consts[add.input[1]].ndim == 1

    gelu_inputs = []
    if opset >= 20:
        assert counts["Gelu"] == layers and counts["Erf"] == counts["Div"] == 0
        gelu_inputs = [n.input[0] for n in g.node if n.op_type == "Gelu"]
    else:
        # (x * (1 + erf(x / sqrt 2))) * 0.5, the order ONNX Runtime's GeluFusion matches
        assert counts["Gelu"] == 0 and counts["Erf"] == counts["Div"] == layers
        for erf in (n for n in g.node if n.op_type == "Erf"):
            div = producers[erf.input[0]]
            assert div.op_type == "Div" and scalar(div.input[1]) == pytest.approx(math.sqrt(2), rel=1e-7)
            x = div.input[0]
            (add,) = consumers[erf.output[0]]
            assert add.op_type == "Add" and scalar(add.input[1]) == 1.0
            (mul_x,) = consumers[add.output[0]]
            assert mul_x.op_type == "Mul" and set(mul_x.input) == {x, add.output[0]}
            (mul_half,) = consumers[mul_x.output[0]]
            assert mul_half.op_type == "Mul" and scalar(mul_half.input[1]) == 0.5
            gelu_inputs.append(x)
    for x in gelu_inputs:  # on fc1's bias Add, so ONNX Runtime folds that bias into BiasGelu
        bias_add = producers[x]
        assert bias_add.op_type == "Add" and producers[bias_add.input[0]].op_type == "MatMul"


def _na_as_split(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with every NA node replaced by a shape-keeping stand-in (q of the split qkv), so that stock ONNX
    Runtime optimizes the graph around NA as it is (no op library, no portable expansion)."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    for n in out.graph.node:
        if n.op_type == OP_TYPE and n.domain == DOMAIN:
            split = onnx.helper.make_node(
                "Split", [n.input[0]], [n.output[0], n.output[0] + "_k", n.output[0] + "_v"], axis=-1, num_outputs=3
            )
            n.CopyFrom(split)
    return out


def test_onnx_runtime_fuses_the_exported_graph(micro, exported, tmp_path):
    """ONNX Runtime's optimizer turns each opset-18 GELU and fc1's bias into one BiasGelu: no Erf, Div left."""
    cfg = micro.model.config
    counts = _ort_optimized(_na_as_split(exported(18)), tmp_path / "opt.onnx")
    assert counts["BiasGelu"] == sum(cfg.depths)
    assert counts["Erf"] == counts["Div"] == 0
    assert counts["LayerNormalization"] == 2 * sum(cfg.depths) + cfg.num_levels + 1
    assert counts["MatMul"] == 4 * sum(cfg.depths)  # ONNX Runtime keeps the 4-D MatMuls (see docs/export.md)


class _Toy(torch.nn.Module):
    """Linear -> GELU(tanh) -> Linear -> GELU -> Linear, on [B, H, W, C] like the NAT blocks."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = torch.nn.Linear(8, 16), torch.nn.Linear(16, 8), torch.nn.Linear(8, 4)

    def forward(self, x):
        y = self.b(torch.nn.functional.gelu(self.a(x), approximate="tanh"))
        return self.c(torch.nn.functional.gelu(y))


@pytest.mark.parametrize("opset", [18, 20])
def test_gelu_translation_computes_what_torch_computes_and_fuses(opset, tmp_path):
    """Both GELU forms at both opsets: ONNX Runtime == torch, and ONNX Runtime fuses each with its bias."""
    import onnxruntime as ort

    torch.manual_seed(0)
    model, x = _Toy().eval(), torch.randn(2, 5, 6, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.export's own deprecation notices
        program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},))
        proto = torch.onnx.export(
            program, (x,), dynamo=True, opset_version=opset, custom_translation_table=gelu_translation(opset)
        ).model_proto
    assert Counter(n.op_type for n in proto.graph.node)["Gelu"] == (2 if opset >= 20 else 0)
    counts = _ort_optimized(proto, tmp_path / "opt.onnx")
    assert counts["FastGelu"] == counts["BiasGelu"] == 1 and counts["Tanh"] == counts["Erf"] == 0
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        xb = torch.randn(batch, 5, 6, 8)
        with torch.no_grad():
            ref = model(xb).numpy()
        got = session.run(None, {session.get_inputs()[0].name: xb.numpy()})[0]
        assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-5
