"""QKeras ``quantized_relu`` (SEMANTICS.md 2).

With ``negative_slope = 0`` and no sigmoid it is ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``
(negative inputs give 0). A power-of-two slope s adds the negative part ``s * x`` on the same LSB,
saturating at ``-s * 2^integer``: the value is then ``ap_fixed<bits, integer+1, AP_RND_CONV,
AP_SAT>(x)`` for x >= 0 and ``fixed(s * x)`` below (a ``leaky`` hardware form, reported as a
table). ``use_sigmoid`` quantizes ``2 * sigmoid(x / 2^integer) - 1`` instead (a table).
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from .base import Quantizer
from .float32 import F32, c32, f32, ste, tf_round
from ..numeric import is_po2
from .hardware import Hardware
from .qkeras_bits import _check_int
from .qkeras_functions import internal_sigmoid, internal_sigmoid_mode


class quantized_relu(Quantizer):  # noqa: N801 - QKeras' name
    """``quantized_relu``: unsigned fixed-point relu, optional leaky slope, sigmoid or upper bound."""

    name = "quantized_relu"
    PARAMS = (("bits", 8), ("integer", 0), ("use_sigmoid", 0), ("negative_slope", 0.0),
              ("use_stochastic_rounding", False), ("relu_upper_bound", None), ("is_quantized_clip", True),
              ("qnoise_factor", 1.0), ("var_name", None), ("use_ste", True), ("use_variables", False))
    MIN_POSITIONAL, MAX_POSITIONAL = 2, 3
    BOOL_WORDS = frozenset({"is_quantized_clip", "use_ste"})

    def _validate(self):
        _check_int(self, "bits", 1)
        _check_int(self, "integer", -10**6)
        if self.negative_slope < 0 or (self.negative_slope != 0 and not is_po2(self.negative_slope)):
            raise self._bad(f"negative_slope must be 0 or a power of two, got {self.negative_slope}")

    @property
    def _nsb(self) -> int:
        return self.bits - (self.negative_slope != 0)

    def __call__(self, x) -> np.ndarray:
        x = f32(x)
        slope = c32(self.negative_slope)
        m = F32(2.0 ** self._nsb)
        m_i = F32(2.0 ** self.integer)
        m_f = F32(2.0 ** (self.integer - self._nsb))
        relu = np.where(x > 0, x, x * slope) if self.negative_slope else np.maximum(x, F32(0))
        if self.is_quantized_clip:
            x_u = np.where(x <= m_i - m_f, relu, m_i - m_f)
        elif self.relu_upper_bound is not None:
            x_u = np.where(x <= c32(self.relu_upper_bound), relu, c32(self.relu_upper_bound))
        else:
            x_u = relu
        if self.use_sigmoid:
            p = internal_sigmoid(x / m_i) * m
            xq = m_i * np.clip(F32(2) * (tf_round(p) / m) - F32(1), F32(0), F32(1) - F32(1) / m)
            if self.negative_slope:
                nf = F32(1) / (slope * m)
                xq = xq + m_i * slope * np.clip(F32(2) * (tf_round(p * slope) * nf) - F32(1), F32(-1), F32(0))
        else:
            p = x * m / m_i
            xq = m_i * np.clip(tf_round(p) / m, F32(0), F32(1) - F32(1) / m)
            if self.negative_slope:
                nf = F32(1) / (slope * m)
                xq = xq + m_i * slope * np.clip(tf_round(p * slope) * nf, F32(-1), F32(0))
        if self.relu_upper_bound and not self.is_quantized_clip:
            ub = c32(self.relu_upper_bound)
            xq = np.where(xq <= ub, xq, ub)
        return ste(x_u, xq, self.qnoise_factor, self.use_ste)

    def max(self) -> float:
        return max(1.0, 2.0 ** self.integer) if self._nsb > 0 else 1.0

    def min(self) -> float:
        if self.negative_slope == 0:
            return 0.0
        return min(-0.0, -self.negative_slope * 2.0 ** self.integer) if self.bits > 1 else -1.0

    def range(self) -> np.ndarray:
        if self.use_sigmoid or self.negative_slope:
            raise self._bad("range() needs use_sigmoid=0 and negative_slope=0")
        return np.arange(2 ** self.bits) * F32(2.0 ** (self.integer - self.bits))

    def fixed_type(self) -> FixedType:
        """The output grid: ap_ufixed<bits, integer> (ap_fixed<bits, integer+1> with a slope)."""
        if self.negative_slope:
            return FixedType(self.bits, self.integer + 1, True, "RND_CONV", "SAT")
        return FixedType(self.bits, self.integer, False, "RND_CONV", "SAT")

    def hardware(self, x=None) -> Hardware:
        src = str(self)
        clipped = not self.is_quantized_clip and self.relu_upper_bound is not None
        if self.use_sigmoid or self.negative_slope or clipped:
            ok = internal_sigmoid_mode() != "real" or not self.use_sigmoid
            return Hardware("table", self.fixed_type(), function=self, source=src, exact=ok,
                            reason="" if ok else "TF's real sigmoid is not reproduced to the ulp")
        return Hardware("fixed", self.fixed_type(), source=src)
