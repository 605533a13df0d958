"""Seeded random QONNX layer models for op tests: many independent branches (one input, one
layer, one output each) in one model, so one g++ build checks dozens of layer configurations."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QD = "qonnx.custom_op.general"


class Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def quant(self, src: str, bits: int, frac: int, signed=True, narrow=False) -> str:
        out = self.name("q")
        for suffix, v in (("s", 2.0**-frac), ("z", 0.0), ("b", float(bits))):
            self.inits.append(numpy_helper.from_array(np.array(v, np.float32), f"{out}_{suffix}"))
        self.nodes.append(helper.make_node("Quant", [src, f"{out}_s", f"{out}_z", f"{out}_b"], [out], name=out,
                                           domain=QD, signed=int(signed), narrow=int(narrow), rounding_mode="ROUND"))
        return out

    def const(self, values: np.ndarray) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(values.astype(np.float32), name))
        return name

    def int64_const(self, values: np.ndarray) -> str:
        name = self.name("i")
        self.inits.append(numpy_helper.from_array(values.astype(np.int64), name))
        return name

    def input(self, shape) -> str:
        name = self.name("x")
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, *shape]))
        return name

    def output(self, name: str) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "branches", self.inputs, self.outputs, self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)])


def conv_branch(b: Builder, dims: int):
    """A random Conv layer (1-D or 2-D): channels, groups, kernel, stride, dilation, pads."""
    r = b.rng
    groups = int(r.choice([1, 1, 2, 3]))
    c = groups * int(r.integers(1, 3))
    m = groups * int(r.integers(1, 3))
    spatial = [int(r.integers(4, 8)) for _ in range(dims)]
    kernel = [int(r.integers(1, 4)) for _ in range(dims)]
    attrs = {"kernel_shape": kernel, "group": groups,
             "strides": [int(r.integers(1, 3)) for _ in range(dims)],
             "dilations": [int(r.integers(1, 3)) for _ in range(dims)]}
    mode = r.choice(["pads", "pads", "SAME_UPPER", "SAME_LOWER", "VALID"])
    if mode == "pads":
        attrs["pads"] = [int(r.integers(0, 3)) for _ in range(2 * dims)]
    else:
        attrs["auto_pad"] = str(mode)
        if mode != "VALID":
            attrs["dilations"] = [1] * dims  # SAME with dilation is not defined by ONNX
    x = b.input([c, *spatial])
    xq = b.quant(x, int(r.integers(3, 9)), int(r.integers(0, 5)), signed=bool(r.integers(0, 2)))
    w = b.quant(b.const(r.normal(0, 1, (m, c // groups, *kernel))), int(r.integers(2, 7)), int(r.integers(1, 4)))
    ins = [xq, w]
    if r.integers(0, 2):
        ins.append(b.quant(b.const(r.normal(0, 1, m)), 8, 4))
    y = b.node("Conv", ins, **attrs)
    if r.integers(0, 2):
        y = b.quant(y, int(r.integers(4, 10)), int(r.integers(0, 4)), signed=True)
    b.output(y)


def pool_branch(b: Builder, dims: int, only_exact_avg=False):
    """A random pooling layer: Max/Average with pads, strides, ceil_mode, count_include_pad, or Global."""
    r = b.rng
    c = int(r.integers(1, 4))
    spatial = [int(r.integers(3, 8)) for _ in range(dims)]
    op = str(r.choice(["MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool"]))
    attrs = {}
    if not op.startswith("Global"):
        kernel = [int(r.integers(1, 4)) for _ in range(dims)]
        if only_exact_avg and op == "AveragePool":
            kernel = [int(r.choice([1, 2])) for _ in range(dims)]
        attrs = {"kernel_shape": kernel, "strides": [int(r.integers(1, 3)) for _ in range(dims)],
                 "pads": [int(r.integers(0, k)) for k in kernel * 2], "ceil_mode": int(r.integers(0, 2))}
        if op == "AveragePool":
            attrs["count_include_pad"] = int(r.integers(0, 2))
            if only_exact_avg:
                attrs.update(pads=[0] * (2 * dims), ceil_mode=0)
    elif only_exact_avg and op == "GlobalAveragePool":
        spatial = [int(r.choice([2, 4])) for _ in range(dims)]
    x = b.input([c, *spatial])
    xq = b.quant(x, int(r.integers(3, 9)), int(r.integers(0, 4)), signed=bool(r.integers(0, 2)))
    b.output(b.node(op, [xq], **attrs))


def _quantized_input(b: Builder, shape, signed=None):
    r = b.rng
    x = b.input(shape)
    return b.quant(x, int(r.integers(3, 9)), int(r.integers(0, 4)),
                   signed=bool(r.integers(0, 2)) if signed is None else signed)


def eltwise_branch(b: Builder, dims: int):
    """Add/Sub/Mul with a scalar, per-channel or full constant, or between two tensors (one of
    them seen through a Transpose, so the layouts differ), optionally on a conv output."""
    r = b.rng
    shape = [int(r.integers(1, 4))] + [int(r.integers(2, 5)) for _ in range(dims)]
    op = str(r.choice(["Add", "Sub", "Mul"]))
    x = _quantized_input(b, shape)
    kind = str(r.choice(["scalar", "channel", "full", "tensor", "tensor_t"]))
    if kind == "tensor":
        y = _quantized_input(b, shape)
        out = b.node(op, [x, y])
    elif kind == "tensor_t":  # the second operand arrives channels-last and is transposed back
        perm_in = [0] + list(range(2, dims + 2)) + [1]
        back = [0, dims + 1] + list(range(1, dims + 1))
        y = _quantized_input(b, [shape[i - 1] for i in perm_in[1:]])
        out = b.node(op, [x, b.node("Transpose", [y], perm=back)])
    else:
        cshape = {"scalar": [], "channel": [shape[0]] + [1] * dims, "full": shape}[kind]
        c = b.const(np.round(r.normal(0, 2, cshape) * 4) / 4)
        out = b.node(op, [c, x] if r.integers(0, 2) else [x, c])
    b.output(out)


def shape_branch(b: Builder, dims: int, exact_only: bool = False):
    """Concat (channel or spatial axis), zero Pad, nearest Resize, BatchNorm after a quantized conv."""
    r = b.rng
    shape = [int(r.integers(1, 4))] + [int(r.integers(2, 5)) for _ in range(dims)]
    kind = str(r.choice(["concat", "pad", "resize"] + ([] if exact_only else ["batchnorm"])))
    x = _quantized_input(b, shape)
    if kind == "concat":
        axis = int(r.integers(1, dims + 2))
        other = list(shape)
        other[axis - 1] = int(r.integers(1, 4))
        out = b.node("Concat", [x, _quantized_input(b, other)], axis=axis)
    elif kind == "pad":
        pads = [0] + [int(r.integers(0, 3)) for _ in range(dims + 1)]
        pads = pads + [0] + [int(r.integers(0, 3)) for _ in range(dims + 1)]
        out = b.node("Pad", [x, b.int64_const(np.array(pads))], mode="constant")
    elif kind == "resize":
        scales = np.array([1.0, 1.0] + [float(r.integers(1, 4)) for _ in range(dims)])
        out = b.node("Resize", [x, "", b.const(scales)], mode="nearest",
                     coordinate_transformation_mode=str(r.choice(["asymmetric", "half_pixel"])),
                     nearest_mode=str(r.choice(["floor", "round_prefer_floor", "round_prefer_ceil"])))
    else:
        m = int(r.integers(1, 4))
        w = b.quant(b.const(r.normal(0, 1, (m, shape[0], *([1] * dims)))), 4, 2)
        conv = b.node("Conv", [x, w], kernel_shape=[1] * dims)
        params = [b.const(v) for v in (r.uniform(0.5, 2, m), r.normal(0, 1, m), r.normal(0, 1, m),
                                       r.uniform(0.5, 2, m))]
        out = b.node("BatchNormalization", [conv, *params], epsilon=1e-3)
    b.output(out)


def matmul_branch(b: Builder, dims: int):
    """MatMul of two quantized activations [batch..., m, k] @ [batch..., k, n] (dims - 1 batch
    axes), the second one optionally arriving as [batch..., n, k] and transposed (Q K^T)."""
    r = b.rng
    batch = [int(r.integers(1, 4)) for _ in range(dims - 1)]
    m, k, n = (int(v) for v in r.integers(1, 6, 3))
    x = _quantized_input(b, batch + [m, k])
    if r.integers(0, 2):
        y = _quantized_input(b, batch + [n, k])
        y = b.node("Transpose", [y], perm=list(range(dims)) + [dims + 1, dims])
    else:
        y = _quantized_input(b, batch + [k, n])
    b.output(b.node("MatMul", [x, y]))
