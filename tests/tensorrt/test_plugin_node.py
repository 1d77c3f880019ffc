"""The exported plugin node's inputs: a layer without rpb gives a node with one input, never an
empty-named second one (TensorRT's ONNX parser would hand the plugin a second, null input);
with rpb, two. Through the exporter's own translation table (nat_export.export.contract)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")


def _export(rpb: bool):
    from nat_export.export.contract import OP_TYPE, translation_table
    from nat_export.ops.custom_op import na2d_qkv

    class One(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rpb = torch.nn.Parameter(torch.zeros(2, 5, 5)) if rpb else None

        def forward(self, x):
            return na2d_qkv(x, 2, 3, 1, self.rpb, 0.5)

    prog = torch.onnx.export(
        One(), (torch.randn(1, 8, 8, 24),), dynamo=True, custom_translation_table=translation_table(), verbose=False
    )
    nodes = [n for n in prog.model_proto.graph.node if n.op_type == OP_TYPE]
    assert len(nodes) == 1
    return nodes[0]


@pytest.mark.parametrize("rpb", [False, True], ids=["no-rpb", "rpb"])
def test_plugin_node_inputs(rpb):
    node = _export(rpb)
    assert len(node.input) == (2 if rpb else 1), list(node.input)
    assert all(name for name in node.input), f"empty input name on the plugin node: {list(node.input)}"
