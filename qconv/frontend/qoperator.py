"""onnxruntime's QOperator format, rewritten into the QDQ form the importer reads (qdq.py).

A QOperator model carries uint8/int8 tensors between operators that read and write integers:
`QLinearConv`, `QLinearMatMul` (ONNX), `QGemm`, `QLinearAdd`, `QLinearMul`, `QLinearSigmoid`,
`QLinearLeakyRelu`, `QLinearSoftmax`, `QLinearAveragePool`, `QLinearGlobalAveragePool`,
`QLinearConcat` (com.microsoft), and `ConvInteger`/`MatMulInteger`. The ONNX spec and
onnxruntime's contrib-op docs define each one as its float operator between dequantized inputs
and a quantized output: QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B) is
Q(Conv(DQ(x, xs, xz), DQ(w, ws, wz), DQ(B, xs * ws, 0)), ys, yz), the bias being int32 on the
scale xs * ws. `expand` writes exactly that, node for node, so the integer arithmetic and the
requantization go through the same exact path as QDQ models (the float requantization becomes
thresholds; rounding-boundary ambiguities are counted as for any float-scaled layer).

Ops that only move or select integers (MaxPool, Reshape, Transpose, Flatten...) run on the
integer tensors of a QOperator model; they commute with the dequantization (a positive scale and
an offset), so each is rewritten as DQ -> op -> Q with the tensor's own scale and zero point.
`ConvInteger`/`MatMulInteger` give the exact int32 sum of (x - xz)(w - wz): DQ with scale 1.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError, UnsupportedError
from .validate import node_name

MS = "com.microsoft"
# op -> (float op, positions of (tensor, scale, zero point) inputs, (y scale, y zero point) positions or None)
_QLINEAR = {
    "QLinearConv": ("Conv", [(0, 1, 2), (3, 4, 5)], (6, 7)),
    "QLinearMatMul": ("MatMul", [(0, 1, 2), (3, 4, 5)], (6, 7)),
    "QGemm": ("Gemm", [(0, 1, 2), (3, 4, 5)], (7, 8)),
    "QLinearAdd": ("Add", [(0, 1, 2), (3, 4, 5)], (6, 7)),
    "QLinearMul": ("Mul", [(0, 1, 2), (3, 4, 5)], (6, 7)),
    "QLinearSigmoid": ("Sigmoid", [(0, 1, 2)], (3, 4)),
    "QLinearLeakyRelu": ("LeakyRelu", [(0, 1, 2)], (3, 4)),
    "QLinearSoftmax": ("Softmax", [(0, 1, 2)], (3, 4)),
    "QLinearAveragePool": ("AveragePool", [(0, 1, 2)], (3, 4)),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", [(0, 1, 2)], (3, 4)),
    "ConvInteger": ("Conv", [(0, None, 2), (1, None, 3)], None),
    "MatMulInteger": ("MatMul", [(0, None, 2), (1, None, 3)], None),
}
# float ops the QOperator format runs on integer tensors directly: they move or select values
_ON_INTEGERS = {"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "DepthToSpace",
                "SpaceToDepth", "Resize", "Gather", "Slice", "Split", "Pad", "GlobalMaxPool"}
# attributes of the contrib ops that their float op does not take
_DROP = {"QLinearSoftmax": {"opset"}, "QLinearGlobalAveragePool": {"channels_last"},
         "QLinearAveragePool": {"channels_last"}}


def is_qoperator(model: onnx.ModelProto) -> bool:
    return any(n.op_type in _QLINEAR or n.op_type == "QLinearConcat" for n in model.graph.node)


class _Rewriter:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.inits = {i.name: i for i in model.graph.initializer}
        self.nodes: list = []
        self.qparams: dict[str, tuple[str, str]] = {}  # integer tensor -> (scale, zero point) names
        self.count = 0
        self.int32: set[str] = set()  # ConvInteger/MatMulInteger outputs (exact integers, carried as values)

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__qop{self.count}"

    def value(self, node, name: str) -> np.ndarray:
        if name not in self.inits:
            raise UnsupportedError(f"{node_name(node)}: its scale/zero point "
                                   f"'{name}' must be an initializer")
        return numpy_helper.to_array(self.inits[name])

    def constant(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.model.graph.initializer.append(numpy_helper.from_array(value, name))
        self.inits[name] = self.model.graph.initializer[-1]
        return name

    def dq(self, x: str, scale: str, zero: str, axis: int | None = None) -> str:
        out = self.fresh(f"{x}_dq")
        self.nodes.append(helper.make_node("DequantizeLinear", [x, scale, zero], [out], name=out,
                                           **({} if axis is None else {"axis": axis})))
        return out

    def q(self, x: str, out: str, scale: str, zero: str) -> None:
        self.nodes.append(helper.make_node("QuantizeLinear", [x, scale, zero], [out], name=f"{out}_q"))
        self.qparams[out] = (scale, zero)

    def weight_axis(self, node, position: int) -> int | None:
        """The axis of a per-channel weight scale (None for a per-tensor one)."""
        scale = node.input[position + 1] if position + 1 < len(node.input) else ""
        if not scale or self.value(node, scale).size <= 1:
            return None
        if node.op_type in ("QLinearConv", "ConvInteger"):
            return 0
        if node.op_type == "QGemm":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            return 0 if attrs.get("transB", 0) else 1
        return -1  # MatMul: per column of B

    def bias(self, node, x_scale: str, w_scale: str, bias: str) -> str:
        """An int32 bias on the scale x_scale * w_scale (float32, as onnxruntime's tool computes it)."""
        scale = (self.value(node, x_scale).astype(np.float32) * self.value(node, w_scale).astype(np.float32)).reshape(-1)
        s = self.constant(f"{bias}_scale", scale.astype(np.float32))
        z = self.constant(f"{bias}_zero", np.zeros(scale.shape, np.int32))
        return self.dq(bias, s, z, 0 if scale.size > 1 else None)

    def qlinear(self, node) -> None:
        op, operands, out_q = _QLINEAR[node.op_type]
        given = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        where = node_name(node)
        if given.get("channels_last", 0):
            raise UnsupportedError(f"{where}: channels_last=1 (onnxruntime's NHWC layout, from a saved optimized "
                                   "model) is not supported; save the model before onnxruntime optimizes it")
        if node.op_type == "QLinearAveragePool" and given.get("ceil_mode", 0) and given.get("count_include_pad", 0):
            raise UnsupportedError(f"{where}: ceil_mode=1 with count_include_pad=1 is not supported (onnxruntime's "
                                   "kernel averages those windows differently from its own AveragePool)")
        attrs = {k: v for k, v in given.items() if k not in _DROP.get(node.op_type, set())}
        inputs = []
        for tensor, scale, zero in operands:
            x = node.input[tensor]
            zero_name = node.input[zero] if zero < len(node.input) and node.input[zero] else ""
            if scale is None:  # ConvInteger/MatMulInteger: the integers themselves
                scale_name = self.constant(f"{x}_one", np.array(1.0, np.float32))
            else:
                scale_name = node.input[scale]
            if not zero_name:
                dtype = self.inits[x].data_type if x in self.inits else onnx.TensorProto.UINT8
                zero_name = self.constant(f"{x}_zero", np.array(0, helper.tensor_dtype_to_np_dtype(dtype)))
            axis = self.weight_axis(node, tensor) if x in self.inits and scale is not None else None
            inputs.append(self.dq(x, scale_name, zero_name, axis))
        if node.op_type == "QLinearConv" and len(node.input) > 8 and node.input[8]:
            inputs.append(self.bias(node, node.input[1], node.input[4], node.input[8]))
        if node.op_type == "QGemm":
            if len(node.input) > 6 and node.input[6]:
                inputs.append(self.bias(node, node.input[1], node.input[4], node.input[6]))
            if float(attrs.get("alpha", 1.0)) != 1.0:
                raise UnsupportedError(f"{node_name(node)}: alpha != 1 is not supported")
        if node.op_type == "QLinearSoftmax" and {a.name: helper.get_attribute_value(a) for a in node.attribute}.get(
                "opset", 13) < 13:
            raise UnsupportedError(f"{node_name(node)}: opset < 13 "
                                   "(2-D coerced) softmax is not supported")
        if out_q is None or len(node.input) <= out_q[0] or not node.input[out_q[0]]:
            self.nodes.append(helper.make_node(op, inputs, [node.output[0]], name=node.name, **attrs))
            self.int32.update([node.output[0]] if out_q is None else [])
            return
        y = self.fresh(f"{node.output[0]}_float")
        self.nodes.append(helper.make_node(op, inputs, [y], name=node.name or node.output[0], **attrs))
        self.q(y, node.output[0], node.input[out_q[0]], node.input[out_q[1]])

    def concat(self, node) -> None:
        """QLinearConcat(Y_scale, Y_zero_point, (X, X_scale, X_zero_point)...)."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        inputs = [self.dq(*node.input[i:i + 3]) for i in range(2, len(node.input), 3)]
        y = self.fresh(f"{node.output[0]}_float")
        self.nodes.append(helper.make_node("Concat", inputs, [y], name=node.name or node.output[0], **attrs))
        self.q(y, node.output[0], node.input[0], node.input[1])

    def on_integers(self, node) -> None:
        """A move/select op on an integer tensor: DQ -> op -> Q with the tensor's scale and zero point."""
        scale, zero = self.qparams[node.input[0]]
        if node.op_type not in _ON_INTEGERS:
            raise UnsupportedError(f"{node_name(node)}: runs on the integers "
                                   f"of a QOperator tensor; only {', '.join(sorted(_ON_INTEGERS))} can")
        inputs = [self.dq(node.input[0], scale, zero)] + list(node.input[1:])
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        mode = attrs.get("mode", b"constant")
        if node.op_type == "Pad" and (mode.decode() if isinstance(mode, bytes) else mode) == "constant":
            inputs[2:3] = [self.pad_value(node, scale, zero)]  # its constant_value is an integer code
        data = node.output[:1] if node.op_type == "MaxPool" else node.output  # (not MaxPool's Indices)
        outs = [self.fresh(f"{o}_float") for o in data] + list(node.output[len(data):])
        self.nodes.append(helper.make_node(node.op_type, inputs, outs, name=node.name or node.output[0], domain=node.domain,
                                           **attrs))
        for o, f in zip(data, outs):
            self.q(f, o, scale, zero)

    def pad_value(self, node, scale: str, zero: str) -> str:
        """A Pad's integer constant_value c (0 when absent) as the float it stands for, (c - z) * s."""
        c = self.value(node, node.input[2]).astype(np.int64) if len(node.input) > 2 and node.input[2] else 0
        if np.size(c) != 1:
            raise ModelError(f"{node_name(node)}: constant_value must be one value (a scalar), got shape "
                             f"{list(np.shape(c))}")
        z = self.value(node, zero).astype(np.int64) if zero else 0
        s = self.value(node, scale).astype(np.float32)
        if np.size(z) != 1 or s.size != 1:
            raise UnsupportedError(f"{node_name(node)}: pads a per-axis quantized tensor (one pad value per "
                                   "channel); qconv pads per-tensor quantized ones")
        value = (np.float32(np.asarray(c - z).reshape(-1)[0]) * s).reshape(())
        return self.constant(f"{node.output[0]}_pad", value.astype(np.float32))

    def run(self) -> onnx.ModelProto:
        for node in self.model.graph.node:
            if node.op_type in _QLINEAR:
                self.qlinear(node)
            elif node.op_type == "QLinearConcat":
                self.concat(node)
            elif node.op_type == "QuantizeLinear":
                self.nodes.append(node)
                self.qparams[node.output[0]] = (node.input[1], node.input[2] if len(node.input) > 2 else "")
            elif node.op_type == "DynamicQuantizeLinear":
                raise UnsupportedError(f"{node_name(node)}: dynamic "
                                       "quantization computes its scale from each input at run time; quantize "
                                       "statically (onnxruntime's quantize_static) for fixed-point hardware")
            elif node.op_type == "Cast" and node.input[0] in self.int32 and {a.name: a.i for a in node.attribute}.get(
                    "to") in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):  # (exact below 2^24; above, qconv keeps the exact sum)
                self.nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
            elif node.op_type != "DequantizeLinear" and node.input and node.input[0] in self.qparams:
                self.on_integers(node)
            else:
                self.nodes.append(node)
        del self.model.graph.node[:]
        self.model.graph.node.extend(self.nodes)
        return self.model


def expand(model: onnx.ModelProto) -> onnx.ModelProto:
    """The QDQ model computing what the QOperator `model` computes (module doc); others unchanged."""
    if not is_qoperator(model):
        return model
    return _Rewriter(model).run()
