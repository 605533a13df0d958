"""`Hardware`: what a quantizer becomes in hardware, and that form's exact evaluation.

Every quantizer's ``hardware()`` returns one of these. `kind` says what the backend builds:

``fixed``    a cast to `fixed` (an ap_fixed type with its rounding and overflow modes). With a
             `scale` (scalar or per channel, channels last) the value is ``scale * fixed(v)``
             where ``v = x / scale`` if `scale_input` (a scaled grid: auto/auto_po2, QONNX
             scales, quantized_linear alpha) else ``v = x`` (a post-multiplier: quantized_bits
             with a numeric alpha). A power-of-two scale (`scale_exponents`) is a shift.
             `input_shift` s multiplies the input by 2**s first (QONNX Trunc v1).
``po2``      ``sign * 2**e`` with e in ``exponents = (min_e, max_e)``; `rounding` "rnd" puts the
             boundary between 2**n and 2**(n+1) at 2**(n+1/2), "floor" at 2**(n+1);
             ``signed=False`` is the relu form (x <= 0 gives 2**min_e).
``binary``   ``scale * (x >= 0 ? values[1] : values[0])`` (values (-1, 1) or (0, 1)).
``ternary``  ``scale * sign(x) * (|x| >= threshold)`` (``>`` when `threshold_strict`, as for
             the auto scales, whose threshold is scale / 2 per channel).
``table``    a lookup table: tabulate `function` over the input type; `fixed` is the output type.

`exact` is False for forms that only work in Python (float ``alpha="auto"`` scales, ulaw, float
alphas that are not powers of two on activations...); `require_exact` raises the build-time
error with `reason`. `apply` evaluates the hardware form in exact (float64 / integer) arithmetic,
for the tests that check it against the float32 reference on non-saturating inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import UnsupportedError
from ..fixed import FixedType
from ..numeric import po2_exponents

KINDS = ("fixed", "po2", "binary", "ternary", "table")


@dataclass(frozen=True, eq=False)
class Hardware:
    """A quantizer's hardware form (see the module docstring for each kind's meaning)."""

    kind: str
    fixed: FixedType | None = None
    scale: np.ndarray | None = None
    scale_input: bool = True
    exponents: tuple[int, int] | None = None
    signed: bool = True
    rounding: str = "rnd"
    values: tuple[float, ...] = ()
    threshold: float | np.ndarray | None = None
    threshold_strict: bool = False
    input_shift: int = 0
    function: Callable | None = field(default=None, repr=False)
    exact: bool = True
    reason: str = ""
    source: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown hardware kind {self.kind!r}; expected one of {KINDS}")
        if self.scale is not None:
            object.__setattr__(self, "scale", np.asarray(self.scale, np.float64))

    @property
    def scale_exponents(self) -> np.ndarray | None:
        """Per-channel exponents when the scale is a power of two (a shift), else None."""
        return None if self.scale is None else po2_exponents(self.scale)

    def require_exact(self) -> "Hardware":
        """Return self, or raise the build-time error for a form that cannot be exact."""
        if not self.exact:
            raise UnsupportedError(f"{self.source or self.kind}: cannot be made bit-exact in hardware: "
                                   f"{self.reason}")
        return self

    # ----- exact evaluation -------------------------------------------------------------------
    def apply(self, x) -> np.ndarray:
        """The hardware form's value for inputs `x` (float64, exact for fixed/po2 kinds)."""
        x = np.asarray(x, np.float64)
        scale = 1.0 if self.scale is None else self.scale
        if self.kind == "fixed":
            v = x / scale if (self.scale_input and self.scale is not None) else np.ldexp(x, self.input_shift)
            return scale * self.fixed.to_float(self.fixed.from_float(v))
        if self.kind == "binary":
            return scale * np.where(x >= 0, self.values[1], self.values[0])
        if self.kind == "ternary":
            keep = np.abs(x) > self.threshold if self.threshold_strict else np.abs(x) >= self.threshold
            return scale * np.sign(x) * keep
        if self.kind == "po2":
            return self._apply_po2(x)
        return np.asarray(self.function(x.astype(np.float32)), np.float64)  # table

    def _apply_po2(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self.exponents
        a = np.abs(x) if self.signed else np.maximum(x, 0.0)
        mant, exp = np.frexp(np.where(a > 0, a, 1.0))  # a = mant * 2**exp, mant in [0.5, 1)
        e = exp - 1  # floor(log2 a)
        if self.rounding == "rnd":  # round up when a >= 2**(e + 1/2), i.e. (2*mant)**2 >= 2
            e = e + ((2 * mant) ** 2 >= 2)
        e = np.where(a > 0, np.clip(e, lo, hi), lo)
        sgn = np.where(x < 0, -1.0, 1.0) if self.signed else 1.0
        return sgn * np.ldexp(1.0, e.astype(np.int64))

    def describe(self) -> str:
        """One line for reports and error messages."""
        parts = [self.kind]
        if self.fixed is not None:
            parts.append(self.fixed.to_cpp())
        if self.exponents is not None:
            parts.append(f"exponents {self.exponents[0]}..{self.exponents[1]}")
        if self.scale is not None:
            exps = self.scale_exponents
            if exps is not None:
                parts.append(f"scale 2^[{int(exps.min())}..{int(exps.max())}]")
            else:
                parts.append(f"scale {np.ravel(self.scale)[:4].tolist()}")
        if not self.exact:
            parts.append(f"(not exact: {self.reason})")
        return " ".join(parts)
