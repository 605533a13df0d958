"""Accumulator sizing of Dense/Conv layers: ``--accumulator tight|qtools|fixed:<type>``.

`infer_types` computes the lossless rule (the products' ``<Wx+Ww, Ix+Iw>`` grown by
ceil(log2 fan-in), aligned with the bias plus one bit: that is also hls4ml's ``auto`` rule) and
asks `choose` for the type the layer really uses; the simulator and the C++ kernels both take it
from ``node.attrs["accum"]``:

``tight`` (default)
    The narrowest type that holds every partial sum a real input can produce. Integer bits from
    the actual constant weights and the input type's range: for each output j the sum lies in
    ``[sum_i min(w_ij*lo, w_ij*hi), sum_i max(w_ij*lo, w_ij*hi)] + b_j`` (lo, hi: the input
    type's extremes), the type covers the union over outputs. Every partial sum of the C++ loop
    is within the same bounds (each product's range contains 0), and sums wrap modulo 2^W
    anyway, so only the final value matters. Fraction bits from the least
    significant set bit of the actual weights (on top of the input's) and biases. Both bounds
    are attained by worst-case inputs (each input at the extreme that matches its weight's
    sign), so one bit fewer would overflow: the type is minimal for its fraction bits.
``qtools``
    QKeras qtools' accumulator for the layer (`qconv.qtools`): the fused_accumulator of a
    kernel layer, the accumulator of a folded (BatchNorm) layer, whose bias, when no quantizer
    covered it, is quantized to the accumulator type as `populate_bias_quantizer_from_accumulator`
    does. qtools' multiplier is one bit narrower than ap_fixed's product and its po2 exponent
    range is not QKeras' own, so this can wrap or drop bits; the simulator counts wraps.
``fixed:ap_fixed<W,I>``
    A user cap (AP_TRN, AP_WRAP: the only modes for which the C++ ``acc += x*w`` result does
    not depend on the summation order). Products with more fraction bits are truncated one by
    one, sums wrap; the simulator reproduces both and reports the wraps as accumulator overflow.

Average pooling keeps its lossless window-sum accumulator in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import QconvError, TypeOverflowError
from ..fixed import MAX_WIDTH, FixedType
from ..ir import Const, Graph, Node

MODES = ("tight", "qtools", "fixed")


@dataclass(frozen=True)
class AccumulatorMode:
    """`--accumulator`, parsed once (`parse_mode`) into `passes.Options.accumulator`."""

    kind: str = "tight"
    cap: FixedType | None = None

    def __str__(self) -> str:
        return f"fixed:{self.cap.to_cpp()}" if self.kind == "fixed" else self.kind


def parse_mode(text) -> AccumulatorMode:
    """'tight', 'qtools' or 'fixed:ap_fixed<W,I>' (an AccumulatorMode is returned as is)."""
    if isinstance(text, AccumulatorMode):
        return text
    s = str(text or "tight").strip()
    if s in ("tight", "qtools"):
        return AccumulatorMode(s)
    if s.startswith("fixed:"):
        try:
            cap = FixedType.parse(s[len("fixed:"):])
        except QconvError as exc:
            raise QconvError(f"--accumulator {s}: {exc}") from None
        if cap.rounding != "TRN" or cap.overflow != "WRAP":
            raise QconvError(f"--accumulator {s}: an accumulator cap must use AP_TRN and AP_WRAP (the defaults): "
                             "with other modes the C++ result of acc += x * w depends on the summation order")
        return AccumulatorMode("fixed", cap)
    raise QconvError(f"--accumulator '{s}': expected tight, qtools or fixed:<type> (e.g. fixed:ap_fixed<24,12>)")


def kernel_columns(node: Node) -> np.ndarray:
    """Weight mantissas as a (fan-in, outputs) matrix: column j holds output j's weights."""
    w = node.consts["W"].values
    return w if node.op == "Dense" else w.reshape(w.shape[0], -1).T


def fan_in(node: Node) -> int:
    return int(kernel_columns(node).shape[0])


def _trailing_zeros(values: np.ndarray) -> int | None:
    """The smallest number of trailing zero bits over the nonzero values (None if all are zero)."""
    nz = np.abs(values[values != 0]).astype(np.int64)
    if nz.size == 0:
        return None
    low = np.bitwise_and(nz, -nz)  # lowest set bit
    return int(np.log2(low.min()))


def sum_bounds(node: Node, x_type: FixedType) -> tuple[list[int], list[int], int]:
    """Per output (lowest, highest) exact value of the sum including the bias, as integers at
    `frac` fraction bits (frac = max(Fx + Fw, Fb)), and that frac."""
    w_t = node.consts["W"].fixed
    cols = kernel_columns(node).astype(np.int64)
    pos = np.where(cols > 0, cols, 0).sum(axis=0).tolist()
    neg = np.where(cols < 0, cols, 0).sum(axis=0).tolist()
    xlo, xhi = x_type.min_mantissa, x_type.max_mantissa
    prod_frac = x_type.frac + w_t.frac
    b = node.consts.get("b")
    frac = max(prod_frac, b.fixed.frac) if b is not None else prod_frac
    up = frac - prod_frac
    lo = [(p * xlo + n * xhi) << up for p, n in zip(pos, neg)]
    hi = [(p * xhi + n * xlo) << up for p, n in zip(pos, neg)]
    if b is not None:
        bv = np.broadcast_to(b.values.reshape(-1), (len(lo),)).tolist()
        bu = frac - b.fixed.frac
        lo = [v + (int(c) << bu) for v, c in zip(lo, bv)]
        hi = [v + (int(c) << bu) for v, c in zip(hi, bv)]
    return lo, hi, frac


def tight_type(node: Node, x_type: FixedType) -> FixedType:
    """The narrowest accumulator that holds every sum a real input can produce (see module doc)."""
    lo, hi, frac = sum_bounds(node, x_type)
    w_t = node.consts["W"].fixed
    fracs = []
    tz_w = _trailing_zeros(kernel_columns(node))
    if tz_w is not None:
        fracs.append(x_type.frac + w_t.frac - tz_w)
    b = node.consts.get("b")
    if b is not None:
        tz_b = _trailing_zeros(b.values.reshape(-1))
        if tz_b is not None:
            fracs.append(b.fixed.frac - tz_b)
    f = min(max(fracs), frac) if fracs else x_type.frac + w_t.frac
    drop = frac - f
    lo_c, hi_c = min(lo) >> drop, max(hi) >> drop
    signed = lo_c < 0
    width = max(1, max(-lo_c - 1 if signed else 0, hi_c).bit_length() + signed)
    if width > MAX_WIDTH:
        raise TypeOverflowError(f"{node.describe()}: its accumulator needs {width} bits, more than qconv can simulate")
    return FixedType(width, width - f, signed)


def hls4ml_type(node: Node, x_type: FixedType) -> FixedType:
    """hls4ml's ``auto`` accumulator (``InferPrecisionTypes._infer_common_precision``):
    width Wx + Ww + ceil(log2 n), integer bits Ix + Iw + ceil(log2 n), signed if either is;
    a nonzero bias then adds one integer bit after alignment (as ap_fixed's sum type)."""
    w_t = node.consts["W"].fixed
    g = (fan_in(node) - 1).bit_length()
    width, integer = w_t.width + x_type.width + g, w_t.integer + x_type.integer + g
    signed = w_t.signed or x_type.signed
    b = node.consts.get("b")
    if b is not None and np.any(b.values != 0):
        frac = width - integer
        bt = b.fixed
        integer = max(integer + (bt.signed and not signed), bt.integer + (signed and not bt.signed)) + 1
        width = integer + max(frac, bt.frac)
        signed = signed or bt.signed
    if width > MAX_WIDTH:
        raise TypeOverflowError(f"{node.describe()}: hls4ml's rule gives a {width}-bit accumulator")
    return FixedType(width, integer, signed)


def qtools_type(graph: Graph, node: Node) -> FixedType:
    from .. import qtools
    e = qtools.layer_result(graph, node)
    if e["layer_type"] in qtools.FOLDED_LAYERS and "b" in node.consts and \
            "bias_quantizer" not in qtools.node_quantizers(node):
        _populate_bias(node, e["bias_quantizer"])
    return qtools.accumulator_type(graph, node)


def _populate_bias(node: Node, acc_before) -> None:
    """QKeras' populate_bias_quantizer_from_accumulator: the folded bias, quantized by
    quantized_bits(acc bits, acc int bits, signed, symmetric=1) (round to even, symmetric saturation)."""
    from ..qtools import populate_bias_quantizer_from_accumulator
    q = populate_bias_quantizer_from_accumulator(acc_before)
    t = q.fixed_type()
    b = node.consts["b"]
    node.consts["b"] = Const(t.from_float(b.as_float()), t)
    node.attrs.setdefault("qkeras_bias_from_accumulator", str(q))


def choose(graph: Graph, node: Node, x_type: FixedType, lossless: FixedType, mode: AccumulatorMode) -> FixedType:
    """The accumulator type of a Dense/Conv node of `graph` for the --accumulator `mode` (see module
    doc); qtools' rule reads the layers upstream of the node."""
    if mode.kind == "fixed":
        return mode.cap
    if mode.kind == "qtools":
        return qtools_type(graph, node)
    tight = tight_type(node, x_type)
    return tight if tight.width <= lossless.width else lossless
