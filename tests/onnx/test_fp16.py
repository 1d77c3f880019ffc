"""fp32 ONNX -> fp16/bf16-typed ONNX (the TensorRT 11 strongly typed path), checked with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from nat_export.onnx.fp16 import Fp16ConversionError, convert_float_graph, elem_types, graph_float_type


def small_graph():
    """x[N,8] -> MatMul -> Add -> LayerNormalization -> Softmax -> y; and shape arithmetic through float."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b"),
        numpy_helper.from_array(np.ones(8, np.float32), "ln_w"),
        numpy_helper.from_array(np.zeros(8, np.float32), "ln_b"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h0"]),
        helper.make_node("Add", ["h0", "b"], ["h1"]),
        helper.make_node("LayerNormalization", ["h1", "ln_w", "ln_b"], ["h2"], axis=-1, epsilon=1e-5),
        helper.make_node("Relu", ["h2"], ["h3"]),
        helper.make_node("Softmax", ["h3"], ["y"], axis=-1),
        # shape arithmetic in float: must stay fp32 (fp16 cannot hold 4097 exactly)
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Cast", ["shp"], ["shp_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["shp_f", "one"], ["shape_f"]),
    ]
    g = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8]),
            helper.make_tensor_value_info("shape_f", TensorProto.FLOAT, [2]),
        ],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    return onnx.shape_inference.infer_shapes(m)


def run(model, x):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})


def test_small_graph_fp16():
    m = small_graph()
    c, report = convert_float_graph(m, "fp16")
    onnx.checker.check_model(c, full_check=True)
    types = elem_types(c)
    inits = {i.name: i.data_type for i in c.graph.initializer}
    assert inits["W"] == inits["b"] == TensorProto.FLOAT16
    assert inits["ln_w"] == inits["ln_b"] == TensorProto.FLOAT  # consumed by LayerNormalization only
    assert inits["one"] == TensorProto.FLOAT  # shape arithmetic stays fp32
    assert types["x"] == types["y"] == types["shape_f"] == TensorProto.FLOAT  # I/O stays fp32
    ops = {n.output[0]: n for n in c.graph.node}
    # LayerNormalization and Softmax read fp32 tensors
    for op_type in ("LayerNormalization", "Softmax"):
        node = next(n for n in c.graph.node if n.op_type == op_type)
        src = ops.get(node.input[0])
        assert src is not None and src.op_type == "Cast" and src.attribute[0].i == TensorProto.FLOAT
    assert report.low_nodes >= 3 and report.fp32_nodes >= 2 and report.casts_inserted >= 3
    assert graph_float_type(c) == "fp16" and graph_float_type(m) == "fp32"

    x = np.random.default_rng(1).standard_normal((4097, 8)).astype(np.float32)
    y32, s32 = run(m, x)
    y16, s16 = run(c, x)
    assert y16.dtype == np.float32
    np.testing.assert_allclose(y16, y32, atol=5e-3)
    np.testing.assert_array_equal(s16, s32)  # 4097 survives: not rounded to 4096 by fp16
    assert {p.key: p.value for p in c.metadata_props}["nat_export.dtype"] == "fp16"
    assert len(m.graph.node) == 8  # the input model is untouched


def test_small_graph_bf16_types():
    c, _ = convert_float_graph(small_graph(), "bf16")
    onnx.checker.check_model(c, full_check=True)
    inits = {i.name: i.data_type for i in c.graph.initializer}
    assert inits["W"] == TensorProto.BFLOAT16 and inits["ln_w"] == TensorProto.FLOAT
    assert graph_float_type(c) == "bf16"


def test_fp16_io_option():
    c, _ = convert_float_graph(small_graph(), "fp16", keep_io=False)
    onnx.checker.check_model(c, full_check=True)
    assert c.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    assert c.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT  # Softmax stays fp32
    s = ort.InferenceSession(c.SerializeToString(), providers=["CPUExecutionProvider"])
    y, _ = s.run(None, {"x": np.ones((2, 8), np.float16)})
    assert y.dtype == np.float32


def test_weights_beyond_fp16_range_are_clipped_and_reported():
    m = small_graph()
    w = next(i for i in m.graph.initializer if i.name == "W")
    arr = numpy_helper.to_array(w).copy()
    arr[0, 0] = 1e6
    w.CopyFrom(numpy_helper.from_array(arr, "W"))
    _, report = convert_float_graph(m, "fp16")
    assert report.clipped_weights == ["W"] and "clipped" in report.summary()


def test_control_flow_is_refused():
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["o"])],
        "t",
        [],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, [1])],
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=then_g)
    g = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    with pytest.raises(Fp16ConversionError, match="subgraph"):
        convert_float_graph(helper.make_model(g), "fp16")


def test_unknown_precision():
    with pytest.raises(Fp16ConversionError, match="fp16 or bf16"):
        convert_float_graph(small_graph(), "int8")


def test_exported_model_fp16_matches_fp32(micro_onnx):
    """The real exported graph (portable NAT micro): fp16 logits within fp16 tolerance, top-1 kept."""
    m = onnx.load(str(micro_onnx))
    c, report = convert_float_graph(m, "fp16")
    onnx.checker.check_model(c)
    assert report.fp32_nodes > 0
    x = np.random.default_rng(0).standard_normal((4, 3, 64, 64)).astype(np.float32)
    s32 = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    s16 = ort.InferenceSession(c.SerializeToString(), providers=["CPUExecutionProvider"])
    a = s32.run(None, {"pixel_values": x})[0]
    b = s16.run(None, {"pixel_values": x})[0]
    assert b.dtype == np.float32
    assert np.abs(a - b).max() < 1e-2 * max(1.0, np.abs(a).max())
    assert (a.argmax(1) == b.argmax(1)).all()


def _converter_common(model, block):
    """The same graph through onnxconverter-common's float16 pass (the reference implementation)."""
    fp16 = pytest.importorskip("onnxconverter_common.float16", reason="onnxconverter-common is in the [test] extra")
    return fp16.convert_float_to_float16(model, keep_io_types=True, op_block_list=sorted(block))


def test_against_onnxconverter_common(micro_onnx):
    """Our pass and onnxconverter-common's on the exported NAT graph, the same ops kept in fp32: both keep
    top-1, and our error against fp32 is no worse than theirs (plus fp16 rounding slack). (On small_graph()
    onnxconverter-common 1.16 writes an invalid model: two Casts named x_cast_to_.)"""
    from nat_export.onnx.fp16 import KEEP_FP32_OPS

    m = onnx.load(str(micro_onnx))
    feed = {"pixel_values": np.random.default_rng(1).standard_normal((8, 3, 64, 64)).astype(np.float32)}
    ours, _ = convert_float_graph(m, "fp16")
    theirs = _converter_common(m, KEEP_FP32_OPS)

    def first_output(model):
        s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, feed)[0].astype(np.float64)

    ref, a, b = first_output(m), first_output(ours), first_output(theirs)
    err_ours, err_theirs = np.abs(a - ref).max(), np.abs(b - ref).max()
    scale = max(1.0, np.abs(ref).max())
    assert err_ours <= 1e-2 * scale and err_theirs <= 1e-2 * scale, (err_ours, err_theirs)
    assert err_ours <= 2 * err_theirs + 1e-3 * scale, (err_ours, err_theirs)
    assert (a.argmax(-1) == ref.argmax(-1)).all() and (b.argmax(-1) == ref.argmax(-1)).all()
