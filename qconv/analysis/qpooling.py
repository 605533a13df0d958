"""QKeras qpooling on a Pool node: the 1/count table of an average with an `average_quantizer`.

QKeras (SEMANTICS.md 6, `qpooling.py`), A = pool area (kh*kw), q = the average_quantizer:
  QAveragePooling2D:        y = fl32( AvgPool(fl32(x*A)) * q(1/A) )
  QGlobalAveragePooling2D:  y = fl32( sum_{h,w} x * q(1/(H*W)) )
q is applied once, to the float32 scalar 1/A. Keras' AvgPool divides by the number of *valid*
window elements c (padding="same" border windows have c < A), so a window's result is
  Sum(x) * A/c * q(1/A)
and the hardware computes exactly that: the window sum, exact in the accumulator, times the
table entry r[c] = q(1/A) * A/c (one entry per count, like the plain 1/count table of
infer_types.pool_recip), then the output cast. With `padding="valid"` or a global pool every
count is A and r[A] = q(1/A): the sum times the quantized reciprocal, nothing else.

When qconv equals QKeras' float32 value bit for bit (before the output cast):
  (1) A/c is dyadic for every count c that occurs (the odd part of c divides A). Always true
      with pool sides <= 3, and for "valid"/global pools (c = A). Not e.g. a 4x4 "same" pool
      whose border window has 3 rows (4/3): then r[c] is rounded (RND) to
      frac(q(1/A)) + ceil(log2 A) + RECIP_EXTRA_BITS fraction bits, the float32 reference rounds
      differently, and the two may differ in the last bits (the node records
      attrs["average_exact"] = False).
  (2) every float32 step of the reference is exact: x*A, the window sum of x*A, the quotient
      Sum(x)*A/c and its product with q(1/A) all fit in float32's 24-bit significand.
      `float32_exact` checks a sufficient condition from the input type: with M the largest
      input mantissa, M*A*A <= 2**24 and M*A*2**d*m_q <= 2**24 (d = fraction bits of A/c,
      m_q = odd significand of q(1/A)). Then Sum(x*A)/A = Sum(x) exactly, as SEMANTICS says.
Under (1) and (2) the pool output equals QKeras' pre-activation float32 value exactly, and an
output quantizer (QKeras `activation=`) then agrees wherever the quantizer's float32 formula
equals its ap_fixed cast (its non-saturating range, SEMANTICS.md rule 0.3). All six QKeras
pooling goldens satisfy both (tests/test_qkeras_layers_golden.py).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..fixed import FixedType
from ..ir import Const
from ..numeric import po2_exponent

RECIP_EXTRA_BITS = 18  # as infer_types.RECIP_EXTRA_BITS: fraction bits added to a rounded entry


def quantized_reciprocal(q, area: int) -> Fraction:
    """q(1/area) as QKeras computes it: the quantizer on the float32 scalar 1/area."""
    v = float(np.asarray(q(np.float32(1.0 / area)), np.float64).reshape(-1)[0])
    return Fraction(v)


def _frac_bits(v: Fraction) -> int | None:
    """Fraction bits of a dyadic rational, None if it is not dyadic."""
    return po2_exponent(v.denominator)


def average_table(counts: np.ndarray, area: int, q) -> tuple[Const, int, bool]:
    """(table, extra integer bits for the output, exact): entry c = q(1/area)*area/c for the
    counts that occur (entry 0 and unused counts are 0). `exact` is False when some entry is
    not dyadic and had to be rounded. The mean's magnitude is at most max|x| * q(1/area)*area,
    so the output needs ceil(log2(q(1/area)*area)) more integer bits than the input when
    q rounds 1/area up (plus one guard bit when entries are rounded, as pool_recip does)."""
    qa = quantized_reciprocal(q, area)
    used = sorted(int(c) for c in np.unique(counts) if c > 0)
    exact_values = {c: qa * area / c for c in used}
    fracs = [_frac_bits(v) for v in exact_values.values()]
    exact = all(f is not None for f in fracs)
    if exact:
        frac = max(fracs + [0])
    else:
        frac = (_frac_bits(qa) or 0) + math.ceil(math.log2(max(area, 1))) + RECIP_EXTRA_BITS
    mants = np.zeros(area + 1, np.int64)
    for c, v in exact_values.items():
        scaled = v * 2**frac
        mants[c] = math.floor(scaled + Fraction(1, 2))  # RND; exact when dyadic
    signed = bool((mants < 0).any())
    top = int(np.abs(mants).max(initial=0))
    integer = max(top.bit_length() - frac, 0) + (1 if signed else 0)
    width = max(integer + frac, 1)
    t = FixedType(width, width - frac, signed=signed, rounding="RND")
    gain = max(abs(qa) * area, Fraction(0))
    extra = 0 if gain <= 1 else math.ceil(math.log2(gain))
    if not exact:
        extra += 1  # a rounded-up entry may push the mean past max|x| * gain
    return Const(mants, t), extra, exact


def float32_exact(x: FixedType, counts: np.ndarray, area: int, q) -> bool:
    """Sufficient condition (2) of the module docstring: every float32 step of QKeras'
    average on inputs of type `x` is exact (and (1): every A/count is dyadic)."""
    qa = quantized_reciprocal(q, area)
    if qa == 0:
        return True  # q(1/A) = 0: every output is 0 either way
    big = max(-x.min_mantissa, x.max_mantissa)
    m_q = abs(qa.numerator)
    while m_q % 2 == 0:
        m_q //= 2
    for c in (int(c) for c in np.unique(counts) if c > 0):
        d = _frac_bits(Fraction(area, c))
        if d is None or big * area * 2**d * m_q > 2**24:
            return False
    return big * area * area <= 2**24


def apply_to(node, x: FixedType) -> tuple[Const, int]:
    """Set node.consts['recip'] for a Pool node with attrs['average_quantizer']; returns
    (table, extra output integer bits) for infer_types' lossless output rule."""
    kh, kw = node.attrs["kernel"]
    area = kh * kw
    table, extra, exact = average_table(node.attrs["counts"], area, node.attrs["average_quantizer"])
    node.consts["recip"] = table
    node.attrs["average_exact"] = exact and float32_exact(x, node.attrs["counts"], area,
                                                          node.attrs["average_quantizer"])
    return table, extra
