"""Models without a batch axis: import the whole declared shape as one sample.

qconv takes the first axis of every graph input as the batch. Some exports have none: PyTorch
attention is exported with inputs (sequence, batch, embedding) = (64, 1, 128) and reshapes and
transposes across the leading axis. When the normal import fails on exactly that (a
`BatchAxisError`) and every graph input declares a fixed leading dimension > 1, `single_sample`
rewrites a copy of the model with a leading batch axis of size 1 on every tensor, and the
importer runs again on it: one sample is then the whole declared input, as onnxruntime and
qonnx's executor feed it.

The rewrite shifts what refers to axes by one: graph input/output shapes, Reshape targets,
Transpose perms and the axis attributes/inputs of Softmax, Concat, Squeeze and Unsqueeze, on
the nodes that compute on activations (nodes of constants only, e.g. a weight's Transpose or a
bias's Unsqueeze, keep their axes). Element-wise ops, MatMul of matrices and quantizers broadcast
from the right and need nothing. Any other op (Conv, pooling, BatchNorm, Gemm, Flatten, Shape,
Gather, ...) has a fixed axis meaning, so the rewrite refuses it and the original error stands.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import BatchAxisError
from ..onnx_tools import constant_tensors

UNCHANGED = {
    "Add", "Sub", "Mul", "Div", "Pow", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "Identity", "Dropout",
    "Constant", "MatMul", "Quant", "IntQuant", "BipolarQuant", "FloatQuant", "Trunc", "Elu", "Selu", "HardSigmoid",
}
AXIS_ATTRIBUTE = {"Softmax", "Concat"}  # one `axis`; Softmax only from opset 13
AXES = {"Squeeze", "Unsqueeze"}                   # `axes` attribute, or input 1 from opset 13


def eligible(model: onnx.ModelProto) -> bool:
    """Every non-constant graph input declares a fixed leading dimension > 1."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in inits]
    return bool(inputs) and all(_leading(vi) > 1 for vi in inputs)


def _leading(vi: onnx.ValueInfoProto) -> int:
    dims = vi.type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") else 0


def single_sample(model: onnx.ModelProto, error: BatchAxisError) -> onnx.ModelProto:
    """A copy of `model` with a leading batch axis of 1 on every tensor; raises `error`, with
    the reason appended, when the model is not eligible or uses an op this cannot rewrite."""
    if not eligible(model):
        raise error
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    opset = next((o.version for o in out.opset_import if o.domain in ("", "ai.onnx")), 1)
    consts = {i.name: i for i in g.initializer}
    consts.update({n.output[0]: n.attribute[0].t for n in g.node
                   if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"})
    for vi in list(g.input) + list(g.output):
        if vi.name not in consts and vi.type.tensor_type.HasField("shape"):
            vi.type.tensor_type.shape.dim.insert(0, onnx.TensorShapeProto.Dimension(dim_value=1))
    del g.value_info[:]

    def refuse(node, why):
        shapes = ", ".join(str([d.dim_value for d in vi.type.tensor_type.shape.dim]) for vi in model.graph.input
                           if vi.name not in consts)
        raise BatchAxisError(f"{error}; importing the declared input shape {shapes} as one sample does not work "
                             f"either: ONNX node '{node.name or node.output[0]}' ({node.op_type}) {why}") from None

    def shifted_input(node, k, transform):
        """Replace constant input k of `node` by transform(values), as a new initializer."""
        if k >= len(node.input) or node.input[k] not in consts:
            refuse(node, f"needs a constant input {k}")
        name = f"{node.input[k]}@single_sample_{node.op_type}"
        if name not in consts:  # (shared by several nodes of this op: shifted once)
            values = transform(numpy_helper.to_array(consts[node.input[k]]))
            g.initializer.append(numpy_helper.from_array(values, name))
            consts[name] = g.initializer[-1]
        node.input[k] = name

    constant = constant_tensors(model.graph)
    for node in g.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type in UNCHANGED or all(o in constant for o in node.output if o):
            continue
        if node.op_type == "Reshape":
            shifted_input(node, 1, lambda v: np.concatenate([[1], v.reshape(-1)]).astype(v.dtype))
        elif node.op_type == "Transpose":
            if "perm" not in attrs:
                refuse(node, "has no explicit perm")
            attrs["perm"].ints[:] = [0] + [p + 1 for p in attrs["perm"].ints]
        elif node.op_type in AXIS_ATTRIBUTE:
            if node.op_type == "Softmax" and opset < 13:
                refuse(node, "uses the opset < 13 Softmax, which flattens from its axis")
            if "axis" in attrs:
                attrs["axis"].i += attrs["axis"].i >= 0
            elif node.op_type != "Softmax":  # Concat needs one
                refuse(node, "has no axis")
        elif node.op_type in AXES:
            if "axes" in attrs:
                attrs["axes"].ints[:] = [a + (a >= 0) for a in attrs["axes"].ints]
            elif len(node.input) > 1 and node.input[1]:
                shifted_input(node, 1, lambda v: v + (v >= 0))
            else:
                refuse(node, "has no explicit axes")
        else:
            refuse(node, "has an axis meaning that cannot be shifted")
    return out
