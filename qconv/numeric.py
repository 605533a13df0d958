"""Exact numeric helpers shared by every floor: power-of-two tests and exact typing of constants.

One copy of each, below the quantizers, the IR, the passes and the simulator (they all import
it; it imports only `fixed` and `errors`):

- `po2_exponents` / `po2_exponent` / `is_po2`: whether values are positive powers of two (a scale
  that is a shift, a slope that is a shift, a count whose reciprocal is exact). Integers are
  tested exactly (``v & (v - 1)``), floats by their binary mantissa.
- `exact_frac`: the fewest fraction bits (possibly negative) at which float values are exact.
  Every float32/float64 number is a dyadic rational, so constants (weights of any quantizer,
  slopes, clip bounds, float biases) always have an exact fixed-point form.
- `codes_type`: the narrowest ``ap_[u]fixed`` holding integer mantissas lo..hi at a given frac;
  `constant_fixed` (narrowest type and mantissas of float constants) and `exact_signed_type`
  (a signed type symmetric around zero, for constants whose sign may flip) are built from it.
- `quantize_at`: floats rounded to nearest (ties up) on a 2^-frac grid, as exact int64 mantissas.
- `prelu_negative`, `hard_sigmoid_exact`: the exact mantissa arithmetic of two activations, which
  the type rules evaluate to choose constants and the simulator runs (so the simulator needs
  nothing from the passes).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .errors import TypeOverflowError, UnsupportedError
from .fixed import MAX_WIDTH, FixedType, product_type, sum_type, union_type


# ----- powers of two -----------------------------------------------------------------------------
def po2_exponents(values) -> np.ndarray | None:
    """Integer exponents e with values == 2**e elementwise, or None if any value is not a positive
    power of two (or there are none). Integer arrays are tested exactly, floats by frexp."""
    v = np.asarray(values)
    if v.size == 0:
        return None
    if v.dtype.kind in "iu":
        if np.any(v <= 0) or np.any(np.bitwise_and(v, v - 1)):
            return None
        v = v.astype(np.float64)  # a power of two below 2^64 is exact in float64
    else:
        v = v.astype(np.float64)
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            return None
    mant, exp = np.frexp(v)
    return (exp - 1).astype(np.int64) if np.all(mant == 0.5) else None


def po2_exponent(value) -> int | None:
    """k with value == 2**k exactly, or None (also for values that are not numbers). Python
    integers of any size (e.g. the denominator of a Fraction) are tested exactly."""
    if isinstance(value, (int, np.integer)):
        v = int(value)
        return v.bit_length() - 1 if v > 0 and v & (v - 1) == 0 else None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not (v > 0 and math.isfinite(v)):
        return None
    mantissa, exponent = math.frexp(v)
    return exponent - 1 if mantissa == 0.5 else None


def is_po2(value) -> bool:
    """True for a positive finite power of two."""
    return po2_exponent(value) is not None


# ----- exact constants ---------------------------------------------------------------------------
def exact_frac(values) -> int:
    """The fewest fraction bits (possibly negative: 4.0 needs -2) at which every value is an exact
    integer mantissa; 0 when all are zero. Raises UnsupportedError on a value that is not finite."""
    v = np.asarray(values, np.float64).reshape(-1)
    bad = v[~np.isfinite(v)]
    if bad.size:
        raise UnsupportedError(f"constant {bad[0]} is not finite")
    nz = v[v != 0]
    if nz.size == 0:
        return 0
    mant, exp = np.frexp(np.abs(nz))
    m = (mant * 2.0 ** 53).astype(np.int64)
    tz = np.log2((m & -m).astype(np.float64)).astype(np.int64)  # trailing zero bits
    return int(np.max(53 - exp - tz))


def codes_type(lo: int, hi: int, frac: int, rounding: str = "TRN", overflow: str = "WRAP") -> FixedType:
    """The narrowest ap_[u]fixed holding integer mantissas lo..hi with `frac` fraction bits."""
    lo, hi = int(lo), int(hi)
    signed = lo < 0
    width = max(1, max(abs(lo) - 1 if lo < 0 else 0, hi).bit_length() + signed)
    return FixedType(width, width - frac, signed, rounding, overflow)


def quantize_at(values, frac: int) -> np.ndarray:
    """Values rounded to nearest (ties up) on the grid 2^-frac, as int64 mantissas (exact)."""
    out = [math.floor(Fraction(float(v)) * Fraction(2) ** frac + Fraction(1, 2))
           for v in np.asarray(values, np.float64).reshape(-1)]
    return np.array(out, np.int64).reshape(np.shape(values))


def constant_fixed(values) -> tuple[np.ndarray, FixedType]:
    """Exact int64 mantissas and the narrowest ap_fixed holding every value of `values`.

    Any quantizer's output on constant weights (binary/ternary/auto scales included) is a set of
    float32 numbers, hence dyadic: this is how weights of any quantizer are made exact."""
    v = np.asarray(values, np.float64)
    if not np.all(np.isfinite(v)):
        raise TypeOverflowError("constant values must be finite")
    nz = v[v != 0]
    if nz.size == 0:
        return np.zeros(v.shape, np.int64), FixedType(1, 1, True)
    frac = exact_frac(nz)
    top = int(np.max(np.frexp(np.abs(nz))[1]))  # |v| < 2**top
    signed = bool(np.any(v < 0))
    width = top + frac + signed
    if width > MAX_WIDTH or width > 63:
        raise TypeOverflowError(f"constants span 2^{top} down to 2^-{frac}: {width} bits, more than qconv "
                                "can hold exactly")
    mant_out = np.round(np.ldexp(v, frac)).astype(np.int64)
    return mant_out, codes_type(int(mant_out.min()), int(mant_out.max()), frac)


def exact_signed_type(values, max_width: int) -> FixedType | None:
    """The narrowest signed type symmetric around zero (it holds -M..M, M the largest magnitude)
    with at least 0 fraction bits that holds every value exactly; None if not finite, or wider
    than max_width (or over 64 fraction bits)."""
    v = np.asarray(values, np.float64).reshape(-1)
    if not np.all(np.isfinite(v)):
        return None
    frac = max(exact_frac(v), 0)
    if frac > 64:
        return None
    top = max(int(np.max(np.abs(np.ldexp(v, frac)), initial=0.0)), 1)
    if top.bit_length() + 1 > max_width:  # before building it: a type may not be wider than MAX_WIDTH
        return None
    return codes_type(-top, top, frac)


# ----- exact activation arithmetic ---------------------------------------------------------------
# The type rules (analysis/activations.py) fit their constants by evaluating exactly this
# arithmetic on every input mantissa; the simulator (sim/activation.py) runs it.
def prelu_negative(x: np.ndarray, x_t: FixedType, out: FixedType, shift: int | None = None,
                   slope: np.ndarray | None = None, slope_t: FixedType | None = None,
                   inner: int = 1, period: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """PRelu's negative branch on mantissas x (flat per sample, (..., size)), cast into `out`, and
    whether each value overflowed: x reinterpreted with `shift` more integer bits (a power-of-two
    slope 2^shift), else x times the slope mantissas of type `slope_t`, broadcast as
    slope[(i // inner) % period]."""
    if shift is not None:
        shifted = FixedType(x_t.width, x_t.integer + shift, x_t.signed)
        return out.cast(x, shifted, return_overflow=True)
    s = np.asarray(slope).reshape(-1)
    i = np.arange(x.shape[-1])
    per = s[(i // inner) % period]
    return out.cast(x * per, product_type(x_t, slope_t), return_overflow=True)


def hard_sigmoid_accum(x_t: FixedType, a_t: FixedType, b_t: FixedType) -> FixedType:
    """The exact type of x * alpha + beta, widened to hold 0 and 1 for the clamp."""
    exact = sum_type(product_type(x_t, a_t), b_t)
    return union_type(exact, FixedType(2, 2, True))


def hard_sigmoid_exact(x: np.ndarray, x_t: FixedType, a: np.ndarray, a_t: FixedType, b: np.ndarray,
                       b_t: FixedType) -> tuple[np.ndarray, FixedType]:
    """clamp(x * alpha + beta, 0, 1) as exact mantissas of `hard_sigmoid_accum` (alpha, beta:
    scalar mantissas a, b of types a_t, b_t); returns (mantissas, accumulator type)."""
    acc = hard_sigmoid_accum(x_t, a_t, b_t)
    t = (x * np.asarray(a).reshape(()) << (acc.frac - x_t.frac - a_t.frac)) + \
        (np.asarray(b).reshape(()) << (acc.frac - b_t.frac))
    return np.clip(t, 0, 1 << acc.frac), acc
