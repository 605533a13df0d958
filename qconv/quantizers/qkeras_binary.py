"""QKeras ``binary``, ``stochastic_binary`` and ``bernoulli`` (SEMANTICS.md 2).

``binary``: ``b = sign(x)`` with 0 -> +1 (``use_01``: (b+1)/2); alpha None returns
``STE(tanh(x), b)``, a number ``alpha * b``, "auto"/"auto_po2" a per-channel least-squares scale
``mean(x*b) / (mean(b*b) + eps)`` (po2-rounded for auto_po2) times b. ``stochastic_binary``
behaves as ``binary`` at inference (QKeras' default learning phase); its training-time sampling is
`sample` (explicit seed). ``bernoulli`` always samples in QKeras: here it needs a seed.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from .autoscale import least_squares_scale, scaling_axes
from .base import Quantizer
from .float32 import EPS, F32, f32, sign01
from ..numeric import is_po2
from .hardware import Hardware
from .qkeras_functions import _rng, internal_sigmoid, real_sigmoid


def _sample_probability(q: Quantizer, x: np.ndarray) -> np.ndarray:
    """P(+1) = sigmoid(temperature * x / std) of stochastic_binary and bernoulli (std over the
    scaling axes for alpha='auto'/'auto_po2', else 1), in float32 as QKeras computes it."""
    std = F32(1)
    if isinstance(q.alpha, str):
        axes = scaling_axes(None, x.ndim) if x.ndim > 1 else (0,)
        std = np.std(x, axis=axes, keepdims=True).astype(np.float32) + EPS
    t = F32(q.temperature) * x / std
    return real_sigmoid(t) if q.use_real_sigmoid else internal_sigmoid(t)


def _check_alpha(q: Quantizer) -> None:
    if isinstance(q.alpha, str) and q.alpha not in ("auto", "auto_po2"):
        raise q._bad(f"alpha must be None, a number, 'auto' or 'auto_po2', got '{q.alpha}'")


def sign_hardware(q: Quantizer, values: tuple[float, float], x=None) -> Hardware:
    """Shared hardware form of the binary family: codes `values`, scale from alpha."""
    src = str(q)
    if isinstance(q.alpha, str):
        scale = q._tensor_scale(x)
    else:
        scale = None if q.alpha is None else np.asarray(q.alpha, np.float64)
    ok = scale is None or all(is_po2(v) for v in np.ravel(scale))
    return Hardware("binary", FixedType(1, 1, values[0] < 0), values=values, scale=scale, scale_input=False,
                    source=src, exact=ok, reason="" if ok else "the scale is not a power of two")


class binary(Quantizer):  # noqa: N801 - QKeras' name
    """``binary``: +-1 (or 0/1), optionally scaled by alpha."""

    name = "binary"
    PARAMS = (("use_01", False), ("alpha", None), ("use_stochastic_rounding", False), ("scale_axis", None),
              ("elements_per_scale", None), ("min_po2_exponent", None), ("max_po2_exponent", None))

    def _validate(self):
        _check_alpha(self)
        if self.use_stochastic_rounding:
            raise self._bad("use_stochastic_rounding is training-only; qconv models inference")

    def codes(self, x) -> np.ndarray:
        b = sign01(f32(x))
        return (b + F32(1)) / F32(2) if self.use_01 else b

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        b = self.codes(x)
        if self.alpha is None:
            x = np.tanh(x).astype(np.float32)
            scale = F32(1)
        elif isinstance(self.alpha, str):
            scale = least_squares_scale(self.alpha, x, b, self.scale_axis, self.elements_per_scale,
                                        self.min_po2_exponent, self.max_po2_exponent)
        else:
            scale = np.asarray(self.alpha, np.float32)
        self.scale = scale
        return (x + (scale * b - x)).astype(np.float32)

    def max(self):
        return 1.0 if self.alpha is None or isinstance(self.alpha, str) else max(1.0, self.alpha)

    def min(self):
        if self.use_01:
            return 0.0
        return -1.0 if self.alpha is None or isinstance(self.alpha, str) else -max(1.0, self.alpha)

    def hardware(self, x=None) -> Hardware:
        return sign_hardware(self, (0.0, 1.0) if self.use_01 else (-1.0, 1.0), x)


class stochastic_binary(binary):  # noqa: N801 - QKeras' name
    """``stochastic_binary``: ``binary`` at inference; `sample` draws the training-time output."""

    name = "stochastic_binary"
    PARAMS = (("alpha", None), ("temperature", 6.0), ("use_real_sigmoid", True))

    def _validate(self):
        _check_alpha(self)
        self.use_01 = False
        self.scale_axis = self.elements_per_scale = self.min_po2_exponent = self.max_po2_exponent = None

    def sample(self, x, *, seed) -> np.ndarray:
        """The training-phase output: +-scale with P(+1) = sigmoid(T x / std)."""
        x = f32(x)
        q = sign01(_sample_probability(self, x) - _rng(seed, str(self)).random(x.shape, dtype=np.float32))
        scale = least_squares_scale(self.alpha, x, sign01(x)) if isinstance(self.alpha, str) else \
            (F32(1) if self.alpha is None else np.asarray(self.alpha, np.float32))
        self.scale = scale
        return (scale * q).astype(np.float32)


class bernoulli(Quantizer):  # noqa: N801 - QKeras' name
    """``bernoulli``: 0/1 samples with P(1) = sigmoid(T x / std); sampling needs a seed."""

    name = "bernoulli"
    PARAMS = (("alpha", None), ("temperature", 6.0), ("use_real_sigmoid", True))

    def _validate(self):
        _check_alpha(self)

    def __call__(self, x, *, seed=None) -> np.ndarray:
        x = f32(x)
        rng = _rng(seed, f"{self} (it samples even at inference)")
        q = (sign01(_sample_probability(self, x) - rng.random(x.shape, dtype=np.float32)) + F32(1)) / F32(2)
        b01 = (sign01(x) + F32(1)) / F32(2)
        scale = least_squares_scale(self.alpha, x, b01) if isinstance(self.alpha, str) else \
            (F32(1) if self.alpha is None else np.asarray(self.alpha, np.float32))
        self.scale = scale
        return (scale * q).astype(np.float32)

    def max(self):
        return 1.0 if self.alpha is None or isinstance(self.alpha, str) else max(1.0, self.alpha)

    def min(self):
        return 0.0

    def hardware(self, x=None) -> Hardware:
        return Hardware("binary", FixedType(1, 1, False), values=(0.0, 1.0), source=str(self), exact=False,
                        reason="bernoulli samples random numbers at inference")

