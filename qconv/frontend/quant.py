"""Importers of quantizers and plain values: Quant, IntQuant, FloatQuant, Trunc (IR op Quant,
removed by the passes), Constant, Identity, Dropout."""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from ..errors import ModelError, UnsupportedError
from ..ir import Const
from ..fixed import FixedType
from ..quantizers import FloatQuant, IntQuant
from ..numeric import constant_fixed, po2_exponent
from .importer import Importer, handler
from .threshold import bipolar


@handler("Identity", "Dropout")
def _alias(imp: Importer, n, attrs):
    src = n.input[0]
    if len(n.output) > 1 and n.output[1]:
        raise UnsupportedError(f"{imp.where(n)}: Dropout's mask output is not supported (inference has no mask)")
    if imp.is_const(src):
        imp.consts[n.output[0]] = imp.consts[src]
        if src in imp.onnx_forms:
            imp.onnx_forms[n.output[0]] = imp.onnx_forms[src]
    elif src in imp.qdq:  # between QuantizeLinear and DequantizeLinear: the integers pass through
        imp.qdq[n.output[0]] = imp.qdq[src]
    else:
        imp.views[n.output[0]] = imp.views[src]


@handler("Constant")
def _constant(imp: Importer, n, attrs):
    forms = {"value": numpy_helper.to_array, "value_float": np.float32,  # ONNX's element types
             "value_floats": lambda v: np.array(v, np.float32), "value_int": np.int64,
             "value_ints": lambda v: np.array(v, np.int64)}
    given = [k for k in attrs if k in forms]
    if len(given) != 1:
        raise UnsupportedError(f"{imp.where(n)}: a Constant needs exactly one of {', '.join(forms)} "
                               f"(sparse and string values are not supported), got {', '.join(attrs) or 'none'}")
    value = np.asarray(forms[given[0]](attrs[given[0]]))
    imp.consts[n.output[0]] = Const(value.astype(np.float64))
    imp.remember(n.output[0], value)


def _check_shapes(imp: Importer, n, named: dict) -> None:
    """Each quantizer parameter broadcasts to the quantized tensor (which is not empty)."""
    for what, p in named.items():
        if np.size(p) == 0:
            raise ModelError(f"{imp.where(n)}: its {what} is an empty tensor")
    x_shape = (imp.consts[n.input[0]].values.shape if imp.is_const(n.input[0])
               else (1, *imp.semantic_shape(n, n.input[0])))
    if 0 in x_shape:
        raise ModelError(f"{imp.where(n)}: quantizes an empty tensor (shape {list(x_shape)})")
    for what in ("scale", "zero point"):
        p = named.get(what)
        if p is None:
            continue
        try:
            if np.broadcast_shapes(np.shape(p), x_shape) != tuple(x_shape):
                raise ValueError
        except ValueError:
            raise ModelError(f"{imp.where(n)}: {what} of shape {list(np.shape(p))} does not broadcast to the "
                             f"quantized tensor's {list(x_shape)}") from None


@handler("Quant", "IntQuant")
def quant(imp: Importer, n, attrs):
    params = [imp.const(n, name, "quantizer parameter").values for name in n.input[1:4]]
    _check_shapes(imp, n, dict(zip(("scale", "zero point", "bitwidth"), params)))
    if float(np.asarray(params[2]).reshape(-1)[0]) == 1 and attrs.get("signed", 1):
        bipolar(imp, n, params[0])  # qonnx runs a 1-bit signed Quant as BipolarQuant
        return
    q = IntQuant.from_inputs(*params, signed=attrs.get("signed", 1), narrow=attrs.get("narrow", 1),
                             rounding_mode=attrs.get("rounding_mode", "ROUND"), where=imp.where(n),
                             onnx_zero_point=attrs.get("onnx_zero_point", 0))
    if np.any(q.zeropt != 0) and np.any(q.zeropt != np.round(q.zeropt)):
        raise UnsupportedError(f"{imp.where(n)}: zero point {np.asarray(q.zeropt).reshape(-1)[:4].tolist()} is "
                               "not an integer; only integer zero points keep the arithmetic exact")
    _quantized(imp, n, q, attrs.get("dequantize_scale"), attrs.get("stored_codes"))


@handler("FloatQuant")
def _float_quant(imp: Importer, n, attrs):
    """QONNX FloatQuant (minifloats): like a Quant with a float scale, the tensor carries the
    minifloat values (dyadic, exact in with_scale_one_type()) and the scale multiplies after."""
    if len(n.input) != 6:
        raise ModelError(f"{imp.where(n)}: FloatQuant takes 6 inputs (X, scale, exponent_bitwidth, "
                         f"mantissa_bitwidth, exponent_bias, max_val), got {len(n.input)}")
    params = [imp.const(n, name, "FloatQuant parameter").values for name in n.input[1:6]]
    _check_shapes(imp, n, {"scale": params[0]})
    q = FloatQuant.from_inputs(*params, rounding_mode=attrs.get("rounding_mode", "ROUND"),
                               saturation=attrs.get("saturation", 1), where=imp.where(n))
    _quantized(imp, n, q, None)


def _quantized(imp: Importer, n, q, dequantize_scale, stored_codes=None) -> None:
    """The output of quantizer `q` (IntQuant or FloatQuant) on n's input: constants become exact
    mantissas (with their float scale kept apart when it is not a power of two, or with a zero
    point); an activation with a power-of-two scale and no zero point becomes a cast (IntQuant);
    any other carries q's codes (integers q - z, or minifloat values), then a float multiply by
    the scale (`dequantize_scale`: a DequantizeLinear's own, qdq.py), which fuse_requantizer folds
    with what comes next into the next quantizer's thresholds. `stored_codes`: a constant's exact
    integers q - z when the file stores them (qdq.py), taken as they are: quantizing their float
    values again in float32, as qonnx does, loses bits beyond 2^24 (int32 biases)."""
    po2 = all(po2_exponent(v) is not None for v in np.asarray(q.scale, np.float64).reshape(-1))
    zero_point = np.any(q.zeropt != 0)
    own_scale = dequantize_scale is None  # (else a DequantizeLinear multiplies by a scale of its own)
    cast = isinstance(q, IntQuant) and po2 and not zero_point and own_scale
    if imp.is_const(n.input[0]):
        src = imp.consts[n.input[0]]
        if src.quantized:
            raise UnsupportedError(f"{imp.where(n)}: re-quantizing a quantized constant is not supported")
        if cast:
            mant, ftype = q.quantize_constant(src.values, stored_codes)
            imp.consts[n.output[0]] = Const(mant, ftype)
        elif po2 and not zero_point and own_scale:  # a minifloat with a power-of-two scale: its exact values
            imp.consts[n.output[0]] = Const(*constant_fixed(np.asarray(q(src.values), np.float64)))
        else:  # codes; the value codes * scale is applied after the layer, in float
            t = q.with_scale_one_type()
            codes = t.from_float(np.asarray(q.centered(src.values) if stored_codes is None else stored_codes,
                                            np.float64))
            scale = np.broadcast_to(np.asarray(q.scale if own_scale else dequantize_scale, np.float32),
                                    codes.shape).astype(np.float64)
            imp.consts[n.output[0]] = Const(codes, FixedType(t.width, t.integer, t.signed), scale.copy())
        return
    x = imp.act(n, n.input[0])
    if cast:
        imp.emit(n, "Quant", [x], x.out.shape, attrs={"type": q.fixed_type(), "quant": q})
        return
    if np.asarray(q.scale).size != 1 or np.asarray(q.zeropt).size != 1:
        raise UnsupportedError(f"{imp.where(n)}: per-channel {'scales' if np.asarray(q.scale).size != 1 else 'zero points'}"
                               " on an activation are not supported (per-tensor only)")
    codes = q.with_scale_one_type()
    qn = imp.add_node(f"{n.name or n.output[0]}_int", "Quant", [x], x.out.shape, origin=imp.where(n),
                      source=(n.name or n.output[0], n.op_type),
                      attrs={"type": codes, "quant": q, "integer_output": True})
    imp.views[n.output[0] + "@int"] = (qn.name, imp.order(n.input[0]))
    s = np.float32(np.asarray(q.scale).reshape(-1)[0] if dequantize_scale is None else dequantize_scale)
    imp.emit(n, "Eltwise", [qn], x.out.shape, order=imp.order(n.input[0]),
             consts={"c": Const(np.array([float(s)]))},
             attrs={"fn": "mul", "inner": 1, "period": 1, "float_op": ("mul", s), "scale_of": qn.name})


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
