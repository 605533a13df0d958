"""Importers of the dense family: Gemm and MatMul (IR ops Dense, MatMul); `emit_scaled_layer`,
`output_channel_scale` and `per_channel` are shared with the conv family."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, UnsupportedError
from ..ir import Const, Node
from ..numeric import po2_exponent
from .importer import Importer, handler


def scaled(imp: Importer, n, c: Const, factor: float, what: str) -> Const:
    """factor * c: exact on quantized constants only for positive powers of two."""
    if factor == 1.0:
        return c
    if not c.quantized:
        return Const(c.values * factor)
    e = po2_exponent(factor)
    if e is None:
        raise UnsupportedError(f"{imp.where(n)}: {what}={factor} on a quantized constant must be a "
                               "positive power of two to stay exact")
    if c.scale is not None:  # integers times a float scale: the power of two goes into the scale
        return Const(c.values, c.fixed, c.scale * factor)
    f = c.fixed
    return Const(c.values, type(f)(f.width, f.integer + e, f.signed, f.rounding, f.overflow))


def per_channel(imp: Importer, n, c: Const, channels: int, what: str) -> Const:
    """A scalar or per-channel constant (and its float scale, if any) as a vector of `channels` values."""
    def vector(a: np.ndarray) -> np.ndarray:
        a = np.broadcast_to(a, c.values.shape).reshape(-1)
        return np.repeat(a, channels) if a.size == 1 else a.copy()
    if c.values.size not in (1, channels):
        raise ModelError(f"{imp.where(n)}: {what} has {c.values.size} values for {channels} channels")
    return Const(vector(c.values), c.fixed, None if c.scale is None else vector(c.scale))


def _dense(imp: Importer, n, x: Node, w: Const, b: Const | None):
    if len(x.out.shape) != 1:
        raise UnsupportedError(f"{imp.where(n)}: input of shape {list(x.out.shape)} per sample; "
                               "Dense layers need a flat input (add a Flatten)")
    n_in, n_out = w.values.shape
    if x.out.shape[0] != n_in:
        raise ModelError(f"{imp.where(n)}: input has {x.out.shape[0]} features but the weight has {n_in} rows")
    if w.scale is not None or (b is not None and b.scale is not None):
        emit_scaled_layer(imp, n, "Dense", [x], (n_out,), {"W": w}, b,
                          None if w.scale is None else output_channel_scale(imp, n, w.scale.T))
        return
    consts = {"W": w}
    if b is not None:
        consts["b"] = per_channel(imp, n, b, n_out, "bias")
    imp.emit(n, "Dense", [x], (n_out,), consts=consts)


def output_channel_scale(imp: Importer, n, scale: np.ndarray) -> np.ndarray:
    """The per-output-channel float scale of integer weights laid out (M, ...): a scale that also
    varies inside a filter (along the inputs) cannot move past the sum, so it is refused."""
    rows = scale.reshape(scale.shape[0], -1)
    if not np.all(rows == rows[:, :1]):
        raise UnsupportedError(f"{imp.where(n)}: the weight quantizer's float scale varies along the input "
                               "axis; only one scale per output channel (or per tensor) can be applied after "
                               "the sum exactly")
    return rows[:, 0]


def emit_scaled_layer(imp: Importer, n, op: str, inputs, shape, consts: dict, b: Const | None,
                      out_scale, order=None, **kw) -> None:
    """A Dense/Conv whose weights (or bias) carry a float scale: the integer layer, then a float
    multiply by the per-output-channel scale and a float bias add (fused with what follows into
    the next quantizer's thresholds by fuse_requantizer)."""
    channels = shape[-1]
    w = consts["W"]
    integer_w = Const(w.values, w.fixed)
    layer = imp.add_node(n.name or n.output[0], op, inputs, shape, origin=imp.where(n),
                         source=(n.name or n.output[0], n.op_type), consts={"W": integer_w}, **kw)
    layer.attrs["exact_output"] = True  # its integer sums feed float scale arithmetic, never a cast
    last = layer
    if out_scale is not None:
        sw = np.asarray(out_scale, np.float64).reshape(-1)
        if sw.size == 1:
            sw = np.repeat(sw, channels)
        last = imp.add_node(f"{layer.name}_scale", "Eltwise", [last], shape, origin=imp.where(n),
                            consts={"c": Const(sw)},
                            attrs={"fn": "mul", "inner": 1, "period": channels,
                                   "float_op": ("mul", sw.astype(np.float32)), "scale_of": layer.name})
    if b is not None:
        bv = b.dequantized()
        bv = per_channel(imp, n, Const(np.asarray(bv, np.float32).astype(np.float64)), channels, "bias").values
        last = imp.add_node(f"{layer.name}_bias", "Eltwise", [last], shape, origin=imp.where(n),
                            consts={"c": Const(bv)},
                            attrs={"fn": "add", "inner": 1, "period": channels,
                                   "float_op": ("add", bv.astype(np.float32))})
    imp.alias(n.output[0], last, order if order is not None else tuple(range(len(shape))))


@handler("Gemm")
def _gemm(imp: Importer, n, attrs):
    x = imp.semantic(n, n.input[0])
    if attrs.get("transA", 0):
        raise UnsupportedError(f"{imp.where(n)}: transA=1 on an activation input is not supported")
    w = imp.const(n, n.input[1], "weight B", quantized=True, scaled=True)
    if w.values.ndim != 2:
        raise ModelError(f"{imp.where(n)}: weight B must be 2-D")
    if attrs.get("transB", 0):
        w = Const(w.values.T.copy(), w.fixed, None if w.scale is None else w.scale.T.copy())
    w = scaled(imp, n, w, float(attrs.get("alpha", 1.0)), "alpha")
    b = None
    if len(n.input) > 2 and n.input[2]:
        b = scaled(imp, n, imp.const(n, n.input[2], "bias C", quantized=True, scaled=True), float(attrs.get("beta", 1.0)), "beta")
    _dense(imp, n, x, w, b)


@handler("MatMul")
def _matmul(imp: Importer, n, attrs):
    if not imp.is_const(n.input[1]):
        return _matmul_activations(imp, n)
    x = imp.semantic(n, n.input[0])
    w = imp.const(n, n.input[1], "weight", quantized=True, scaled=True)
    if w.values.ndim != 2:
        raise UnsupportedError(f"{imp.where(n)}: only MatMul by a 2-D constant is supported")
    _dense(imp, n, x, w, None)


def _matmul_activations(imp: Importer, n):
    """A @ B of two activations (attention's Q K^T and P V): both read in row-major order,
    batched over equal leading axes."""
    if imp.is_const(n.input[0]):
        raise UnsupportedError(f"{imp.where(n)}: MatMul of a constant by an activation is not supported "
                               "(only activation @ constant, or activation @ activation)")
    a, b = (imp.semantic(n, name) for name in n.input[:2])
    sa, sb = a.out.shape, b.out.shape
    if len(sa) < 2 or len(sb) < 2 or sa[:-2] != sb[:-2] or sa[-1] != sb[-2]:
        raise UnsupportedError(f"{imp.where(n)}: MatMul of activations {list(sa)} and {list(sb)} per sample; "
                               "needs [..., m, k] @ [..., k, n] with equal leading axes")
    imp.emit(n, "MatMul", [a, b], sa[:-1] + sb[-1:], order=tuple(range(len(sa))), attrs={"k": sa[-1]})
