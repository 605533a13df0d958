"""QKeras ``quantized_tanh``, ``quantized_sigmoid`` and ``quantized_ulaw`` (SEMANTICS.md 2).

tanh: ``clip(RNE(p * m) / m, -1 + sym/m, 1 - 1/m)`` with m = 2^(bits-1) and p = tanh(x) or
``2 * sigmoid(x) - 1`` (the internal sigmoid, hard by default); sigmoid: the same with m = 2^bits
on [sym/m, 1 - 1/m]. Hardware: lookup tables over the input type (the hard forms are also
``ap_fixed<bits, 1, AP_RND_CONV, AP_SAT[_SYM]>(x)`` and ``ap_ufixed<bits, 0, AP_RND_CONV, AP_SAT>(x/2 + 1/2)``).
ulaw is not on a fixed-point grid: it works in Python only.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from .base import Quantizer
from .float32 import F32, c32, f32, sign, tf_log, tf_round
from .hardware import Hardware
from .qkeras_bits import _check_int
from .qkeras_functions import internal_sigmoid, internal_sigmoid_mode, real_sigmoid


class quantized_tanh(Quantizer):  # noqa: N801 - QKeras' name
    """``quantized_tanh``: tanh (hard by default) on ``bits`` signed bits in [-1, 1)."""

    name = "quantized_tanh"
    PARAMS = (("bits", 8), ("use_stochastic_rounding", False), ("symmetric", False), ("use_real_tanh", False))
    MIN_POSITIONAL = 1

    def _validate(self):
        _check_int(self, "bits", 1)

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        m = F32(2.0 ** (self.bits - 1))
        p = np.tanh(x) if self.use_real_tanh else F32(2) * internal_sigmoid(x) - F32(1)
        lo = F32(-1) + c32(1.0 * self.symmetric) / m
        return np.clip(tf_round(p * m) / m, lo, F32(1) - F32(1) / m).astype(np.float32)

    def max(self) -> float:
        return 1.0 - 1.0 / 2 ** (self.bits - 1)

    def min(self) -> float:
        return -1.0 + (1.0 * self.symmetric) / 2 ** (self.bits - 1)

    def fixed_type(self) -> FixedType:
        return FixedType(self.bits, 1, True, "RND_CONV", "SAT_SYM" if self.symmetric else "SAT")

    def hardware(self, x=None) -> Hardware:
        ok = self.use_real_tanh or internal_sigmoid_mode() != "real"
        return Hardware("table", self.fixed_type(), function=self, source=str(self), exact=bool(ok),
                        reason="" if ok else "TF's real sigmoid is not reproduced to the ulp")


class quantized_sigmoid(Quantizer):  # noqa: N801 - QKeras' name
    """``quantized_sigmoid``: sigmoid (hard by default) on ``bits`` unsigned fraction bits."""

    name = "quantized_sigmoid"
    PARAMS = (("bits", 8), ("symmetric", False), ("use_real_sigmoid", False), ("use_stochastic_rounding", False))
    MIN_POSITIONAL = 1

    def _validate(self):
        _check_int(self, "bits", 1)

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        m = F32(2.0 ** self.bits)
        p = real_sigmoid(x) if self.use_real_sigmoid else internal_sigmoid(x)
        lo = c32(1.0 * self.symmetric) / m
        return np.clip(tf_round(p * m) / m, lo, F32(1) - F32(1) / m).astype(np.float32)

    def max(self) -> float:
        return 1.0 - 1.0 / 2 ** self.bits

    def min(self) -> float:
        return (1.0 * self.symmetric) / 2 ** self.bits

    def fixed_type(self) -> FixedType:
        return FixedType(self.bits, 0, False, "RND_CONV", "SAT")

    def hardware(self, x=None) -> Hardware:
        ok = not self.use_real_sigmoid and internal_sigmoid_mode() != "real"
        return Hardware("table", self.fixed_type(), function=self, source=str(self), exact=ok,
                        reason="" if ok else "TF's sigmoid kernel is not reproduced to the ulp")


class quantized_ulaw(Quantizer):  # noqa: N801 - QKeras' name
    """``quantized_ulaw``: mu-law companded levels (Python only: not a fixed-point grid)."""

    name = "quantized_ulaw"
    PARAMS = (("bits", 8), ("integer", 0), ("symmetric", 0), ("u", 255.0))
    MIN_POSITIONAL, MAX_POSITIONAL = 2, 4

    def _validate(self):
        _check_int(self, "bits", 1)
        _check_int(self, "integer", -10**6)

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        m = F32(2.0 ** (self.bits - 1))
        m_i = F32(2.0 ** self.integer)
        p = internal_sigmoid(x / m_i) * m
        rp = F32(2) * (tf_round(p) / m) - F32(1)
        u = c32(self.u)
        # K.log of the levels is Eigen's packet log (tf_log); K.log(1 + u) of the Python float is a
        # 0-d tensor, which Eigen evaluates with the scalar std::log (correctly rounded here).
        log_1pu = np.log(np.float64(c32(1 + self.u))).astype(np.float32)
        law = sign(rp) * tf_log(F32(1) + u * np.abs(rp)) / log_1pu
        lo = F32(-1) + c32(1.0 * self.symmetric) / m
        return (m_i * np.clip(law, lo, F32(1) - F32(1) / m)).astype(np.float32)

    def max(self) -> float:
        return max(1.0, 2.0 ** self.integer) if self.bits > 1 else 1.0

    def min(self) -> float:
        return -self.max()

    def hardware(self, x=None) -> Hardware:
        return Hardware("table", None, function=self, source=str(self), exact=False,
                        reason="u-law levels are logarithms, not on a fixed-point grid")
