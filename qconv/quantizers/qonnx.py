"""QONNX `Quant`/`IntQuant` (../shared/QONNX_SEMANTICS.md) as a quantizer object.

`IntQuant.__call__` reproduces qonnx 1.0.0's float reference; `fixed_type()` gives the
`ap_fixed` type that computes the same thing in hardware when the scale is a power of two and
the zero point is zero: mantissa = clamp(round(x / scale)), width = bitwidth, fraction bits =
-log2(scale), rounding from `rounding_mode`, and the clamp as the overflow mode (SAT, or
SAT_SYM for signed narrow ranges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from ..fixed import FixedType

# QONNX rounding mode -> (numpy rounding function, ap_fixed quantization mode or None)
_ROUNDING = {
    "ROUND": (np.round, "RND_CONV"),  # half to even
    "HALF_EVEN": (np.round, "RND_CONV"),
    "FLOOR": (np.floor, "TRN"),
    "DOWN": (np.fix, "TRN_ZERO"),
    "ROUND_TO_ZERO": (np.fix, "TRN_ZERO"),  # Brevitas' name for DOWN
    "HALF_UP": (lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5), "RND_INF"),
    "HALF_DOWN": (lambda v: np.sign(v) * np.ceil(np.abs(v) - 0.5), "RND_ZERO"),
    "CEIL": (np.ceil, None),
    "UP": (lambda v: np.sign(v) * np.ceil(np.abs(v)), None),
}


def power_of_two_exponent(scale: float) -> int | None:
    """k with scale == 2**k exactly, or None."""
    if not (scale > 0 and math.isfinite(scale)):
        return None
    mantissa, exponent = math.frexp(scale)
    return exponent - 1 if mantissa == 0.5 else None


@dataclass(frozen=True)
class IntQuant:
    """One QONNX Quant node's parameters. `scale` may be per-channel (an array)."""

    scale: np.ndarray
    zeropt: np.ndarray
    bitwidth: int
    signed: bool = True
    narrow: bool = False
    rounding_mode: str = "ROUND"
    where: str = "Quant"  # for error messages

    @classmethod
    def from_inputs(cls, scale, zeropt, bitwidth, signed=1, narrow=0, rounding_mode="ROUND", where="Quant"):
        bits = float(np.asarray(bitwidth).reshape(-1)[0])
        if np.asarray(bitwidth).size != 1 or bits != int(bits) or bits < 1:
            raise UnsupportedError(f"{where}: bitwidth must be a positive integer scalar, got {bitwidth!r}")
        mode = rounding_mode.decode() if isinstance(rounding_mode, bytes) else str(rounding_mode)
        mode = mode.upper()
        if mode not in _ROUNDING:
            raise UnsupportedError(f"{where}: unknown rounding_mode '{mode}' (known: {', '.join(_ROUNDING)})")
        return cls(np.asarray(scale, np.float32), np.asarray(zeropt, np.float32), int(bits),
                   bool(signed), bool(narrow), mode, where)

    # -- integer range ----------------------------------------------------------------------
    @property
    def min_int(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bitwidth - 1)) + (1 if self.narrow else 0)

    @property
    def max_int(self) -> int:
        if not self.signed:
            return 2**self.bitwidth - 1 - (1 if self.narrow else 0)
        return 2 ** (self.bitwidth - 1) - 1

    # -- float reference (qonnx 1.0.0, float32) ---------------------------------------------
    def integers(self, x: np.ndarray) -> np.ndarray:
        """The clamped, rounded integers q of qonnx's Quant (before `* scale`), as float32."""
        v = np.asarray(x, np.float32) / self.scale + self.zeropt
        if self.bitwidth == 1 and self.signed:
            return np.where(v >= 0, np.float32(1), np.float32(-1))
        fn = _ROUNDING[self.rounding_mode][0]
        return fn(np.clip(v, self.min_int, self.max_int)).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (self.integers(x) - self.zeropt) * self.scale

    # -- hardware form ----------------------------------------------------------------------
    def _exponents(self) -> np.ndarray:
        """Per-element power-of-two exponents of the scale; clear error otherwise."""
        if np.any(self.zeropt != 0):
            raise UnsupportedError(f"{self.where}: non-zero zero point is not supported yet")
        if self.bitwidth == 1 and self.signed:
            raise UnsupportedError(f"{self.where}: 1-bit signed (bipolar) Quant is not supported yet")
        exps = [power_of_two_exponent(float(s)) for s in np.asarray(self.scale, np.float64).reshape(-1)]
        if any(e is None for e in exps):
            raise UnsupportedError(
                f"{self.where}: scale {np.asarray(self.scale).reshape(-1)[:4].tolist()} is not a power of two; "
                "only power-of-two scales map to ap_fixed (non-power-of-two scales come with the conformance work)")
        return np.array(exps, dtype=np.int64).reshape(np.shape(self.scale))

    def fixed_type(self) -> FixedType:
        """The ap_fixed type (with rounding and overflow modes) computing this quantizer.
        Needs one power-of-two scale for the whole tensor."""
        exps = np.unique(self._exponents())
        if exps.size != 1:
            raise UnsupportedError(f"{self.where}: per-channel scales on an activation are not supported yet")
        q_mode = _ROUNDING[self.rounding_mode][1]
        if q_mode is None:
            raise UnsupportedError(
                f"{self.where}: rounding_mode {self.rounding_mode} has no ap_fixed equivalent on activations")
        if self.narrow and not self.signed:
            raise UnsupportedError(f"{self.where}: unsigned narrow range [0, 2^b-2] has no ap_fixed overflow mode")
        overflow = "SAT_SYM" if (self.narrow and self.signed) else "SAT"
        return FixedType(self.bitwidth, self.bitwidth + int(exps[0]), self.signed, q_mode, overflow)

    def quantize_constant(self, values: np.ndarray) -> tuple[np.ndarray, FixedType]:
        """Quantize constant weights exactly as qonnx does: int64 mantissas and the tightest
        FixedType that holds q * scale for every (possibly per-channel) power-of-two scale."""
        exps = np.broadcast_to(self._exponents(), np.shape(values))
        q = self.integers(values).astype(np.int64)
        frac = int(-exps.min())
        mant = q << (frac + exps)  # align every channel to the finest scale (exact)
        width = self.bitwidth + int(exps.max() - exps.min())
        return mant, FixedType(width, width - frac, self.signed)
