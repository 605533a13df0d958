"""QKeras ``quantized_linear`` (SEMANTICS.md 2): clip-then-round on a (possibly scaled) grid.

``y = qs * (RNE(clip(x / qs, cmin, cmax) - shift) + shift)`` with the data-type scale
``dts = 2^(integer - bits + k)`` and ``qs = dts`` (alpha None), ``alpha * dts`` (alpha given: it
scales the grid), or a per-channel data-dependent scale (auto, auto_po2). bits=1 with
keep_negative is a scaled sign (+-qs/2). With alpha None and bits > 1 it is
``ap_[u]fixed<bits, integer + k, AP_RND_CONV, symmetric ? AP_SAT_SYM : AP_SAT>``.
``quantization_scale`` holds qs after a call; ``scale`` is qs / dts.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from .autoscale import least_squares_scale, scaling_axes
from .base import Quantizer
from .float32 import EPS, F32, c32, f32, po2_round, tf_round
from ..numeric import is_po2
from .hardware import Hardware
from .qkeras_bits import _check_int


class quantized_linear(Quantizer):  # noqa: N801 - QKeras' name
    """``quantized_linear``: the newer linear quantizer (symmetric by default)."""

    name = "quantized_linear"
    PARAMS = (("bits", 8), ("integer", 0), ("symmetric", 1), ("keep_negative", True), ("alpha", None),
              ("use_stochastic_rounding", False), ("scale_axis", None), ("qnoise_factor", 1.0),
              ("var_name", None), ("use_variables", False))
    MIN_POSITIONAL = MAX_POSITIONAL = 3
    BOOL_WORDS = frozenset({"keep_negative"})

    def _validate(self):
        _check_int(self, "bits", 1)
        _check_int(self, "integer", -10**6)
        if isinstance(self.alpha, str) and self.alpha not in ("auto", "auto_po2"):
            raise self._bad(f"alpha must be None, a number or array, 'auto' or 'auto_po2', got '{self.alpha}'")
        self.quantization_scale = self.default_quantization_scale

    @property
    def k(self) -> int:
        return int(bool(self.keep_negative))

    @property
    def auto_alpha(self) -> bool:
        return isinstance(self.alpha, str)

    @property
    def use_sign_function(self) -> bool:
        return self.bits == 1 and bool(self.keep_negative)

    @property
    def data_type_scale(self) -> np.float32:
        return F32(2.0 ** (self.integer - self.bits + self.k))

    @property
    def default_quantization_scale(self):
        if self.alpha is not None and not self.auto_alpha:
            return (np.asarray(self.alpha, np.float32) * self.data_type_scale).astype(np.float32)
        return self.data_type_scale

    @property
    def scale(self):
        return (np.asarray(self.quantization_scale, np.float32) / self.data_type_scale).astype(np.float32)

    @scale.setter
    def scale(self, _value):  # the base class initialises `scale`; here it is derived
        pass

    def clip_bounds(self) -> tuple[np.float32, np.float32]:
        if self.use_sign_function:
            return F32(-0.5), F32(0.5)
        po2 = F32(2.0 ** (self.bits - self.k))
        return c32(self.k) * (-po2 + c32(self.symmetric)), po2 - F32(1)

    # ----- float32 reference ------------------------------------------------------------------
    def _round_clip(self, x: np.ndarray, qs) -> np.ndarray:
        shift = F32(0.5) if self.use_sign_function else F32(0)
        lo, hi = self.clip_bounds()
        return tf_round(np.clip(x / qs, lo, hi) - shift) + shift

    def _auto_scale(self, x: np.ndarray) -> np.ndarray:
        axes = scaling_axes(self.scale_axis, x.ndim)
        lo, hi = self.clip_bounds()
        if self.k:
            qs = np.max(np.abs(x), axis=axes, keepdims=True) * F32(2) / (hi - lo)
        else:
            qs = np.max(x, axis=axes, keepdims=True) / (hi - lo)
        qs = np.maximum(qs, EPS).astype(np.float32)
        if self.alpha == "auto_po2":
            qs = po2_round(qs)
            last = -np.ones_like(qs)
            for _ in range(1 if self.use_sign_function else 5):
                if not np.any(last != qs):
                    break
                last, qs = qs, least_squares_scale("auto_po2", x, self._round_clip(x, qs), self.scale_axis)
        return qs

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        qs = self._auto_scale(x) if self.auto_alpha else self.quantization_scale
        self.quantization_scale = qs
        xq = self._round_clip(x, qs) * qs
        return (x + c32(self.qnoise_factor) * (xq - x)).astype(np.float32)

    # ----- QKeras bounds ------------------------------------------------------------------------
    def max(self):
        return self.clip_bounds()[1] * self.quantization_scale

    def min(self):
        return self.clip_bounds()[0] * self.quantization_scale

    def range(self) -> np.ndarray:
        if self.use_sign_function:
            return np.array([self.max(), self.min()], np.float32)
        lo, hi = (int(v) for v in self.clip_bounds())
        codes = np.concatenate([np.arange(hi + 1), np.arange(lo, 0)]).astype(np.float32)
        return self.quantization_scale * codes

    # ----- hardware -----------------------------------------------------------------------------
    def fixed_type(self) -> FixedType:
        """The ap_fixed grid of ``x / scale`` (the data-type grid)."""
        if self.use_sign_function:
            raise self._bad("1-bit quantized_linear is a sign function, not a fixed-point grid")
        return FixedType(self.bits, self.integer + self.k, bool(self.k), "RND_CONV",
                         "SAT_SYM" if (self.symmetric and self.k) else "SAT")

    def hardware(self, x=None) -> Hardware:
        src = str(self)
        if x is not None:
            self(x)
        if self.use_sign_function:
            qs = np.asarray(self.quantization_scale, np.float64)
            return Hardware("binary", FixedType(1, 1, True), values=(-1.0, 1.0), scale=qs / 2, source=src,
                            exact=all(is_po2(v) for v in np.ravel(qs)), reason="scale is not a power of two")
        if self.alpha is None:
            return Hardware("fixed", self.fixed_type(), source=src)
        if self.auto_alpha and x is None and np.shape(self.quantization_scale) == ():
            raise self._bad("alpha='%s' scales depend on the tensor: call the quantizer on the weights "
                            "(or pass them to hardware(x)) first" % self.alpha)
        scale = np.asarray(self.scale, np.float64)
        ok = all(is_po2(v) for v in np.ravel(scale))
        return Hardware("fixed", self.fixed_type(), scale=scale, scale_input=True, source=src, exact=ok,
                        reason="" if ok else "the scale is not a power of two")
