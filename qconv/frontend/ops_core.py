"""Importers of the core ops: quantizers, constants, fully connected layers, Relu, shapes."""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from ..errors import BatchAxisError, ModelError, UnsupportedError
from ..ir import Const, Node
from ..fixed import FixedType
from ..quantizers import IntQuant
from ..numeric import po2_exponent
from .importer import Importer, handler
from .ops_threshold import bipolar


@handler("Identity", "Dropout")
def _alias(imp: Importer, n, attrs):
    src = n.input[0]
    if len(n.output) > 1 and n.output[1]:
        raise UnsupportedError(f"{imp.where(n)}: Dropout's mask output is not supported (inference has no mask)")
    if imp.is_const(src):
        imp.consts[n.output[0]] = imp.consts[src]
    elif src in imp.qdq:  # between QuantizeLinear and DequantizeLinear: the integers pass through
        imp.qdq[n.output[0]] = imp.qdq[src]
    else:
        imp.views[n.output[0]] = imp.views[src]


@handler("Constant")
def _constant(imp: Importer, n, attrs):
    forms = {"value": lambda v: numpy_helper.to_array(v), "value_float": np.float64, "value_floats": np.array,
             "value_int": np.int64, "value_ints": np.array}
    given = [k for k in attrs if k in forms]
    if len(given) != 1:
        raise UnsupportedError(f"{imp.where(n)}: a Constant needs exactly one of {', '.join(forms)} "
                               f"(sparse and string values are not supported), got {', '.join(attrs) or 'none'}")
    imp.consts[n.output[0]] = Const(np.asarray(forms[given[0]](attrs[given[0]]), np.float64))


@handler("Quant", "IntQuant")
def quant(imp: Importer, n, attrs):
    params = [imp.const(n, name, "quantizer parameter").values for name in n.input[1:4]]
    for what, p in zip(("scale", "zero point", "bitwidth"), params):
        if np.size(p) == 0:
            raise ModelError(f"{imp.where(n)}: its {what} is an empty tensor")
    x_shape = (imp.consts[n.input[0]].values.shape if imp.is_const(n.input[0])
               else (1, *imp.semantic_shape(n, n.input[0])))
    if 0 in x_shape:
        raise ModelError(f"{imp.where(n)}: quantizes an empty tensor (shape {list(x_shape)})")
    for what, p in zip(("scale", "zero point"), params):
        try:
            if np.broadcast_shapes(np.shape(p), x_shape) != tuple(x_shape):
                raise ValueError
        except ValueError:
            raise ModelError(f"{imp.where(n)}: {what} of shape {list(np.shape(p))} does not broadcast to the "
                             f"quantized tensor's {list(x_shape)}") from None
    if float(np.asarray(params[2]).reshape(-1)[0]) == 1 and attrs.get("signed", 1):
        bipolar(imp, n, params[0])  # qonnx runs a 1-bit signed Quant as BipolarQuant
        return
    q = IntQuant.from_inputs(*params, signed=attrs.get("signed", 1), narrow=attrs.get("narrow", 1),
                             rounding_mode=attrs.get("rounding_mode", "ROUND"), where=imp.where(n))
    po2 = all(po2_exponent(v) is not None for v in np.asarray(q.scale, np.float64).reshape(-1))
    if imp.is_const(n.input[0]):
        src = imp.consts[n.input[0]]
        if src.quantized:
            raise UnsupportedError(f"{imp.where(n)}: re-quantizing a quantized constant is not supported")
        if po2 or np.any(q.zeropt != 0):
            mant, ftype = q.quantize_constant(src.values)
            imp.consts[n.output[0]] = Const(mant, ftype)
        else:  # integers q; the value q * scale is applied after the layer, in float
            ints = q.integers(src.values).astype(np.int64)
            scale = np.broadcast_to(np.asarray(q.scale, np.float32), ints.shape).astype(np.float64)
            imp.consts[n.output[0]] = Const(ints, FixedType(q.bitwidth, q.bitwidth, q.signed), scale.copy())
        return
    x = imp.act(n, n.input[0])
    if po2 or np.any(q.zeropt != 0):
        imp.emit(n, "Quant", [x], x.out.shape, attrs={"type": q.fixed_type(), "quant": q})
        return
    # a float scale: the tensor carries the integers q, and a float multiply by the scale follows
    # (fuse_requantizer folds it, with what comes next, into the next quantizer's thresholds)
    if np.asarray(q.scale).size != 1:
        raise UnsupportedError(f"{imp.where(n)}: per-channel float scales on an activation are not supported")
    ints = q.with_scale_one_type()
    qn = imp.add_node(f"{n.name or n.output[0]}_int", "Quant", [x], x.out.shape, origin=imp.where(n),
                      source=(n.name or n.output[0], n.op_type),
                      attrs={"type": ints, "quant": q, "integer_output": True})
    imp.views[n.output[0] + "@int"] = (qn.name, imp.order(n.input[0]))
    s = np.float32(np.asarray(q.scale).reshape(-1)[0])
    imp.emit(n, "Eltwise", [qn], x.out.shape, order=imp.order(n.input[0]),
             consts={"c": Const(np.array([float(s)]))},
             attrs={"fn": "mul", "inner": 1, "period": 1, "float_op": ("mul", s), "scale_of": qn.name})


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
        bv = b.values * b.scale if b.scale is not None else b.as_float()
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


@handler("Relu")
def _relu(imp: Importer, n, attrs):
    x = imp.act(n, n.input[0])
    imp.emit(n, "Relu", [x], x.out.shape)


@handler("Flatten")
def _flatten(imp: Importer, n, attrs):
    x = imp.semantic(n, n.input[0])
    # axis 0 flattens the batch too: the same thing per sample, since samples are separate
    if attrs.get("axis", 1) not in (0, 1):
        raise UnsupportedError(f"{imp.where(n)}: Flatten with axis {attrs['axis']} is not supported")
    imp.emit(n, "Reshape", [x], (x.out.size,), order=(0,))


@handler("Reshape")
def _reshape(imp: Importer, n, attrs):
    x = imp.semantic(n, n.input[0])
    target = [int(d) for d in imp.const(n, n.input[1], "shape").values.reshape(-1)]
    dims = [x.out.shape[i - 1] if d == 0 and 0 < i <= len(x.out.shape) else d for i, d in enumerate(target)][1:]
    if target.count(-1) > 1 or min(target, default=0) < -1 or 0 in dims:
        raise ModelError(f"{imp.where(n)}: shape {target} is not a valid Reshape target for {list(x.out.shape)} "
                         "per sample (at most one -1, no other negative size, no empty axis)")
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        if x.out.size % known:
            raise ModelError(f"{imp.where(n)}: cannot reshape {list(x.out.shape)} per sample to {target}: "
                             f"{x.out.size} values are no multiple of {known}")
        dims[dims.index(-1)] = x.out.size // known
    if int(np.prod(dims, dtype=np.int64)) != x.out.size or (target and target[0] not in (-1, 0, 1)):
        raise BatchAxisError(f"{imp.where(n)}: reshape of {list(x.out.shape)} per sample to {target} "
                             "must keep the batch dimension first")
    imp.emit(n, "Reshape", [x], tuple(dims), order=tuple(range(len(dims))))


@handler("Transpose")
def _transpose(imp: Importer, n, attrs):
    """Relabels axes only: memory stays where it is (see importer.py, Layout)."""
    rank = len(imp.view(n, n.input[0])[1]) + 1
    imp.relabel(n.input[0], n.output[0], attrs.get("perm", list(range(rank))[::-1]), imp.where(n))


def _domain_version(imp: Importer, domain: str) -> int:
    aliases = {domain, "qonnx.custom_op.general", "finn.custom_op.general", "finn", "onnx.brevitas"}
    versions = [o.version for o in imp.model.opset_import if o.domain in aliases and o.domain]
    return max(versions, default=1)


@handler("Trunc")
def _trunc(imp: Importer, n, attrs):
    """QONNX Trunc v2: round(X / scale) (half even), then an exact power-of-two rescale to
    out_scale with the rounding mode and a clamp to out_bitwidth: two casts, both exact per
    the spec when X is on a fixed-point grid (QONNX_SEMANTICS.md, Trunc v2)."""
    if _domain_version(imp, n.domain) < 2:
        raise UnsupportedError(f"{imp.where(n)}: Trunc v1 (output multiplied by the input scale) is not supported")
    if len(n.input) != 6:
        raise ModelError(f"{imp.where(n)}: Trunc v2 takes 6 inputs (X, scale, zeropt, in_bitwidth, out_scale, "
                         f"out_bitwidth), got {len(n.input)}")
    scale, zeropt, _, out_scale, out_bits = (imp.const(n, i, "Trunc parameter").values for i in n.input[1:6])
    where = imp.where(n)
    q_in = IntQuant.from_inputs(scale, zeropt, 64, signed=1, narrow=0, rounding_mode="ROUND", where=where)
    q_out = IntQuant.from_inputs(out_scale, zeropt, out_bits, signed=attrs.get("signed", 1),
                                 narrow=attrs.get("narrow", 0), rounding_mode=attrs.get("rounding_mode", "FLOOR"),
                                 where=where)
    t_out = q_out.fixed_type()
    grid = q_in.fixed_type()
    # the first rounding needs no range of its own: one integer bit more than the output, saturating
    first = type(t_out)(t_out.integer + 1 + grid.frac, t_out.integer + 1, True, "RND_CONV", "SAT")
    x = imp.act(n, n.input[0])
    mid = imp.add_node(f"{n.name or n.output[0]}_grid", "Quant", [x], x.out.shape, origin=where,
                       attrs={"type": first})
    imp.emit(n, "Quant", [mid], x.out.shape, order=imp.order(n.input[0]), attrs={"type": t_out})


@handler("Shape")
def _shape(imp: Importer, n, attrs):
    """The shape of an activation is known at import: a constant (batch 1), for the
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains that exporters write."""
    shape = np.array([1, *imp.semantic_shape(n, n.input[0])], np.float64)
    start, end = attrs.get("start", 0), attrs.get("end", None)
    imp.consts[n.output[0]] = Const(shape[start:end])


@handler("Squeeze", "Unsqueeze")
def _squeeze(imp: Importer, n, attrs):
    """Adding or removing size-1 axes: a reshape (no data movement)."""
    sem = list(imp.semantic_shape(n, n.input[0]))
    axes = attrs.get("axes")
    if axes is None and len(n.input) > 1 and n.input[1]:
        axes = [int(a) for a in imp.const(n, n.input[1], "axes").values.reshape(-1)]
    if n.op_type == "Squeeze":
        rank = len(sem) + 1
        drop = {a + rank if a < 0 else a for a in (axes or [i + 1 for i, d in enumerate(sem) if d == 1])}
        if 0 in drop:
            raise BatchAxisError(f"{imp.where(n)}: squeezing the batch axis is not supported")
        new = [d for i, d in enumerate(sem) if i + 1 not in drop]
    else:
        new = [1] + sem
        for a in sorted(a + len(sem) + 1 + len(axes) if a < 0 else a for a in axes):
            new.insert(a, 1)
        if new[0] != 1 or new.pop(0) != 1:
            raise BatchAxisError(f"{imp.where(n)}: unsqueezing before the batch axis is not supported")
    x = imp.semantic(n, n.input[0])
    imp.emit(n, "Reshape", [x], tuple(new), order=tuple(range(len(new))))
