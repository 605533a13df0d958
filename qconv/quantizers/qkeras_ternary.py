"""QKeras ``ternary`` and ``stochastic_ternary`` (SEMANTICS.md 2).

Non-auto: ``q = (|x| >= t) * sign(x)`` with t = threshold or 0.33; the output is
``STE(tanh(x), q)`` for alpha None, else ``alpha * q``. auto/auto_po2: s = 2 max|x| / 3 per
channel (po2-rounded), then `number_of_unrolls` rounds of ``t = s/2; v = s * RNE(x/s);
q = (|v| >= t) * sign(x); s = LSQ(x, q)``; the output is ``s * q``. ``stochastic_ternary`` is
``ternary`` at inference.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from .autoscale import least_squares_scale, scaling_axes
from .base import Quantizer
from .float32 import F32, c32, f32, po2_round, sign, tf_round
from ..numeric import is_po2
from .hardware import Hardware
from .qkeras_binary import _check_alpha


class ternary(Quantizer):  # noqa: N801 - QKeras' name
    """``ternary``: -alpha, 0 or +alpha."""

    name = "ternary"
    PARAMS = (("alpha", None), ("threshold", None), ("use_stochastic_rounding", False), ("number_of_unrolls", 5))

    def _validate(self):
        _check_alpha(self)
        if isinstance(self.alpha, str) and self.threshold is not None:
            raise self._bad("threshold must be None with alpha 'auto'/'auto_po2' (it is computed)")
        if isinstance(self.threshold, str):
            raise self._bad(f"threshold must be a number, got '{self.threshold}'")
        if self.use_stochastic_rounding:
            raise self._bad("use_stochastic_rounding is training-only; qconv models inference")

    def _auto(self, x: np.ndarray):
        axes = None if x.ndim == 1 else scaling_axes(None, x.ndim)
        s = (F32(2) * np.max(np.abs(x), axis=axes, keepdims=True) / F32(3)).astype(np.float32)
        if self.alpha == "auto_po2":
            s = po2_round(s)
        q = np.zeros_like(x)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero scale gives NaN codes -> 0, as in TF
            return self._unroll(x, s, q)

    def _unroll(self, x, s, q):
        for _ in range(self.number_of_unrolls):
            t = s / F32(2)
            v = s * tf_round(x / s)
            q = (np.abs(v) >= t).astype(np.float32) * sign(x)
            s = least_squares_scale(self.alpha, x, q)
        return s, q

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        if isinstance(self.alpha, str):
            scale, q = self._auto(x)
        else:
            t = c32(0.33 if self.threshold is None else self.threshold)
            q = (np.abs(x) >= t).astype(np.float32) * sign(x)
            scale = F32(1) if self.alpha is None else np.asarray(self.alpha, np.float32)
        if self.alpha is None:
            x = np.tanh(x).astype(np.float32)
        self.scale = scale
        return (x + (scale * q - x)).astype(np.float32)

    def max(self):
        return 1.0 if self.alpha is None or isinstance(self.alpha, str) else max(1.0, self.alpha)

    def min(self):
        return -self.max()

    def hardware(self, x=None) -> Hardware:
        src = str(self)
        if isinstance(self.alpha, str):
            scale = self._tensor_scale(x)
            threshold = scale / 2  # |RNE(x / s)| >= 1  <=>  |x| > s / 2
        else:
            scale = None if self.alpha is None else np.asarray(self.alpha, np.float64)
            threshold = float(c32(0.33 if self.threshold is None else self.threshold))
        ok = scale is None or all(is_po2(v) for v in np.ravel(scale))
        return Hardware("ternary", FixedType(2, 2, True), values=(-1.0, 0.0, 1.0), scale=scale, scale_input=False,
                        threshold=threshold, threshold_strict=isinstance(self.alpha, str), source=src, exact=ok,
                        reason="" if ok else "the scale is not a power of two")


class stochastic_ternary(ternary):  # noqa: N801 - QKeras' name
    """``stochastic_ternary``: ``ternary`` at inference (training-time sampling is not modelled)."""

    name = "stochastic_ternary"
    PARAMS = (("alpha", None), ("threshold", None), ("temperature", 8.0), ("use_real_sigmoid", True),
              ("number_of_unrolls", 5))

    def _validate(self):
        self.use_stochastic_rounding = False
        super()._validate()
        if self.threshold == 1.0:
            raise self._bad("threshold must not be 1.0")
