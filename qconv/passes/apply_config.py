"""Quantize a float model as a quantization config says (`qconv build --config q.yaml`).

For each Dense/Conv node (matched by ONNX node name, then op type, then `default`):
`kernel_quantizer` and `bias_quantizer` quantize the float weights once, exactly as the QKeras
quantizer computes them (kernels in QKeras' channels-last layout, so per-channel auto scales
see output channels last); the values, dyadic by construction, become exact mantissas.

`activation`, like QKeras' QActivation, *replaces* an activation node (Relu, Sigmoid, Tanh, ...):
the quantizer is computed on that node's input. It comes from the node's name entry, its
op-type entry, or (for Relu nodes only) `default`. On a Dense/Conv node's name entry it
applies to the layer's output, as a QKeras layer's `activation=` does. A fixed-point quantizer
replacing a Relu is the Relu with the quantizer as its output type (quantize(relu(x))); every
other case is a lookup table of q over the input's mantissas (po2, binary, ternary, tanh,
sigmoid, hswish ...). Quantizers with no exact hardware form are refused.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import UnsupportedError
from ..fixed import FixedType
from ..ir import Const, Graph, Node, TensorType
from ..qtools import QKerasInfo
from ..numeric import constant_fixed
from .options import Options

ACTIVATION_OPS = {"Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "HardSigmoid", "Elu", "Selu", "Clip", "Softmax"}


def _quantize_weights(node: Node, key: str, q) -> None:
    c = node.consts.get(key)
    if c is None or q is None:
        return
    if c.quantized:
        raise UnsupportedError(f"{node.describe()}: the model already quantizes '{key}'; "
                               "remove it from the quantization config")
    w = c.values
    qkeras_layout = (2, 3, 1, 0) if (node.op == "Conv" and key == "W") else None
    w_k = w.transpose(qkeras_layout) if qkeras_layout else w
    q.hardware(w_k.astype(np.float32)).require_exact()
    values = np.asarray(q(w_k.astype(np.float32)), np.float64)
    if qkeras_layout:
        values = values.transpose(np.argsort(qkeras_layout))
    mant, t = constant_fixed(values)
    node.consts[key] = Const(mant, t)
    info = node.attrs.setdefault("qkeras", QKerasInfo())  # for qtools and the report
    info["kernel_quantizer" if key == "W" else "bias_quantizer"] = q
    if key == "W" and isinstance(getattr(q, "alpha", None), str) and q.scale is not None:
        info["kernel_scale"] = np.array(q.scale, np.float64)  # this layer's auto scale


def _table_type(q, hw) -> FixedType:
    """Output type of an activation quantizer's table: its own type for fixed/table kinds (the
    `fixed` of binary/ternary forms is a sign encoding, not the values' type)."""
    if hw.kind in ("fixed", "table") and hw.scale is not None:
        exps = hw.scale_exponents
        if exps is None or np.unique(exps).size != 1:
            raise UnsupportedError(f"activation {q}: only a single power-of-two scale is supported on activations")
        f = hw.fixed  # scale * fixed(v): the same mantissas with the binary point moved
        return FixedType(f.width, f.integer + int(exps.reshape(-1)[0]), f.signed, f.rounding, f.overflow)
    return hw.fixed if hw.kind in ("fixed", "table") else _output_type(q, hw)


def _replace_activation(node: Node, q) -> None:
    """Node (an activation op) computes q(input) instead of its own function."""
    hw = q.hardware().require_exact()
    if node.op == "Relu" and hw.kind == "fixed" and hw.scale is None and not hw.fixed.signed:
        node.out.fixed = hw.fixed  # quantize(relu(x)): the Relu cast into the quantizer's type
        node.attrs.update(quantizer=q, type_source="quantizer")
        return
    node.op, node.inputs = "Table", node.inputs[:1]
    node.attrs = {"fn": "quantizer", "quantizer": q, "type_source": "quantizer"}
    node.consts = {}
    node.out.fixed = _table_type(q, hw)


def _append_activation(graph: Graph, node: Node, q) -> None:
    """A Dense/Conv layer's activation=q: applied to its output."""
    hw = q.hardware().require_exact()
    node.attrs.setdefault("qkeras", QKerasInfo())["activation"] = q
    name = graph.fresh_name(f"{node.name}_{q.name}")
    where = f"config activation {q} on {node.describe()}"
    if hw.kind == "fixed" and hw.scale is None:
        new = Node(name, "Quant", [node.name], TensorType(node.out.shape), attrs={"type": hw.fixed}, origin=where)
    else:
        new = Node(name, "Table", [node.name], TensorType(node.out.shape, _table_type(q, hw)),
                   attrs={"fn": "quantizer", "quantizer": q, "type_source": "quantizer"}, origin=where)
    readers = graph.consumers(node.name)
    graph.add(new)
    graph.redirect(node.name, new.name, readers)


def _output_type(q, hw) -> FixedType:
    """A type holding every output of a po2/binary/ternary activation exactly."""
    if hw.kind == "po2":
        lo, hi = hw.exponents
        return FixedType(hi - lo + 2, hi + 2, True)
    values = np.array(hw.values or (-1.0, 0.0, 1.0), np.float64)
    scale = 1.0 if hw.scale is None else np.asarray(hw.scale, np.float64).reshape(-1)
    return constant_fixed(np.outer(values, scale))[1]


def apply(graph: Graph, options: Options) -> Graph:
    config = options.config
    if config is None:
        return graph
    nodes = list(graph.topo())
    config.validate([n.source[0] for n in nodes if n.source[0]], [n.source[1] for n in nodes if n.source[1]])
    for node in nodes:
        name, op_type = node.source
        if not name:
            continue
        lq = config.for_node(name, op_type)
        if ops.has(node.op, ops.WEIGHTED):
            _quantize_weights(node, "W", lq.kernel_quantizer)
            _quantize_weights(node, "b", lq.bias_quantizer)
        if node.op == "Pool" and node.attrs.get("mode") == "avg" and lq.average_quantizer is not None:
            node.attrs["average_quantizer"] = lq.average_quantizer  # QKeras qpooling (analysis/qpooling.py)
        named = config.entries.get(name, {})
        if ops.has(node.op, ops.ACTIVATION_ARG):  # a layer's activation= (QAveragePooling2D has one too)
            if named.get("activation") is not None:
                _append_activation(graph, node, named["activation"])
        elif op_type in ACTIVATION_OPS:
            q = named.get("activation", config.entries.get(op_type, {}).get("activation"))
            if q is None and "activation" not in named and op_type == "Relu":
                q = config.default.get("activation")
            if q is not None:
                _replace_activation(node, q)
    return graph
