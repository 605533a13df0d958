"""QKeras power-of-two quantizers ``quantized_po2`` and ``quantized_relu_po2`` (SEMANTICS.md 2).

Both return ``sign * 2^e`` with e = RNE(log2 |x|) (or floor) clipped to [min_exp, max_exp];
there is no zero (|x| < 1e-7 gives 2^min_exp), the rounding boundary is geometric (2^(n+1/2)),
and a non-power-of-two ``max_value`` can be exceeded. ``quantized_relu_po2`` has no sign bit:
x <= 0 gives 2^min_exp unless a negative slope is set. In hardware: a shift by e (weights) or a
comparator chain (activations), kind ``po2`` with the exponent range.
"""

from __future__ import annotations

import numpy as np

from .base import Quantizer
from .float32 import EPS, F32, LN2, c32, f32, pow2, sign01, ste, tf_round
from ..numeric import is_po2
from .hardware import Hardware
from .qkeras_bits import _check_int


def _need_sign_bit(max_value) -> int:
    if max_value is None:
        return 1
    if max_value < 0:
        raise ValueError("po2 max_value must be non-negative")
    return int(max_value > 1)


def clip_power_of_two(x_abs, min_exp, max_exp, max_value, quadratic=False, log2_rounding="rnd") -> np.ndarray:
    """``_clip_power_of_two``: the float32 exponent of each |x| (inference path)."""
    x_abs = f32(x_abs)
    xf = np.where(x_abs < EPS, EPS, x_abs)
    if max_value is not None:
        xf = np.where(xf >= c32(max_value), c32(max_value), xf)
    xin = np.sqrt(xf) if quadratic else xf
    lg = np.log(xin) / LN2
    e = np.floor(lg) if log2_rounding == "floor" else tf_round(lg)
    e = F32(2.0 if quadratic else 1.0) * np.clip(e, F32(min_exp), F32(max_exp))
    return np.where(x_abs < EPS, F32(min_exp), e).astype(np.float32)


class _Po2Base(Quantizer):
    """Shared parameter checks, bounds and hardware form of the two po2 quantizers."""

    MIN_POSITIONAL, MAX_POSITIONAL = 1, 2

    def _validate(self):
        _check_int(self, "bits", 1)
        if self.log2_rounding not in ("rnd", "floor"):
            raise self._bad(f"log2_rounding must be 'rnd' or 'floor', got {self.log2_rounding!r}")
        try:
            need = _need_sign_bit(self.max_value)
        except (ValueError, TypeError):
            raise self._bad(f"max_value must be None or a non-negative number, got {self.max_value!r}") from None
        self.min_exp, self.max_exp = self._exponent_range(need)
        if self.quadratic_approximation:
            self.max_exp = 2 * (self.max_exp // 2)

    def max(self):
        return max(1.0, self.max_value) if self.max_value else max(1.0, 2 ** self.max_exp)

    def exponents(self) -> tuple[int, int]:
        """The (min, max) exponents the outputs can take (quadratic doubles the top of the range)."""
        if self.quadratic_approximation:
            return self.min_exp, 2 * self.max_exp
        return self.min_exp, self.max_exp

    def hardware(self, x=None) -> Hardware:
        lo, hi = self.exponents()
        if self.max_value is not None:  # |x| is clamped to max_value before its exponent is taken
            hi = min(hi, int(clip_power_of_two(np.float32(self.max_value), self.min_exp, self.max_exp,
                                               self.max_value, self.quadratic_approximation, self.log2_rounding)))
        src = str(self)
        problems = []
        if self.quadratic_approximation:
            problems.append("quadratic_approximation (even exponents, non-monotonic near 0)")
        if self.max_value is not None and not is_po2(self.max_value):
            problems.append(f"max_value={self.max_value} is not a power of two")
        if getattr(self, "negative_slope", 0):
            problems.append("a negative slope")
        return Hardware("po2", exponents=(lo, hi),
                        signed=isinstance(self, quantized_po2), rounding=self.log2_rounding, source=src,
                        exact=not problems, reason="; ".join(problems))


class quantized_po2(_Po2Base):  # noqa: N801 - QKeras' name
    """``quantized_po2``: signed power-of-two quantizer."""

    name = "quantized_po2"
    PARAMS = (("bits", 8), ("max_value", None), ("use_stochastic_rounding", False),
              ("quadratic_approximation", False), ("log2_rounding", "rnd"), ("qnoise_factor", 1.0),
              ("var_name", None), ("use_ste", True), ("use_variables", False))
    BOOL_WORDS = frozenset({"use_ste"})

    def _exponent_range(self, need: int) -> tuple[int, int]:
        eff = self.bits - 1 - need
        return -(2 ** eff), 2 ** eff - 1

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        e = clip_power_of_two(np.abs(x), self.min_exp, self.max_exp, self.max_value,
                              self.quadratic_approximation, self.log2_rounding)
        return ste(x, sign01(x) * pow2(e), self.qnoise_factor, self.use_ste)

    def min(self):
        return -self.max()


class quantized_relu_po2(_Po2Base):  # noqa: N801 - QKeras' name
    """``quantized_relu_po2``: power-of-two relu (no sign bit; optional negative slope)."""

    name = "quantized_relu_po2"
    PARAMS = (("bits", 8), ("max_value", None), ("negative_slope", 0), ("use_stochastic_rounding", False),
              ("quadratic_approximation", False), ("log2_rounding", "rnd"), ("qnoise_factor", 1.0),
              ("var_name", None), ("use_ste", True), ("use_variables", False))
    BOOL_WORDS = frozenset({"use_ste"})

    def _validate(self):
        super()._validate()
        if self.negative_slope < 0 or (self.negative_slope != 0 and not is_po2(self.negative_slope)):
            raise self._bad(f"negative_slope must be 0 or a power of two, got {self.negative_slope}")

    def _exponent_range(self, need: int) -> tuple[int, int]:
        return -(2 ** (self.bits - need)), 2 ** (self.bits - need) - 1

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        slope = c32(self.negative_slope)
        relu = np.where(x > 0, x, x * slope) if self.negative_slope else np.maximum(x, F32(0))
        base = relu if self.max_value is None else np.where(x <= c32(self.max_value), relu, c32(self.max_value))
        args = (self.min_exp, self.max_exp, self.max_value, self.quadratic_approximation, self.log2_rounding)
        pos = clip_power_of_two(np.maximum(x, F32(0)), *args)
        neg = clip_power_of_two(np.maximum(-x, F32(0)) * slope, *args)
        xq = np.where((x >= 0) | (self.negative_slope == 0), pow2(pos), -pow2(neg))
        return ste(base, xq, self.qnoise_factor, self.use_ste)

    def min(self):
        if self.negative_slope == 0:
            return 2 ** self.min_exp
        return min(2 ** self.min_exp, -self.negative_slope * 2.0 ** (self.bits - 1)) if self.bits > 1 \
            else 2 ** self.min_exp
