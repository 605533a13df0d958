"""Bit-exact model of Xilinx ``ap_[u]fixed<W, I, Q, O>`` (N = 0) on int64 mantissas.

A value of a `FixedType` is an integer mantissa ``m`` with value ``m * 2**-frac``. Conversions
(`FixedType.from_float`, `FixedType.cast`) reproduce ``ap_fixed_base.h`` (SEMANTICS.md section 9):
the exact source value is aligned to the destination's fraction bits, dropped bits are rounded by
the destination's quantization mode, then the destination's overflow mode is applied to the
rounded (carry included) value. Everything is vectorized and exact; nothing goes through a float
or through an int64 that could overflow. The differential test against the real headers lives in
tests/test_fixed_vs_ap_fixed.py.

Header behaviours worth knowing (all reproduced here, all checked by that test):
* AP_SAT_SYM on a 1-bit signed type acts as AP_SAT (the header's -max pattern is min | 1 == min).
* Doubles are decoded without special-casing subnormals, inf or NaN (see `FixedType.from_float`).
* A rounding cast that drops more bits than the source has asserts in a C simulation built
  without NDEBUG (`csim_cast_asserts`); the value computed with NDEBUG is what `cast` returns.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, replace

import numpy as np

from qconv.errors import QconvError, TypeOverflowError

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
MAX_WIDTH = 64

_U64 = np.uint64
_ONE = _U64(1)


def _round_shift_scalar(m: np.ndarray, s: int, rounding: str) -> np.ndarray:
    """`round_shift` for one shift 1 <= s <= 62, in a few passes: the remainder below the kept
    LSB against the half-LSB decides (qb = rem >= half, r = rem is not 0 or half)."""
    floor = m >> s
    if rounding == "TRN":
        return floor
    rem = m & ((1 << s) - 1)
    half = 1 << (s - 1)
    if rounding == "RND":
        inc = rem >= half
    elif rounding == "RND_MIN_INF":
        inc = rem > half
    elif rounding == "RND_CONV":
        inc = (rem > half) | ((rem == half) & ((floor & 1) != 0))
    elif rounding == "RND_ZERO":
        inc = (rem > half) | ((rem == half) & (m < 0))
    elif rounding == "RND_INF":
        inc = (rem > half) | ((rem == half) & (m >= 0))
    elif rounding == "TRN_ZERO":
        inc = (m < 0) & (rem != 0)
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return floor + inc


def _exact_float(width: int, shift: int):
    """The float type that holds every mantissa of `width` bits times 2^-shift and that plus or
    minus 1/2 exactly (float32 up to 22 bits, float64 up to 50), or None."""
    if width <= 22 and shift <= 22:
        return np.float32
    if width <= 50 and shift <= 50:
        return np.float64
    return None


def round_float(v: np.ndarray, rounding: str) -> np.ndarray:
    """`v` (a float array of exact dyadic values, |v| < 2^51 or 2^23 in float32 so that v +- 1/2
    is exact too) rounded in place to integers with `rounding`: what `round_shift` does to the
    mantissas v * 2^s, in float (RND_CONV is round-half-to-even, numpy's rint)."""
    if rounding == "TRN":
        return np.floor(v, out=v)
    if rounding == "RND_CONV":
        return np.rint(v, out=v)
    if rounding == "TRN_ZERO":
        return np.trunc(v, out=v)
    if rounding == "RND":          # ties up
        return np.floor(np.add(v, 0.5, out=v), out=v)
    if rounding == "RND_MIN_INF":  # ties down
        return np.ceil(np.subtract(v, 0.5, out=v), out=v)
    a = np.abs(v)
    if rounding == "RND_INF":      # ties away from zero
        return np.copysign(np.floor(np.add(a, 0.5, out=a), out=a), v, out=v)
    if rounding == "RND_ZERO":     # ties towards zero
        return np.copysign(np.ceil(np.subtract(a, 0.5, out=a), out=a), v, out=v)
    raise ValueError(f"unknown rounding mode {rounding!r}")


def round_double(v: np.ndarray, rounding: str) -> np.ndarray:
    """Float64 `v` (any doubles, |v| < 2^51) rounded to integers with `rounding`, exactly (in place
    for TRN, TRN_ZERO and RND_CONV, else a new array): `_round_shift_scalar` in float. Its
    remainder tests (rem against half) become v against floor(v) + 1/2, which is exact below 2^51,
    and comparisons always are. Unlike `round_float`, v may have any number of fraction bits (a
    user's doubles)."""
    if rounding == "TRN":
        return np.floor(v, out=v)
    if rounding == "RND_CONV":  # ties to even: rint
        return np.rint(v, out=v)
    if rounding == "TRN_ZERO":
        return np.trunc(v, out=v)
    floor = np.floor(v)
    half = floor + 0.5
    if rounding == "RND":
        inc = v >= half
    elif rounding == "RND_MIN_INF":
        inc = v > half
    elif rounding == "RND_ZERO":
        inc = (v > half) | ((v == half) & (v < 0))
    elif rounding == "RND_INF":
        inc = (v > half) | ((v == half) & (v >= 0))
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return np.add(floor, inc, out=floor)


def round_shift(mant, shift, rounding="TRN"):
    """Return ``mant * 2**-shift`` rounded to an integer with `rounding` (an ap_fixed Q mode).

    `mant` is int64 (array or scalar), `shift` >= 0 an int or an int64 array broadcastable to it.
    Like ``quantization_adjust``: floor, then add 1 depending on ``qb`` (the first dropped bit,
    worth 1/2), ``r`` (any lower dropped bit), the sign and the kept LSB. Exact for any shift.
    """
    m, sh = np.broadcast_arrays(np.asarray(mant, np.int64), np.asarray(shift, np.int64))
    floor = m >> np.minimum(sh, 63)  # arithmetic shift = floor division by 2**sh
    if rounding == "TRN":
        return floor
    qpos = np.clip(sh - 1, 0, 63)
    qb = (((m >> qpos) & 1) != 0) & (sh > 0)  # beyond bit 63 the bits are sign copies
    # r: any bit below qb; once qb sits above bit 63 that includes bit 63 itself (m = -2**63).
    below = np.where(sh - 1 >= 64, ~_U64(0), (_ONE << qpos.astype(_U64)) - _ONE)
    r = (m.view(_U64) & below) != 0
    neg = m < 0
    if rounding == "RND":
        inc = qb
    elif rounding == "RND_ZERO":
        inc = qb & (neg | r)
    elif rounding == "RND_MIN_INF":
        inc = qb & r
    elif rounding == "RND_INF":
        inc = qb & (~neg | r)
    elif rounding == "RND_CONV":
        inc = qb & (((floor & 1) != 0) | r)
    elif rounding == "TRN_ZERO":
        inc = neg & (qb | r)
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return floor + inc.astype(np.int64)


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, AP_<rounding>, AP_<overflow>>`` (``ap_ufixed`` if not signed)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        try:  # accept numpy integers, store python ints
            object.__setattr__(self, "width", operator.index(self.width))
            object.__setattr__(self, "integer", operator.index(self.integer))
        except TypeError:
            raise ValueError(f"width and integer bits must be ints, got {self.width!r}, "
                             f"{self.integer!r}") from None
        object.__setattr__(self, "signed", bool(self.signed))
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"fixed-point width must be in 1..{MAX_WIDTH}, got {self.width}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"unknown rounding mode {self.rounding!r}; expected one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"unknown overflow mode {self.overflow!r}; expected one of {OVERFLOW_MODES}")

    # ----- properties -------------------------------------------------------------------------
    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    @property
    def min_mantissa(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_mantissa(self) -> int:
        return (1 << (self.width - self.signed)) - 1

    @property
    def min_value(self) -> float:
        return math.ldexp(self.min_mantissa, -self.frac)

    @property
    def max_value(self) -> float:
        return math.ldexp(self.max_mantissa, -self.frac)

    # ----- text -------------------------------------------------------------------------------
    def to_cpp(self) -> str:
        name = "ap_fixed" if self.signed else "ap_ufixed"
        if self.rounding == "TRN" and self.overflow == "WRAP":
            return f"{name}<{self.width},{self.integer}>"
        return f"{name}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def __str__(self) -> str:
        return self.to_cpp()

    _FIXED_RE = re.compile(
        r"^ap_(u?)fixed<(-?\d+),(-?\d+)(?:,(?:AP_)?(\w+?)(?:,(?:AP_)?(\w+?)(?:,0)?)?)?>$")
    _INT_RE = re.compile(r"^ap_(u?)int<(\d+)>$")

    @classmethod
    def parse(cls, text: str) -> "FixedType":
        """Parse what `to_cpp` writes, plus ``ap_[u]int<W>``, spaces and modes without ``AP_``."""
        compact = re.sub(r"\s+", "", str(text))
        fm, im = cls._FIXED_RE.match(compact), cls._INT_RE.match(compact)
        try:
            if fm:
                u, w, i, q, o = fm.groups()
                return cls(int(w), int(i), not u, (q or "TRN").upper(), (o or "WRAP").upper())
            if im:
                return cls(int(im.group(2)), int(im.group(2)), not im.group(1))
            detail = ""
        except ValueError as exc:
            detail = f" ({exc})"
        raise QconvError(f"cannot parse fixed-point type '{text}'{detail}: expected e.g. ap_fixed<8,3>, "
                         "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>, ap_int<8> or ap_uint<8>")

    def with_modes(self, rounding=None, overflow=None) -> "FixedType":
        return replace(self, rounding=rounding or self.rounding, overflow=overflow or self.overflow)

    # ----- conversions ------------------------------------------------------------------------
    def _check_int64(self, role="destination"):
        if not self.signed and self.width == 64:
            raise TypeOverflowError(f"{role} type {self.to_cpp()}: 64-bit unsigned mantissas do not "
                                    "fit in int64; use at most 63 bits")

    def from_float(self, x, return_overflow=False, as_float=False):
        """``ap_fixed<...> v = (double)x`` elementwise: int64 mantissas (and the overflow mask).

        The double is decomposed as the header does: value = +-(2**52 | fraction) * 2**(exp - 1075).
        This is exact for every normal double; like the header it also maps subnormals (which would
        matter only with more than ~1020 fraction bits) and inf/NaN (as +-(1.f) * 2**1024).
        Arrays whose values scale below 2^51 lsb take a float route with the same results in a
        few passes (`round_double`); the others that decomposition (`_from_float_bits`).
        `as_float`: the mantissas may come as a float64 array of them (exact) from the float route.
        """
        self._check_int64()
        x = np.asarray(x, dtype=np.float64, order="C")
        if x.ndim and x.size and 0 <= self.frac <= 1000:
            # The float route: x * 2^frac is exact for every finite double (a power-of-two scale
            # up loses no bits; too large becomes inf, which the bound test sends to the route
            # below), then `round_double`. A subnormal x, which the header decodes as
            # +-(1.f) * 2^-1023, scales to far below half an lsb either way: same sign, same result.
            with np.errstate(over="ignore"):
                v = np.multiply(x, 2.0**self.frac)  # a new array: round_double may round it in place
            low, high = v.min(), v.max()
            if -2.0**51 < low and high < 2.0**51:  # also False for NaN
                r = round_double(v, self.rounding)
                # rounding is monotonic: the extremes of r are those of v rounded
                low, high = round_double(np.array([low, high], np.float64), self.rounding)
                fits = self.min_mantissa <= low and high <= self.max_mantissa
                m, changed = self.from_exact(r, may_overflow=not fits, integral=True, as_float=as_float)
                return (m, changed) if return_overflow else m
        return self._from_float_bits(x, return_overflow)

    def _from_float_bits(self, x: np.ndarray, return_overflow=False):
        """`from_float` for any doubles (float64 `x`), through the header's decomposition of each."""
        bits = x.view(_U64)
        exp = ((bits >> _U64(52)) & _U64(0x7FF)).astype(np.int64)
        man = ((bits & _U64((1 << 52) - 1)) | _U64(1 << 52)).astype(np.int64)
        man = np.where((bits >> _U64(63)) != 0, -man, man)
        man = np.where((bits << _ONE) == 0, 0, man)  # +-0.0
        return self._convert(man, (1075 - exp) - self.frac, return_overflow)

    def cast(self, mant, src: "FixedType", return_overflow=False, as_float=False):
        """``ap_fixed<this> dst = (ap_fixed<src>)value`` for int64 mantissas `mant` of type `src`
        (or a float array holding them exactly). `as_float`: the result may be such a float array
        (see `from_exact`); only with `return_overflow`."""
        self._check_int64()
        src._check_int64("source")
        shift = src.frac - self.frac
        m = np.asarray(mant)
        if m.ndim > 0 and return_overflow and (m.dtype.kind == "f" or (shift > 0 and self.rounding != "TRN")):
            dtype = _exact_float(src.width + max(-shift, 0), max(shift, 0))
            sym = self.overflow == "SAT_SYM" and self.signed
            if m.dtype.kind == "f" and shift <= 0 and not sym and self.contains(src.with_modes("TRN", "WRAP")):
                y = m * 2.0**-shift if shift else m                         # nothing to round or overflow
                return (y if as_float else y.astype(np.int64)), np.zeros(m.shape, bool)
            if dtype is not None:  # in float: fewer passes than the integer remainder tests
                return self.from_exact(np.multiply(m, 2.0**-shift, dtype=dtype), integral=shift <= 0,
                                       as_float=as_float)
        m = np.asarray(m, np.int64)
        if -62 <= shift <= 62 and src.width - min(shift, 0) <= 62 and m.ndim > 0:
            return self._cast_fast(m, shift, src, return_overflow)
        return self._convert(m, np.int64(shift), return_overflow)

    def _cast_fast(self, m, shift: int, src: "FixedType", return_overflow: bool):
        """`cast` for the common case (one shift, every intermediate within int64): the same
        rounding and overflow rules in a few whole-array passes (the simulator's hot path)."""
        if shift > 0:
            q = _round_shift_scalar(m, shift, self.rounding)
        else:
            q = m << -shift if shift else m
        sym = self.overflow == "SAT_SYM" and self.signed  # maps the exact minimum too
        if shift <= 0 and not sym and self.contains(src.with_modes("TRN", "WRAP")):
            return (q, np.zeros(q.shape, bool)) if return_overflow else q  # nothing can overflow
        result, changed = self._overflow_ints(q)
        return (result, changed) if return_overflow else result

    def _overflow_ints(self, q):
        """This type's overflow mode on rounded int64 mantissas q: (mantissas, changed mask)."""
        hi, lo = np.int64(self.max_mantissa), np.int64(self.min_mantissa)
        if self.overflow == "SAT" or (self.overflow == "SAT_SYM" and not self.signed):
            result = np.clip(q, lo, hi)
            return result, result != q
        return self._apply_overflow(self._wrap(q.view(_U64)), q > hi, q < lo, hi, lo)

    def from_exact(self, v: np.ndarray, may_overflow: bool = True, integral: bool = False, as_float: bool = False):
        """Mantissas and overflow mask of values given in units of this type's lsb as a float array
        that holds them exactly (dyadic rationals below 2^23 in float32, 2^51 in float64: the
        caller proves it, see sim/arith.py `linear`); the float route of `cast`. Rounds in place
        (`round_float`), then applies the overflow mode; `may_overflow` False: the caller proved
        every rounded value fits, so no comparison is made; `integral`: v holds integers already.
        `as_float`: the mantissas stay in v's float array (exact) unless the overflow mode needed
        the int64 route."""
        if not integral:
            round_float(v, self.rounding)
        hi, lo = self.max_mantissa, self.min_mantissa
        sym = self.overflow == "SAT_SYM" and self.signed  # also changes the exact minimum
        low, high = (v.min() < lo, v.max() > hi) if may_overflow and v.size else (False, False)
        if sym or low or high:
            if self.overflow == "SAT" or (self.overflow == "SAT_SYM" and not self.signed):
                changed = ((v < lo) | (v > hi)) if low and high else (v < lo) if low else (v > hi)
                np.clip(v, lo, hi, out=v)
                return (v if as_float else v.astype(np.int64)), changed
            return self._overflow_ints(v.astype(np.int64))
        return (v if as_float else v.astype(np.int64)), np.zeros(v.shape, bool)

    def _convert(self, m, shift, return_overflow):
        """Value ``m * 2**-shift`` (in units of this lsb) -> this type: quantize, then overflow."""
        m, shift = np.broadcast_arrays(np.asarray(m, np.int64), np.asarray(shift, np.int64))
        hi, lo = np.int64(self.max_mantissa), np.int64(self.min_mantissa)
        # shift > 0: drop bits with the rounding mode; |q| <= |m| / 2 + 1 fits in int64.
        q = round_shift(m, np.maximum(shift, 0), self.rounding)
        # shift <= 0: q = m * 2**k may not fit in int64, so compare m against the bounds scaled down
        # (m * 2**k > hi  <=>  m > floor(hi / 2**k);  m * 2**k < lo  <=>  m < ceil(lo / 2**k)) and
        # compute the low W bits with modular uint64 shifts.
        k = np.clip(-shift, 0, 64)
        kc = np.minimum(k, 63)
        left = np.where(k >= 64, _U64(0), m.view(_U64) << kc.astype(_U64))
        over_l = m > (hi >> kc)
        under_l = m < np.where(k <= self.width - 1, lo >> kc, 0)
        right = shift > 0
        over = np.where(right, q > hi, over_l)
        under = np.where(right, q < lo, under_l)
        wrapped = self._wrap(np.where(right, q.view(_U64), left))
        result, changed = self._apply_overflow(wrapped, over, under, hi, lo)
        if result.ndim == 0:
            result, changed = result[()], changed[()]
        return (result, changed) if return_overflow else result

    def _wrap(self, bits):
        """Low `width` bits of a uint64 array, as this type's int64 mantissas (AP_WRAP)."""
        if self.width == 64:
            return bits.view(np.int64)
        v = (bits & _U64((1 << self.width) - 1)).astype(np.int64)
        if self.signed:
            sign = np.int64(1 << (self.width - 1))
            v = (v ^ sign) - sign
        return v

    def _apply_overflow(self, wrapped, over, under, hi, lo):
        """``overflow_adjust``: returns (mantissas, mask where the rounded value was changed)."""
        bad = over | under
        if self.overflow == "WRAP":
            return wrapped, bad
        if self.overflow == "SAT_ZERO":
            return np.where(bad, np.int64(0), wrapped), bad
        if self.overflow == "SAT" or not self.signed:  # unsigned AP_SAT_SYM is AP_SAT
            return np.where(over, hi, np.where(under, lo, wrapped)), bad
        # AP_SAT_SYM: underflow and the exact most-negative code both become -max. Header quirk:
        # it writes -max as the bit pattern (min | 1), which for a 1-bit signed type *is* min, so
        # ap_fixed<1,I,Q,AP_SAT_SYM> behaves exactly like AP_SAT.
        sym_lo = -hi if self.width > 1 else lo
        at_min = (wrapped == lo) & ~bad
        result = np.where(over, hi, np.where(under | at_min, sym_lo, wrapped))
        return result, bad | (at_min & (sym_lo != lo))

    def to_float(self, mant):
        """Mantissas -> float64 values (exact for width <= 53)."""
        m = np.asarray(mant).astype(np.float64)
        if -1000 <= self.frac <= 1000:  # a normal power of two, and |m| >= 1 keeps products normal: exact
            return m * 2.0**-self.frac   # (np.ldexp gives the same 5x slower)
        return np.ldexp(m, -self.frac)

    def contains(self, other: "FixedType") -> bool:
        """True when every value of `other` is exactly representable in this type."""
        if self.frac < other.frac:
            return False
        up = self.frac - other.frac  # scale other's mantissas to this type's lsb
        return (self.min_mantissa <= (other.min_mantissa << up)
                and (other.max_mantissa << up) <= self.max_mantissa)


def csim_cast_asserts(dst: FixedType, src: FixedType) -> bool:
    """True when ``dst = src`` aborts a C simulation built without NDEBUG.

    Header quirk: ``ap_fixed_base::operator=`` reads the first dropped bit with ``get_bit`` before
    checking that it exists, and ``ap_private::get_bit`` asserts on an index past the source MSB.
    That happens whenever rounding is active and more than ``src.width`` bits are dropped. (The
    value computed with NDEBUG is the one `FixedType.cast` returns; the double constructor is safe.)
    """
    active = dst.rounding != "TRN" and not (dst.rounding == "TRN_ZERO" and not src.signed)
    return active and src.frac - dst.frac > src.width


# ----- result types (ap_fixed_base::RType) ----------------------------------------------------
def _make(width, integer, signed, what) -> FixedType:
    if width > MAX_WIDTH:
        raise TypeOverflowError(f"{what} needs ap_fixed<{width},{integer}>: wider than the "
                                f"{MAX_WIDTH} bits qconv can simulate exactly")
    return FixedType(width, integer, signed)


def product_type(a: FixedType, b: FixedType) -> FixedType:
    """Type of ``a * b``: ``<W1+W2, I1+I2, S1||S2>`` (TRN, WRAP)."""
    return _make(a.width + b.width, a.integer + b.integer, a.signed or b.signed, f"{a} * {b}")


def sum_type(a: FixedType, b: FixedType) -> FixedType:
    """Type of ``a + b``: I = max(I1 + (S2&&!S1), I2 + (S1&&!S2)) + 1, W = I + max(F1, F2)."""
    i = max(a.integer + (b.signed and not a.signed), b.integer + (a.signed and not b.signed)) + 1
    return _make(i + max(a.frac, b.frac), i, a.signed or b.signed, f"{a} + {b}")


def accumulate_type(t: FixedType, n: int) -> FixedType:
    """Lossless type of a sum of `n` >= 1 terms of type `t`: ceil(log2 n) more integer bits."""
    if n < 1:
        raise ValueError(f"accumulate_type needs n >= 1, got {n}")
    extra = (n - 1).bit_length()  # == ceil(log2(n))
    return _make(t.width + extra, t.integer + extra, t.signed, f"a sum of {n} x {t}")


def union_type(a: FixedType, b: FixedType) -> FixedType:
    """Smallest type (TRN, WRAP) holding every value of `a` and every value of `b` exactly."""
    signed = a.signed or b.signed
    i = max(t.integer + (signed and not t.signed) for t in (a, b))
    return _make(i + max(a.frac, b.frac), i, signed, f"the union of {a} and {b}")
