"""QKeras ``quantized_bits`` and its subclass ``quantized_hswish`` (SEMANTICS.md 1 and 2).

``quantized_bits(bits, integer, symmetric, keep_negative)`` with alpha None is
``ap_fixed<bits, integer+1, AP_RND_CONV, symmetric ? AP_SAT_SYM : AP_SAT>`` (keep_negative) or
``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``; 1 bit with keep_negative is the sign (+-1).
A numeric alpha post-multiplies that value. ``alpha="auto"/"auto_po2"`` compute a per-channel
scale S from the tensor itself (`autoscale`) and give ``S * ap_fixed<bits, integer+k,
AP_RND_INF, AP_SAT_SYM>(x / S)``; the last computed scale is kept in ``self.scale`` (``S``).
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from .autoscale import least_squares_scale, scaling_axes
from .base import Quantizer
from .float32 import F32, c32, f32, po2_round, sign, sign01, ste, tf_round
from ..numeric import is_po2
from .hardware import Hardware


def _check_int(q: Quantizer, name: str, lo: int) -> None:
    value = getattr(q, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < lo:
        raise q._bad(f"'{name}' must be an integer >= {lo}, got {value!r}")


class quantized_bits(Quantizer):  # noqa: N801 - QKeras' name
    """``quantized_bits``: uniform fixed-point quantizer, optionally auto-scaled per channel."""

    name = "quantized_bits"
    PARAMS = (("bits", 8), ("integer", 0), ("symmetric", 0), ("keep_negative", True), ("alpha", None),
              ("use_stochastic_rounding", False), ("scale_axis", None), ("qnoise_factor", 1.0),
              ("var_name", None), ("use_ste", True), ("use_variables", False), ("elements_per_scale", None),
              ("min_po2_exponent", None), ("max_po2_exponent", None), ("post_training_scale", None))
    MIN_POSITIONAL = MAX_POSITIONAL = 3
    BOOL_WORDS = frozenset({"keep_negative", "use_ste"})

    def _validate(self):
        _check_int(self, "bits", 1)
        _check_int(self, "integer", -10**6)
        if isinstance(self.alpha, str):
            if self.alpha not in ("auto", "auto_po2"):
                raise self._bad(f"alpha must be None, a number, 'auto' or 'auto_po2', got '{self.alpha}'")
            self.symmetric = True  # QKeras: "auto*" implies symmetric
        elif self.post_training_scale is not None:
            raise self._bad(f"post_training_scale needs alpha 'auto' or 'auto_po2', not {self.alpha!r}")
        if self.alpha != "auto_po2":
            for key in ("elements_per_scale", "min_po2_exponent", "max_po2_exponent"):
                if getattr(self, key) is not None:
                    raise self._bad(f"'{key}' is only supported with alpha='auto_po2'")
        if self.post_training_scale is not None:
            self.post_training_scale = np.asarray(self.post_training_scale, np.float32)
            self.scale = self.post_training_scale

    @property
    def k(self) -> int:
        return int(bool(self.keep_negative))

    # ----- float32 reference ------------------------------------------------------------------
    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        m = F32(2.0 ** (self.bits - self.k))
        m_i = F32(2.0 ** self.integer)
        if isinstance(self.alpha, str):
            return self._auto(x, m, m_i)
        if self.bits - self.k > 0:
            p = x * m / m_i
            low = c32(self.k) * (-m + c32(self.symmetric))
            xq = m_i * np.clip(tf_round(p), low, m - F32(1)) / m
        else:
            xq = sign01(x)
        scale = F32(1) if self.alpha is None else np.asarray(self.alpha, np.float32)
        self.scale = scale
        return ste(x, scale * xq, self.qnoise_factor, self.use_ste)

    def _codes(self, x: np.ndarray, s: np.ndarray, levels: int) -> np.ndarray:
        """Round half away from zero with symmetric saturation at levels/2."""
        v = np.floor(np.abs(x) / s + F32(0.5))
        return sign(x) * np.where(v < F32(levels / 2), v, F32(levels) / F32(2))

    def _auto(self, x: np.ndarray, m, m_i) -> np.ndarray:
        axes = scaling_axes(self.scale_axis, x.ndim) if x.ndim > 1 else (0,)
        x = x / m_i
        levels = (2 ** (self.bits - 1) - 1) * 2
        if self.post_training_scale is not None:
            s = self.post_training_scale / m
        else:
            s = np.max(np.abs(x), axis=axes, keepdims=True) * F32(2) / F32(levels)
            if self.alpha == "auto_po2":
                s = po2_round(s)
                for _ in range(5):
                    s = least_squares_scale("auto_po2", x, self._codes(x, s, levels), self.scale_axis,
                                            self.elements_per_scale, self.min_po2_exponent,
                                            self.max_po2_exponent)
        z = self._codes(x, s, levels)
        scale = (s * m).astype(np.float32)
        if self.post_training_scale is None:
            self.scale = scale
        return ste(m_i * x, scale * (m_i * z / m), self.qnoise_factor, self.use_ste)

    # ----- QKeras bounds ------------------------------------------------------------------------
    def max(self) -> float:
        return max(1.0, 2.0 ** self.integer) if self.bits - self.k > 0 else 1.0

    def min(self) -> float:
        if not self.k:
            return 0.0
        return -max(1.0, 2.0 ** self.integer) if self.bits - self.k > 0 else -1.0

    def range(self) -> np.ndarray:
        """Every value in code order 0..2^(b-1)-1, -2^(b-1)..-1 (symmetric=0, signed, alpha 1 only)."""
        if self.symmetric or not self.k or not (self.alpha is None or self.alpha == 1.0):
            raise self._bad("range() needs symmetric=0, keep_negative=True and alpha None or 1")
        codes = np.arange(2 ** self.bits, dtype=np.float32)
        half = 2 ** (self.bits - 1)
        codes = np.where(codes >= half, codes - 2 * half, codes)
        return codes * F32(2.0 ** (self.integer - self.bits + 1))

    # ----- hardware -----------------------------------------------------------------------------
    def fixed_type(self) -> FixedType:
        """The ap_fixed grid (alpha None or a number; for auto alphas: the grid of x / scale)."""
        if isinstance(self.alpha, str):
            return FixedType(self.bits, self.integer + self.k, True, "RND_INF", "SAT_SYM")
        if self.k:
            return FixedType(self.bits, self.integer + 1, True, "RND_CONV", "SAT_SYM" if self.symmetric else "SAT")
        return FixedType(self.bits, self.integer, False, "RND_CONV", "SAT")

    def hardware(self, x=None) -> Hardware:
        src = str(self)
        if isinstance(self.alpha, str):
            scale = self._tensor_scale(x)
            po2 = self.alpha == "auto_po2" or all(is_po2(s) for s in np.ravel(scale))
            return Hardware("fixed", self.fixed_type(), scale=scale, scale_input=True, source=src,
                            exact=po2, reason="" if po2 else "alpha='auto' gives float per-channel scales "
                            "(use alpha='auto_po2' or a fixed alpha)")
        if self.bits - self.k == 0:
            return Hardware("binary", FixedType(1, 1, True), values=(-1.0, 1.0), source=src)
        if self.alpha is None:
            return Hardware("fixed", self.fixed_type(), source=src)
        po2 = all(is_po2(a) for a in np.ravel(self.alpha))
        return Hardware("fixed", self.fixed_type(), scale=np.asarray(self.alpha, np.float64), scale_input=False,
                        source=src, exact=po2, reason="" if po2 else f"alpha={self.alpha} is not a power of two")


class quantized_hswish(quantized_bits):  # noqa: N801 - QKeras' name
    """``quantized_hswish``: ``quantized_bits(x * relu6(x + shift) / upper_bound)``."""

    name = "quantized_hswish"
    PARAMS = (("bits", 8), ("integer", 0), ("symmetric", 0), ("alpha", None), ("use_stochastic_rounding", False),
              ("scale_axis", None), ("qnoise_factor", 1.0), ("var_name", None), ("use_variables", False),
              ("relu_shift", 3), ("relu_upper_bound", 6),
              # keyword-only: accepted so that QKeras' get_config() (which lists them) round-trips
              ("keep_negative", True), ("use_ste", True), ("elements_per_scale", None),
              ("min_po2_exponent", None), ("max_po2_exponent", None), ("post_training_scale", None))

    def _validate(self):
        super()._validate()
        if not self.keep_negative:
            raise self._bad("keep_negative must be True (quantized_hswish is always signed)")
        if not self.relu_upper_bound > 0 or not self.relu_shift > 0:
            raise self._bad("relu_shift and relu_upper_bound must be positive")

    def hswish(self, x) -> np.ndarray:
        """The unquantized float32 hard swish ``x * min(relu(x + shift), ub) / ub``."""
        x = f32(x)
        shifted = x + c32(self.relu_shift)
        ub = c32(self.relu_upper_bound)
        r = np.where(shifted <= ub, np.maximum(shifted, F32(0)), ub)
        return ((x * r) / ub).astype(np.float32)

    def __call__(self, x) -> np.ndarray:
        return super().__call__(self.hswish(x))

    def min(self) -> float:
        """QKeras' intended bound (its own min() raises): the quantized parabola minimum."""
        low = super().min()
        vertex = -self.relu_shift * self.relu_shift / (4 * self.relu_upper_bound)
        return low if low >= vertex else float(quantized_bits.__call__(self, np.float32(vertex)))

    def hardware(self, x=None) -> Hardware:
        if isinstance(self.alpha, str):
            raise self._bad("auto alphas on an activation cannot be mapped to hardware")
        out = super().hardware()
        return Hardware("table", out.fixed, function=self, source=str(self), exact=out.exact, reason=out.reason,
                        scale=out.scale, scale_input=False)
