"""fp32 ONNX -> fp16- (or bf16-) typed ONNX for strongly typed TensorRT builds.

TensorRT 11 builds only strongly typed networks: every tensor has the type the ONNX file
gives it, and the builder's fp16 flag is gone. ``nat-export trt --fp16`` therefore needs an
ONNX whose tensors are typed fp16. :func:`convert_float_graph` makes one from any fp32
graph (the weights are in the ONNX, so no PyTorch model or checkpoint is needed):

- Every float32 weight and activation becomes fp16/bf16, including the neighborhood-attention
  node (its plugin computes in fp16 with float32 accumulation).
- Ops whose statistics or exponentials need the range of float32 stay float32
  (:data:`KEEP_FP32_OPS`: LayerNormalization, Softmax, the reductions); Casts are inserted
  around them.
- The graph inputs and outputs stay float32 (``keep_io=True``), with a Cast after each input
  and before each output, so every runtime (Python, C++ sample, validation) feeds and reads
  float32 whatever the engine's precision.
- Shape arithmetic that goes through float (Cast int -> float, then Div/Ceil...) stays float32:
  fp16 cannot hold integers above 2048 exactly.

The pass only rewrites types, initializers, Constant values and Cast targets, and inserts
Cast nodes; it never changes what the graph computes except for the precision. Its steps, in
order (:class:`_Conversion`): classify the nodes, choose each tensor's type, convert the
initializers, retype the node outputs, insert the casts, keep the graph I/O in float32, and
record the conversion in the metadata.

Torch-free (onnx and numpy; ``ml_dtypes`` for bf16).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

#: Ops that keep float32 inputs and outputs (their neighbours convert around them).
KEEP_FP32_OPS = frozenset(
    {
        "LayerNormalization",
        "Softmax",
        "LogSoftmax",
        "ReduceMean",
        "ReduceSum",
        "ReduceSumSquare",
        "ReduceL2",
        "ReduceLogSumExp",
    }
)

#: Inputs (by position) that an op requires in float32 whatever its data type.
FP32_ONLY_INPUTS = {"Resize": {1, 2}}

#: Ops whose float input may be of any type (they read shapes or convert themselves).
ANY_TYPE_OPS = frozenset({"Shape", "Size"})

FP16_MAX = 65504.0


class Fp16ConversionError(ValueError):
    """The graph cannot be converted; the message names the problem and the fix."""


@dataclass
class ConversionReport:
    dtype: str
    low_nodes: int = 0
    fp32_nodes: int = 0
    casts_inserted: int = 0
    clipped_weights: list[str] = field(default_factory=list)

    def summary(self) -> str:
        s = (
            f"{self.dtype}: {self.low_nodes} nodes in {self.dtype}, {self.fp32_nodes} kept in fp32, "
            f"{self.casts_inserted} casts inserted"
        )
        if self.clipped_weights:
            s += f"; {len(self.clipped_weights)} weights clipped to the {self.dtype} range"
        return s


def _tp():
    from onnx import TensorProto

    return TensorProto


def _low_type(dtype: str) -> int:
    tp = _tp()
    try:
        return {"fp16": tp.FLOAT16, "bf16": tp.BFLOAT16}[dtype]
    except KeyError:
        raise Fp16ConversionError(f"unknown reduced precision {dtype!r}; use fp16 or bf16") from None


def _to_low_array(arr: np.ndarray, dtype: str, name: str, report: ConversionReport) -> np.ndarray:
    if dtype == "fp16":
        if arr.size and np.nanmax(np.abs(arr)) > FP16_MAX:
            report.clipped_weights.append(name)
            arr = np.clip(arr, -FP16_MAX, FP16_MAX)
        return arr.astype(np.float16)
    import ml_dtypes

    return arr.astype(ml_dtypes.bfloat16)


def _convert_tensor(t, dtype: str, report: ConversionReport):
    from onnx import numpy_helper

    arr = numpy_helper.to_array(t)
    new = numpy_helper.from_array(_to_low_array(arr, dtype, t.name, report), t.name)
    return new


def elem_types(model) -> dict[str, int]:
    """Element type of every typed tensor of the main graph (inputs, outputs, value_info, initializers)."""
    g = model.graph
    types: dict[str, int] = {}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        types[init.name] = init.data_type
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.HasField("t"):
                    types[node.output[0]] = a.t.data_type
    return types


def _complete_types(model) -> dict[str, int]:
    import onnx

    types = elem_types(model)
    missing = [o for n in model.graph.node for o in n.output if o and o not in types]
    if missing:
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
            types = elem_types(inferred)
        except Exception:  # noqa: BLE001 - shape inference is a best effort here
            pass
        missing = [o for n in model.graph.node for o in n.output if o and o not in types]
    if missing:
        raise Fp16ConversionError(
            f"the type of tensor {missing[0]!r} (and {len(missing) - 1} more) is unknown; "
            "export with nat-export (which types every tensor) or run onnx shape inference first"
        )
    return types


def _check_no_subgraphs(model) -> None:
    from onnx import AttributeProto

    for n in model.graph.node:
        for a in n.attribute:
            if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
                raise Fp16ConversionError(
                    f"node {n.name or n.op_type} has a subgraph ({n.op_type}); the fp16 conversion handles "
                    "graphs without control flow only: export the model in fp16 instead (nat-export onnx --fp16)"
                )


def _attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def _classify(model, types: dict[str, int], keep_fp32: frozenset[str]) -> tuple[dict[int, str], set[str]]:
    """Per node index: 'low', 'fp32' or 'other'; and the tensors that hold float shape arithmetic."""
    tp = _tp()
    FLOAT = tp.FLOAT
    g = model.graph
    small_consts = {i.name for i in g.initializer if int(np.prod(i.dims)) <= 1}
    for n in g.node:
        if n.op_type == "Constant":
            a = _attr(n, "value")
            if a is not None and a.HasField("t") and int(np.prod(a.t.dims)) <= 1:
                small_consts.add(n.output[0])
    shape_math: set[str] = set()
    modes: dict[int, str] = {}
    for idx, n in enumerate(g.node):
        fin = [i for i in n.input if i and types.get(i) == FLOAT]
        fout = [o for o in n.output if o and types.get(o) == FLOAT]
        if n.op_type == "Constant":
            modes[idx] = "const" if fout else "other"
            continue
        if not fin and not fout:
            modes[idx] = "other"
            continue
        if n.op_type in ANY_TYPE_OPS:
            modes[idx] = "other"
            continue
        if n.op_type == "Cast":
            if not fout:  # float -> int/bool: reads whatever type it gets
                modes[idx] = "other"
            elif not fin:  # int/bool -> float: shape arithmetic, stays fp32
                modes[idx] = "fp32"
                shape_math.update(fout)
            else:
                modes[idx] = "low" if fin[0] not in shape_math else "fp32"
                if fin[0] in shape_math:
                    shape_math.update(fout)
            continue
        if n.op_type in keep_fp32:
            modes[idx] = "fp32"
            continue
        if fin and any(i in shape_math for i in fin) and all(i in shape_math or i in small_consts for i in fin):
            modes[idx] = "fp32"
            shape_math.update(fout)
            continue
        modes[idx] = "low"
    return modes, shape_math


class _Conversion:
    """One run of the pass over a copy of the graph; each method is one step."""

    def __init__(self, model, dtype: str, keep_fp32: frozenset[str], keep_io: bool):
        tp = _tp()
        self.FLOAT, self.LOW = tp.FLOAT, _low_type(dtype)
        self.dtype, self.keep_fp32, self.keep_io = dtype, keep_fp32, keep_io
        self.model = model
        self.g = model.graph
        self.report = ConversionReport(dtype)
        self.final: dict[str, int] = {}  # tensor -> the float type it has after the pass
        self.new_nodes: list = []
        self.cast_cache: dict[tuple[str, int], str] = {}

    # ------------------------------------------------------------ step 1: what each node computes in

    def classify(self) -> None:
        g = self.g
        float_inputs = [i for i in g.input if i.type.tensor_type.elem_type == self.FLOAT]
        if not float_inputs and not any(i.data_type == self.FLOAT for i in g.initializer):
            raise Fp16ConversionError(
                "the graph has no float32 inputs or weights; convert an fp32 graph (nat-export onnx without --fp16)"
            )
        self.types = _complete_types(self.model)
        self.modes, _ = _classify(self.model, self.types, self.keep_fp32)
        init_names = {i.name for i in g.initializer}
        self.graph_inputs = {i.name for i in g.input} - init_names
        self.graph_outputs = {o.name for o in g.output}
        self.consumers: dict[str, list[tuple[int, int]]] = {}  # tensor -> (node index, input position)
        for idx, n in enumerate(g.node):
            for pos, name in enumerate(n.input):
                if name:
                    self.consumers.setdefault(name, []).append((idx, pos))

    def wants_low(self, idx: int, pos: int) -> bool | None:
        """What a consumer wants at an input: True (low), False (fp32) or None (any)."""
        n = self.g.node[idx]
        mode = self.modes[idx]
        if n.op_type == "Cast":
            return None
        if pos in FP32_ONLY_INPUTS.get(n.op_type, ()):
            return False
        if mode == "low":
            return True
        if mode == "fp32":
            return False
        return None

    def low_by_consumers(self, name: str) -> bool:
        wants = [self.wants_low(i, p) for i, p in self.consumers.get(name, [])]
        wants = [w for w in wants if w is not None]
        return bool(wants) and all(wants)

    # ------------------------------------------------------------ step 2: weights

    def convert_initializers(self) -> None:
        for name, t in self.types.items():
            if t == self.FLOAT and name in self.graph_inputs:
                self.final[name] = self.FLOAT if self.keep_io else self.LOW
        new_inits = []
        for init in self.g.initializer:
            if init.data_type == self.FLOAT and self.low_by_consumers(init.name):
                new_inits.append(_convert_tensor(init, self.dtype, self.report))
                self.final[init.name] = self.LOW
            else:
                new_inits.append(init)
                if init.data_type == self.FLOAT:
                    self.final[init.name] = self.FLOAT
        del self.g.initializer[:]
        self.g.initializer.extend(new_inits)

    # ------------------------------------------------------------ step 3: node outputs

    def retype_outputs(self) -> None:
        for idx, n in enumerate(self.g.node):
            mode = self.modes[idx]
            fout = [o for o in n.output if o and self.types.get(o) == self.FLOAT]
            if mode == "const":
                self._retype_constant(n)
            elif mode == "low":
                self.report.low_nodes += 1
                for o in fout:
                    self.final[o] = self.LOW
                if n.op_type == "Cast":
                    _attr(n, "to").i = self.LOW
                if n.op_type == "ConstantOfShape":
                    a = _attr(n, "value")
                    if a is not None and a.t.data_type == self.FLOAT:
                        a.t.CopyFrom(_convert_tensor(a.t, self.dtype, self.report))
            else:
                if mode == "fp32":
                    self.report.fp32_nodes += 1
                for o in fout:  # fp32 nodes, and float outputs of ops with no float inputs we know of
                    self.final[o] = self.FLOAT

    def _retype_constant(self, n) -> None:
        out = n.output[0]
        if self.low_by_consumers(out) and not (out in self.graph_outputs and self.keep_io):
            a = _attr(n, "value")
            a.t.CopyFrom(_convert_tensor(a.t, self.dtype, self.report))
            self.final[out] = self.LOW
        else:
            self.final[out] = self.FLOAT

    # ------------------------------------------------------------ step 4: casts where types meet

    def cast_to(self, name: str, to: int) -> str:
        from onnx import helper

        key = (name, to)
        if key not in self.cast_cache:
            suffix = "fp32" if to == self.FLOAT else self.dtype
            out = f"{name}__to_{suffix}"
            node_name = f"natx_cast_{len(self.cast_cache)}_{suffix}"
            self.new_nodes.append(helper.make_node("Cast", [name], [out], to=to, name=node_name))
            self.cast_cache[key] = out
            self.report.casts_inserted += 1
        return self.cast_cache[key]

    def insert_casts(self) -> None:
        for idx, n in enumerate(self.g.node):
            for pos, name in enumerate(list(n.input)):
                if not name or self.types.get(name) != self.FLOAT:
                    continue
                w = self.wants_low(idx, pos)
                if w is None:
                    continue
                want = self.LOW if w else self.FLOAT
                if self.final.get(name, self.FLOAT) != want:
                    n.input[pos] = self.cast_to(name, want)
            self.new_nodes.append(n)

    # ------------------------------------------------------------ step 5: graph inputs / outputs

    def keep_graph_io(self) -> None:
        from onnx import helper

        g = self.g
        for o in g.output:
            if o.type.tensor_type.elem_type != self.FLOAT or self.final.get(o.name, self.FLOAT) != self.LOW:
                continue
            if not self.keep_io:
                o.type.tensor_type.elem_type = self.LOW
                continue
            low_name = f"{o.name}__{self.dtype}"
            for nd in self.new_nodes:
                for field_ in (nd.output, nd.input):
                    for i, x in enumerate(field_):
                        if x == o.name:
                            field_[i] = low_name
            cast = helper.make_node("Cast", [low_name], [o.name], to=self.FLOAT, name=f"natx_cast_out_{o.name}")
            self.new_nodes.append(cast)
            self.report.casts_inserted += 1
        if not self.keep_io:
            for i in g.input:
                if i.name in self.graph_inputs and i.type.tensor_type.elem_type == self.FLOAT:
                    i.type.tensor_type.elem_type = self.LOW
        del g.node[:]
        g.node.extend(self.new_nodes)
        for vi in g.value_info:
            if self.types.get(vi.name) == self.FLOAT and vi.name in self.final:
                vi.type.tensor_type.elem_type = self.final[vi.name]

    # ------------------------------------------------------------ step 6: what was done

    def record_metadata(self) -> None:
        _set_meta(self.model, "nat_export.dtype", self.dtype)
        _set_meta(
            self.model,
            "nat_export.precision_conversion",
            f"nat_export.onnx.fp16: {self.dtype} with {', '.join(sorted(self.keep_fp32))} in fp32"
            + ("; inputs/outputs fp32" if self.keep_io else ""),
        )


def convert_float_graph(
    model,
    dtype: str = "fp16",
    *,
    keep_fp32_ops: Iterable[str] = KEEP_FP32_OPS,
    keep_io: bool = True,
):
    """An fp32 ONNX graph as an fp16- or bf16-typed one.

    Args:
        model: an fp32 ``onnx.ModelProto`` (not modified).
        dtype: ``fp16`` or ``bf16``.
        keep_fp32_ops: op types that keep float32 inputs and outputs.
        keep_io: graph inputs and outputs stay float32 (casts inserted after / before them).

    Returns:
        ``(converted ModelProto, ConversionReport)``.

    Raises:
        Fp16ConversionError: no float32 tensors, untyped tensors, subgraphs, or an unknown ``dtype``.
    """
    import onnx

    _check_no_subgraphs(model)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    conv = _Conversion(copy, dtype, frozenset(keep_fp32_ops), keep_io)
    conv.classify()
    conv.convert_initializers()
    conv.retype_outputs()
    conv.insert_casts()
    conv.keep_graph_io()
    conv.record_metadata()
    return copy, conv.report


def _set_meta(model, key: str, value: str) -> None:
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
            return
    p = model.metadata_props.add()
    p.key, p.value = key, value


def graph_float_type(model) -> str | None:
    """'fp32', 'fp16' or 'bf16': the float type holding most of the graph's weights.

    Converted graphs keep fp32 inputs, LayerNorm weights and casts, so the inputs alone do
    not tell; without float weights, the first float input decides. None when neither exists.
    """
    tp = _tp()
    names = {tp.FLOAT: "fp32", tp.FLOAT16: "fp16", tp.BFLOAT16: "bf16"}
    count: dict[str, int] = {}
    for init in model.graph.initializer:
        if init.data_type in names:
            key = names[init.data_type]
            count[key] = count.get(key, 0) + int(np.prod(init.dims))
    if count:
        return max(count, key=count.get)
    for i in model.graph.input:
        t = i.type.tensor_type.elem_type
        if t in names:
            return names[t]
    return None
