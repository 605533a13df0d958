"""Standard ONNX QuantizeLinear / Clip / DequantizeLinear chains, mapped onto QONNX IntQuant.

QuantizeLinear(x, s, z) -> saturate(round_half_even(x / s) + z) on the zero point's integer type;
a Clip on those integers narrows the range (how QONNX's Quant of < 8 bits is written as QCDQ);
DequantizeLinear(q, s, z) -> (q - z) * s. The chain Q [Clip] DQ is exactly IntQuant(s, z, bits,
signed, narrow) with rounding ROUND, so it imports like a QONNX Quant node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx

from ..errors import ModelError, UnsupportedError
from ..ir import Const
from .importer import Importer, handler
from .activation import clip as activation_clip
from .quant import quant

_DTYPE_RANGE = {onnx.TensorProto.INT8: (-128, 127), onnx.TensorProto.UINT8: (0, 255),
                onnx.TensorProto.INT16: (-32768, 32767), onnx.TensorProto.UINT16: (0, 65535)}
# integer initializers a DequantizeLinear may read directly (biases are int32)
_STORED_RANGE = {**_DTYPE_RANGE, onnx.TensorProto.INT32: (-(1 << 31), (1 << 31) - 1),
                 onnx.TensorProto.INT4: (-8, 7), onnx.TensorProto.UINT4: (0, 15)}


@dataclass
class _Pending:
    """The integer tensor between a QuantizeLinear and its DequantizeLinear."""

    source: str          # the quantized (float) tensor
    scale: str
    zero_point: str
    lo: int
    hi: int
    axis: int = 1
    stored: bool = False  # an integer initializer itself: no QuantizeLinear made it (_stored_integers)


_CONSTANT_TYPES = {"value_int": onnx.TensorProto.INT64, "value_ints": onnx.TensorProto.INT64,
                   "value_float": onnx.TensorProto.FLOAT, "value_floats": onnx.TensorProto.FLOAT}


_SAME_TYPE = {"Identity", "Dropout", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Expand", "Tile",
              "Slice", "Gather", "Concat"}  # ops whose output has their first input's element type


def _initializer(imp: Importer, name: str) -> onnx.TensorProto | None:
    return next((i for i in imp.model.graph.initializer if i.name == name), None)


def _element_type(imp: Importer, name: str) -> int | None:
    """The ONNX element type of the constant tensor `name`: an initializer's, a Constant's, that of
    the tensor an op of _SAME_TYPE (an Identity, a Reshape...) reads, or the type a Cast of an
    initializer makes; None otherwise."""
    for _ in range(len(imp.model.graph.node) + 1):  # (a chain of Identities ends)
        init = _initializer(imp, name)
        if init is not None:
            return init.data_type
        node = next((m for m in imp.model.graph.node if name in m.output), None)
        if node is None:
            return None
        if node.op_type == "Constant":
            a = node.attribute[0]
            return a.t.data_type if a.name == "value" else _CONSTANT_TYPES.get(a.name)
        if node.op_type == "Cast":  # (only of an initializer: the importer folds other constants in float32)
            if _initializer(imp, node.input[0]) is None:
                return None
            return next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type not in _SAME_TYPE or not node.input:
            return None
        name = node.input[0]
    return None


def _zero_point_range(imp: Importer, n, name: str) -> tuple[int, int]:
    dtype = _element_type(imp, name)
    if dtype is None:  # (a zero point some other node computes: its type is not read here)
        raise UnsupportedError(f"{imp.where(n)}: the element type of zero point '{name}' is not known; give it "
                               "as an initializer or Constant (int8, uint8, int16, uint16)")
    if dtype not in _DTYPE_RANGE:
        raise UnsupportedError(f"{imp.where(n)}: zero point type {onnx.TensorProto.DataType.Name(dtype)} "
                               "is not supported (int8, uint8, int16, uint16)")
    return _DTYPE_RANGE[dtype]


@handler("QuantizeLinear")
def _quantize_linear(imp: Importer, n, attrs):
    if len(n.input) < 3 or not n.input[2]:
        raise UnsupportedError(f"{imp.where(n)}: QuantizeLinear without a zero point is not supported")
    lo, hi = _zero_point_range(imp, n, n.input[2])
    imp.qdq[n.output[0]] = _Pending(n.input[0], n.input[1], n.input[2], lo, hi, int(attrs.get("axis", 1)))


@handler("Clip")
def _clip(imp: Importer, n, attrs):
    pending = imp.qdq.get(n.input[0])
    if pending is None:
        return activation_clip(imp, n, attrs)
    bounds = []
    for pos, attr in ((1, "min"), (2, "max")):  # inputs since opset 11, attributes before
        if len(n.input) > pos and n.input[pos]:
            bounds.append(imp.scalar(n, n.input[pos], f"Clip {attr}"))
        else:
            bounds.append(attrs.get(attr))
    lo = max([pending.lo] + [b for b in bounds[:1] if b is not None])
    hi = min([pending.hi] + [b for b in bounds[1:] if b is not None])
    if any(b is not None and math.isnan(b) for b in bounds) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ModelError(f"{imp.where(n)}: Clip bounds {bounds} leave no integers of the quantized range "
                         f"[{pending.lo}, {pending.hi}]")
    lo, hi = math.ceil(lo), math.floor(hi)  # the integers the clipped integers can take
    if lo >= hi:  # (ONNX: with min > max every value becomes max)
        raise UnsupportedError(f"{imp.where(n)}: Clip bounds {bounds} leave one value of the integers "
                               f"[{pending.lo}, {pending.hi}] (a constant output), which qconv does not compile")
    imp.qdq[n.output[0]] = _Pending(pending.source, pending.scale, pending.zero_point, lo, hi, pending.axis)


def _int_range_to_quant(imp: Importer, n, lo: int, hi: int) -> tuple[int, int, int]:
    """(bits, signed, narrow) of IntQuant whose integer range is exactly [lo, hi]."""
    if lo < 0:
        bits = (hi + 1).bit_length()  # hi = 2^(b-1) - 1
        # (1 signed bit, [-1, 0], is not taken: qonnx reads a 1-bit signed Quant as bipolar, +-1)
        if bits > 1 and hi == (1 << (bits - 1)) - 1 and lo in (-(1 << (bits - 1)), -(1 << (bits - 1)) + 1):
            return bits, 1, int(lo > -(1 << (bits - 1)))
    else:
        bits = max(hi, 1).bit_length()
        if lo == 0 and hi == (1 << bits) - 1:
            return bits, 0, 0
    if (lo, hi) == (-1, 0):
        raise UnsupportedError(f"{imp.where(n)}: integer range [-1, 0] is one signed bit, which qonnx reads as "
                               "bipolar (-1, +1): not supported")
    raise UnsupportedError(f"{imp.where(n)}: integer range [{lo}, {hi}] is not the range of a QONNX Quant "
                           "(signed/unsigned, narrow or not)")


def _stored_integers(imp: Importer, n, attrs) -> _Pending | None:
    """A DequantizeLinear of an integer initializer (weights and biases as onnxruntime's QDQ format
    and Brevitas' export_onnx_qcdq store them): the integers over their type's range, as if a
    QuantizeLinear had made them (the file leaves it out); _dequantize_linear quantizes their
    dequantized values (q - z) * s again, which gives back q."""
    init = _initializer(imp, n.input[0])  # (only an initializer: the QOperator rewrite gives those their axes)
    if init is None or init.data_type not in _STORED_RANGE:
        return None
    if len(n.input) < 3 or not n.input[2]:  # (ONNX: zero point 0 of the integer's type)
        zp_name = f"{n.output[0]}@zero"
        imp.consts[zp_name] = Const(np.zeros(np.shape(imp.const(n, n.input[1], "scale").values)))
    else:
        zp_name = n.input[2]
    return _Pending(n.input[0], n.input[1], zp_name, *_STORED_RANGE[init.data_type], int(attrs.get("axis", 1)),
                    stored=True)


def _stored_codes(imp: Importer, n, pending: _Pending, zero_point: np.ndarray) -> np.ndarray:
    """The codes of stored integers q: q - z in int32 (onnxruntime subtracts in the integers' type
    widened to int32), rounded to float32 as DequantizeLinear's float output is; exact up to
    |q - z| = 2^24, and beyond it what onnxruntime gives (an int32 bias of 2^24 + 1 is 2^24).
    A difference that overflows int32, or whose float32 leaves the codes' range, is an error."""
    q = imp.consts[pending.source].values.astype(np.int64)
    z = zero_point.astype(np.int64)
    exact = q - z
    codes = exact.astype(np.float32).astype(np.int64)
    lo, hi = pending.lo - z, pending.hi - z
    bad = (exact < -(1 << 31)) | (exact >= (1 << 31)) | (codes < lo) | (codes > hi)
    if np.any(bad):
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise UnsupportedError(f"{imp.where(n)}: stored integer {int(np.broadcast_to(q, bad.shape)[at])} minus zero "
                               f"point {int(np.broadcast_to(z, bad.shape)[at])} leaves the int32 range in onnxruntime's "
                               "int32 difference or its float32 value; keep |q - z| below 2^31 - 64")
    return codes


@handler("DequantizeLinear")
def _dequantize_linear(imp: Importer, n, attrs):
    pending = imp.qdq.get(n.input[0])
    if pending is None and imp.is_const(n.input[0]):
        pending = _stored_integers(imp, n, attrs)
    if pending is None:
        raise UnsupportedError(f"{imp.where(n)}: a DequantizeLinear must follow a QuantizeLinear (and Clip) or "
                               "read an integer initializer (int8/uint8/int16/uint16/int32, int4/uint4)")
    extra = {}
    dq_scale = imp.const(n, n.input[1], "scale").values
    if n.input[1] != pending.scale and not np.array_equal(dq_scale, imp.const(n, pending.scale, "scale").values):
        # (q - z) * s' with the QuantizeLinear's s: exact on the carried integers q - z when s' is one number
        if dq_scale.size != 1 or pending.stored:
            raise UnsupportedError(f"{imp.where(n)}: DequantizeLinear with another per-channel scale than its "
                                   "QuantizeLinear")
        extra["dequantize_scale"] = np.float32(dq_scale.reshape(-1)[0])
    dq_zero = (imp.const(n, n.input[2], "zero point").values if len(n.input) > 2 and n.input[2] else np.zeros(()))
    if not pending.stored and not np.array_equal(np.ravel(dq_zero), np.ravel(imp.const(n, pending.zero_point,
                                                                                         "zero point").values)):
        raise UnsupportedError(f"{imp.where(n)}: DequantizeLinear with another zero point than its QuantizeLinear")
    bits, signed, narrow = _int_range_to_quant(imp, n, pending.lo, pending.hi)
    bits_name = f"{n.output[0]}@bits"
    imp.consts[bits_name] = Const(np.array(float(bits)))
    scale_name, zp_name = pending.scale, pending.zero_point
    scale = imp.const(n, scale_name, "scale").values
    if scale.ndim == 1 and scale.size > 1:  # per-channel along `axis`: broadcast it QONNX-style
        rank = (imp.consts[pending.source].values.ndim if imp.is_const(pending.source)
                else len(imp.order(pending.source)) + 1)
        axis = pending.axis % rank
        shape = [1] * rank
        shape[axis] = scale.size
        scale_name, zp_name = f"{n.output[0]}@scale", f"{n.output[0]}@zeropt"
        imp.consts[scale_name] = Const(scale.reshape(shape))
        imp.consts[zp_name] = Const(imp.const(n, pending.zero_point, "zero point").values.reshape(
            shape if imp.consts[pending.zero_point].values.size > 1 else ()))
    source = pending.source
    if pending.stored:  # the codes q - z as onnxruntime computes them, and their values (q - z) * s
        extra["stored_codes"] = codes = _stored_codes(imp, n, pending, imp.consts[zp_name].values)
        source = f"{n.output[0]}@dequantized"
        imp.consts[source] = Const(codes * imp.consts[scale_name].values)
    quant_node = onnx.helper.make_node("Quant", [source, scale_name, zp_name, bits_name],
                                       [n.output[0]], name=n.name or n.output[0], signed=signed, narrow=narrow,
                                       rounding_mode="ROUND")
    quant(imp, quant_node, {"signed": signed, "narrow": narrow, "rounding_mode": "ROUND", "onnx_zero_point": 1,
                            **extra})
