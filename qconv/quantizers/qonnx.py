"""QONNX quantization ops (../shared/QONNX_SEMANTICS.md) as quantizer objects.

* `IntQuant` (``Quant``/``IntQuant``): ``(clip-then-round(x / scale + zeropt) - zeropt) * scale``;
  `fixed_type()` is the ap_fixed type that computes it when the scale is a power of two and the
  zero point is zero: width = bitwidth, fraction bits = -log2(scale), rounding from
  `rounding_mode`, the clamp as the overflow mode (SAT, or SAT_SYM for signed narrow ranges).
  `hardware()` also covers per-channel scales (a scaled integer grid).
* `BipolarQuant`: ``(x >= 0 ? +1 : -1) * scale``.
* `Trunc` (v1 and v2): re-quantization of an integer grid to fewer bits (a right shift with a
  rounding mode; v2 also clamps and rescales to ``out_scale``).
* `FloatQuant`: minifloats (OCP FP8 E4M3/E5M2, any exponent/mantissa widths and bias):
  ``clip(round_to_minifloat(x / scale), -maxv, maxv) * scale``. Every minifloat is a dyadic
  rational, so `with_scale_one_type()` holds every level exactly (the tensor carries them; the
  scale is applied after the next layer, like an IntQuant's float scale).

`__call__` reproduces qonnx 1.0.0's float reference (float32 in, float32 out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from ..fixed import MAX_WIDTH, FixedType
from ..numeric import codes_type, po2_exponent, po2_exponents
from .hardware import Hardware

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
    # ONNX QuantizeLinear adds the zero point after rounding, saturate(RNE(x / s) + z); QONNX's
    # Quant before it, RNE(clip(x / s + z)). They differ only at ties when z != 0 (float32 x / s + z).
    # The ONNX zero point is an integer of its element type and kept exact (float64: an int32
    # zero point of a DequantizeLinear's stored integers may not fit float32); QONNX's is float32.
    onnx_zero_point: bool = False

    @classmethod
    def from_inputs(cls, scale, zeropt, bitwidth, signed=1, narrow=0, rounding_mode="ROUND", where="Quant",
                    onnx_zero_point=False):
        bits = _scalar_int(bitwidth, "bitwidth", where)
        if bits < 1:
            raise UnsupportedError(f"{where}: bitwidth must be a positive integer scalar, got {bitwidth!r}")
        _check_scale(scale, zeropt, where)
        mode = rounding_mode.decode() if isinstance(rounding_mode, bytes) else str(rounding_mode)
        mode = mode.upper()
        if mode not in _ROUNDING:
            raise UnsupportedError(f"{where}: unknown rounding_mode '{mode}' (known: {', '.join(_ROUNDING)})")
        return cls(np.asarray(scale, np.float32), np.asarray(zeropt, np.float64 if onnx_zero_point else np.float32),
                   int(bits), bool(signed), bool(narrow), mode, where, bool(onnx_zero_point))

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
        if self.onnx_zero_point:  # round(clip(x / s, lo - z, hi - z)) + z == saturate(round(x / s) + z)
            v = np.asarray(x, np.float32) / self.scale
            lo, hi = self.min_int - self.zeropt, self.max_int - self.zeropt
            return (_ROUNDING[self.rounding_mode][0](np.clip(v, lo, hi)) + self.zeropt).astype(np.float32)
        v = np.asarray(x, np.float32) / self.scale + self.zeropt
        if self.bitwidth == 1 and self.signed:
            return np.where(v >= 0, np.float32(1), np.float32(-1))
        fn = _ROUNDING[self.rounding_mode][0]
        return fn(np.clip(v, self.min_int, self.max_int)).astype(np.float32)

    def centered(self, x: np.ndarray) -> np.ndarray:
        """q - zeropt: the integers whose multiple of the scale the dequantized value is (what a
        tensor carries when its scale is kept apart; the zero point is an exact integer offset)."""
        return self.integers(x) - self.zeropt

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (self.integers(x) - self.zeropt) * self.scale

    # -- hardware form ----------------------------------------------------------------------
    def _exponents(self) -> np.ndarray:
        """Per-element power-of-two exponents of the scale; clear error otherwise."""
        if np.any(self.zeropt != 0):
            raise UnsupportedError(f"{self.where}: non-zero zero point is not supported yet")
        if self.bitwidth == 1 and self.signed:
            raise UnsupportedError(f"{self.where}: 1-bit signed (bipolar) Quant is not supported yet")
        exps = [po2_exponent(float(s)) for s in np.asarray(self.scale, np.float64).reshape(-1)]
        if any(e is None for e in exps):
            raise UnsupportedError(
                f"{self.where}: scale {np.asarray(self.scale).reshape(-1)[:4].tolist()} is not a power of two; "
                "only power-of-two scales map to ap_fixed (non-power-of-two scales come with the conformance work)")
        return np.array(exps, dtype=np.int64).reshape(np.shape(self.scale))

    def with_scale_one_type(self) -> FixedType:
        """The integer type of `centered` (any scale): for zero point 0, ap_[u]fixed<b, b> with this
        quantizer's rounding and clamp; else the narrowest type holding [min - z, max - z] (its
        values come from thresholds or the host, never from a cast)."""
        q_mode = _ROUNDING[self.rounding_mode][1] or "TRN"
        if np.any(self.zeropt != 0):
            z = np.asarray(self.zeropt, np.int64)
            return codes_type(self.min_int - int(z.max()), self.max_int - int(z.min()), 0, q_mode, "SAT")
        overflow = "SAT_SYM" if (self.narrow and self.signed) else "SAT"
        return FixedType(self.bitwidth, self.bitwidth, self.signed, q_mode, overflow)

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

    def hardware(self, x=None) -> Hardware:
        """``scale * ap_[u]fixed<bitwidth, bitwidth, mode, SAT|SAT_SYM>(x / scale)`` (any scale shape);
        exact when the scales are powers of two, the zero point is 0 and the mode maps."""
        if self.bitwidth == 1 and self.signed:
            return BipolarQuant(self.scale, where=self.where).hardware()
        q_mode = _ROUNDING[self.rounding_mode][1]
        problems = []
        if np.any(self.zeropt != 0):
            problems.append("non-zero zero point")
        if po2_exponents(self.scale) is None:
            problems.append("scale is not a power of two")
        if q_mode is None:
            problems.append(f"rounding_mode {self.rounding_mode} has no ap_fixed equivalent")
        if self.narrow and not self.signed:
            problems.append("unsigned narrow range [0, 2^b-2] has no ap_fixed overflow mode")
        overflow = "SAT_SYM" if (self.narrow and self.signed) else "SAT"
        grid = FixedType(self.bitwidth, self.bitwidth, self.signed, q_mode or "TRN", overflow)
        return Hardware("fixed", grid, scale=np.asarray(self.scale, np.float64), scale_input=True,
                        source=self.where, exact=not problems, reason="; ".join(problems))

    def quantize_constant(self, values: np.ndarray, integers: np.ndarray | None = None) -> tuple[np.ndarray, FixedType]:
        """Quantize constant weights exactly as qonnx does: int64 mantissas and the tightest
        FixedType that holds q * scale for every (possibly per-channel) power-of-two scale.
        `integers`: the exact q when the file stores them (then `values` gives only the shape)."""
        exps = np.broadcast_to(self._exponents(), np.shape(values))
        q = (self.integers(values) if integers is None else integers).astype(np.int64)
        frac = int(-exps.min())
        mant = q << (frac + exps)  # align every channel to the finest scale (exact)
        width = self.bitwidth + int(exps.max() - exps.min())
        return mant, FixedType(width, width - frac, self.signed)


@dataclass(frozen=True)
class BipolarQuant:
    """QONNX ``BipolarQuant``: ``(x >= 0 ? +1 : -1) * scale`` (0 maps to +1)."""

    scale: np.ndarray
    where: str = "BipolarQuant"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return (np.where(x >= 0, np.float32(1), np.float32(-1)) * np.asarray(self.scale, np.float32))

    def hardware(self, x=None) -> Hardware:
        ok = po2_exponents(self.scale) is not None
        return Hardware("binary", FixedType(1, 1, True), values=(-1.0, 1.0), scale=np.asarray(self.scale, np.float64),
                        scale_input=False, source=self.where, exact=ok,
                        reason="" if ok else "scale is not a power of two")


def _scalar_int(value, what: str, where: str) -> int:
    """A bit width: a non-negative integer scalar of at most MAX_WIDTH (64) bits."""
    v = np.asarray(value, np.float64).reshape(-1)
    if v.size != 1 or not np.isfinite(v[0]) or v[0] != np.floor(v[0]) or v[0] < 0:
        got = f"{v[0]:g}" if v.size == 1 else f"{v.size} values"
        raise UnsupportedError(f"{where}: {what} must be a non-negative integer scalar, got {got}")
    if v[0] > MAX_WIDTH:
        raise UnsupportedError(f"{where}: {what} {v[0]:g} is wider than the {MAX_WIDTH} bits qconv supports")
    return int(v[0])


def _check_scale(scale, zeropt, where: str) -> None:
    """QONNX scales are positive and finite, zero points finite (a negative or zero scale would flip
    or collapse the grid, NaN/Inf has no fixed-point meaning)."""
    s = np.asarray(scale, np.float64)
    if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise UnsupportedError(f"{where}: scale must be positive and finite, got "
                               f"{s.reshape(-1)[:4].tolist()}{' ...' if s.size > 4 else ''}")
    if not np.all(np.isfinite(np.asarray(zeropt, np.float64))):
        raise UnsupportedError(f"{where}: zero point must be finite")


@dataclass(frozen=True)
class Trunc:
    """QONNX ``Trunc``. v1: ``scale * R(RNE(x/scale + zp) / 2^(in_bits - out_bits)) - zp*scale``
    (note: the *input* scale); v2: ``out_scale * (clip(RNE(x/scale + zp) / ts) rounded - zp/ts)``
    with the power-of-two ``ts = out_scale / scale`` and the output range of `signed`/`narrow`."""

    scale: np.ndarray
    zeropt: np.ndarray
    in_bitwidth: int
    out_bitwidth: int
    rounding_mode: str = "FLOOR"
    version: int = 2
    out_scale: np.ndarray | None = None
    signed: bool = True
    narrow: bool = False
    where: str = "Trunc"

    @classmethod
    def from_inputs(cls, inputs, rounding_mode="FLOOR", signed=1, narrow=0, version=2, where="Trunc"):
        """From the node inputs: v1 (X,) scale, zeropt, in_bitwidth, out_bitwidth; v2 (X,)
        scale, zeropt, in_bitwidth, out_scale, out_bitwidth (without X)."""
        mode = rounding_mode.decode() if isinstance(rounding_mode, bytes) else str(rounding_mode)
        mode = mode.upper()
        if mode not in _ROUNDING:
            raise UnsupportedError(f"{where}: unknown rounding_mode '{mode}' (known: {', '.join(_ROUNDING)})")
        if version == 1:
            scale, zeropt, in_bits, out_bits = inputs
            out_scale = None
        else:
            scale, zeropt, in_bits, out_scale, out_bits = inputs
            out_scale = np.asarray(out_scale, np.float32)
            ratio = po2_exponents(np.asarray(out_scale, np.float64) / np.asarray(scale, np.float64))
            if ratio is None:
                raise UnsupportedError(f"{where}: out_scale / scale must be a power of two")
        _check_scale(scale, zeropt, where)
        if out_scale is not None:
            _check_scale(out_scale, zeropt, where)
        return cls(np.asarray(scale, np.float32), np.asarray(zeropt, np.float32),
                   _scalar_int(in_bits, "in_bitwidth", where), _scalar_int(out_bits, "out_bitwidth", where),
                   mode, int(version), out_scale, bool(signed), bool(narrow), where)

    @property
    def shift(self) -> np.ndarray:
        """log2 of the truncation scale (bits dropped; negative means a left shift)."""
        if self.version == 1:
            return np.asarray(self.in_bitwidth - self.out_bitwidth)
        return np.round(np.log2(np.asarray(self.out_scale, np.float64) / np.asarray(self.scale, np.float64)))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        fn = _ROUNDING[self.rounding_mode][0]
        y = np.round(np.asarray(x, np.float32) / self.scale + self.zeropt)
        ts = 2.0 ** self.shift
        y = y / ts
        if self.version == 1:
            return ((fn(y) - self.zeropt) * self.scale).astype(np.float32)
        ref = IntQuant(self.scale, self.zeropt, self.out_bitwidth, self.signed, self.narrow)
        y = np.clip(y, ref.min_int, ref.max_int)
        return ((fn(y) - self.zeropt / ts) * self.out_scale).astype(np.float32)

    def hardware(self, x=None) -> Hardware:
        """A fixed cast of the input value to the output grid (v1: of ``x / 2^shift``)."""
        q_mode = _ROUNDING[self.rounding_mode][1]
        problems = []
        if np.any(self.zeropt != 0):
            problems.append("non-zero zero point")
        out_scale = self.scale if self.version == 1 else self.out_scale
        exps = po2_exponents(out_scale)
        if exps is None or np.unique(exps).size != 1:
            problems.append("the output scale is not one power of two")
        if q_mode is None:
            problems.append(f"rounding_mode {self.rounding_mode} has no ap_fixed equivalent")
        lsb = int(np.ravel(exps)[0]) if exps is not None else 0
        if self.version == 1:  # no clamp: one more bit than out_bitwidth holds the rounding carry
            grid = FixedType(self.out_bitwidth + 1, self.out_bitwidth + 1 + lsb, True, q_mode or "TRN", "WRAP")
            return Hardware("fixed", grid, input_shift=-int(self.shift), source=self.where, exact=not problems,
                            reason="; ".join(problems))
        if self.narrow and not self.signed:
            problems.append("unsigned narrow range has no ap_fixed overflow mode")
        grid = FixedType(self.out_bitwidth, self.out_bitwidth + lsb, self.signed, q_mode or "TRN",
                         "SAT_SYM" if (self.narrow and self.signed) else "SAT")
        return Hardware("fixed", grid, source=self.where, exact=not problems, reason="; ".join(problems))


@dataclass(frozen=True)
class FloatQuant:
    """QONNX ``FloatQuant`` (../shared/QONNX_SEMANTICS.md): with x = X / scale (float32),
    e = max(floor(log2(|x| + FLT_MIN)) - m, 1 - bias - m) and xq = 2^e rounding(x / 2^e), the value
    clip(xq, -maxv, maxv) * scale, maxv = min(max_val, (2 - 2^-m) 2^(2^E - 1 - bias)); evaluated
    in float32 step by step as qonnx 1.0.0 does (signed always; has_inf/has_nan/has_subnormal are
    informational, as there). `saturation` 0 sends out-of-range values to inf/nan, which no
    fixed-point type holds: refused for activations, allowed for weights that stay in range."""

    scale: np.ndarray
    exponent_bitwidth: int
    mantissa_bitwidth: int
    exponent_bias: int
    max_val: float
    rounding_mode: str = "ROUND"
    saturation: bool = True
    where: str = "FloatQuant"
    zeropt: np.ndarray = np.float32(0)  # (no zero point: the interface IntQuant's users read)

    @classmethod
    def from_inputs(cls, scale, exponent_bitwidth, mantissa_bitwidth, exponent_bias, max_val,
                    rounding_mode="ROUND", saturation=1, where="FloatQuant"):
        e_bits = _scalar_int(exponent_bitwidth, "exponent_bitwidth", where)
        m_bits = _scalar_int(mantissa_bitwidth, "mantissa_bitwidth", where)
        bias = np.asarray(exponent_bias, np.float64).reshape(-1)
        if bias.size != 1 or bias[0] != np.round(bias[0]):
            raise UnsupportedError(f"{where}: exponent_bias must be an integer scalar, got {bias[:4].tolist()}")
        mv = np.asarray(max_val, np.float64).reshape(-1)
        if mv.size != 1 or not mv[0] > 0:
            raise UnsupportedError(f"{where}: max_val must be a positive scalar, got {mv[:4].tolist()}")
        if e_bits < 1:
            raise UnsupportedError(f"{where}: exponent_bitwidth must be at least 1, got {e_bits}")
        _check_scale(scale, np.float32(0), where)
        mode = rounding_mode.decode() if isinstance(rounding_mode, bytes) else str(rounding_mode)
        if mode.upper() not in ("ROUND", "CEIL", "FLOOR"):
            raise UnsupportedError(f"{where}: rounding_mode '{mode}' is not one of FloatQuant's ROUND, CEIL, FLOOR")
        return cls(np.asarray(scale, np.float32), e_bits, m_bits, int(bias[0]), float(np.float32(mv[0])),
                   mode.upper(), bool(saturation), where)

    @property
    def max_value(self) -> float:
        """maxv: the largest magnitude, min(max_val, (2 - 2^-m) 2^(2^E - 1 - bias))."""
        m, e = self.mantissa_bitwidth, self.exponent_bitwidth
        return min(self.max_val, (2.0 - 2.0 ** -m) * 2.0 ** (2 ** e - 1 - self.exponent_bias))

    def centered(self, x: np.ndarray) -> np.ndarray:
        """The minifloat value xq (before `* scale`), float32, as qonnx computes it."""
        f32 = np.float32
        v = np.asarray(x, f32) / self.scale
        m = f32(self.mantissa_bitwidth)
        e = np.floor(np.log2(np.abs(v) + np.finfo(f32).tiny)) - m
        e = np.exp2(np.maximum(e, f32(1 - self.exponent_bias) - m)).astype(f32)
        with np.errstate(over="ignore", invalid="ignore"):
            xq = (e * _ROUNDING[self.rounding_mode][0](v / e)).astype(f32)
        top = f32(self.max_value)
        if not self.saturation and np.any(np.abs(np.nan_to_num(xq, nan=np.inf)) > top):
            raise UnsupportedError(f"{self.where}: saturation=0 maps values beyond {self.max_value:g} to inf/nan, "
                                   "which fixed point has no code for; export with saturation=1")
        return np.clip(xq, -top, top).astype(f32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (self.centered(x) * self.scale).astype(np.float32)

    def with_scale_one_type(self) -> FixedType:
        """The narrowest ap_fixed holding every level xq: fraction bits down to the subnormal step
        2^(1 - bias - m) (and max_val's own), integer bits up to maxv."""
        top = self.max_value
        frac = max(self.mantissa_bitwidth + self.exponent_bias - 1, _frac_bits(top))
        if frac + int(np.floor(np.log2(top))) + 2 > MAX_WIDTH:
            raise UnsupportedError(
                f"{self.where}: a minifloat with {self.exponent_bitwidth} exponent and {self.mantissa_bitwidth} "
                f"mantissa bits (bias {self.exponent_bias}) spans 2^{1 - self.exponent_bias - self.mantissa_bitwidth}"
                f" .. {top:g}, wider than the {MAX_WIDTH} bits of a fixed-point type; qconv takes minifloats up "
                "to about 5 exponent bits (FP8 E4M3/E5M2)")
        mant = int(round(top * 2.0 ** frac))
        return codes_type(-mant, mant, frac)


def _frac_bits(value: float) -> int:
    """Fraction bits of a dyadic float (0 for integers)."""
    mantissa, exponent = np.frexp(np.float64(value))
    bits = 0
    while mantissa != np.floor(mantissa):
        mantissa *= 2
        bits += 1
    return max(0, bits - int(exponent))
