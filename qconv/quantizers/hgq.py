"""HGQ (v1) heterogeneous quantizer: per-element fractional bits (SEMANTICS.md 7 and 8).

``HGQ(fbw, rnd_strategy)`` holds a float array of fractional bitwidths (one per element, or
broadcast). At inference ``f = RNE(clip(fbw, bw_clip))`` and ``y = q_round(x * 2^f) / 2^f`` with
``q_round = floor(x + 0.5)`` (AP_RND: ties to +inf) for every strategy but "floor" (AP_TRN);
there is no saturation. Integer bits come from the recorded range of the quantized outputs
(`get_bits_exact`) or, for weights, from the values themselves (`get_arr_bits`); each element's
ap_fixed type is ``tuple_to_apf(k, i, f) = [u]fixed<max(k+i+f, 1), k+i, RND|TRN, WRAP|SAT>``.
Training-time strategies (stochastic rounding, noise injection) need an explicit seed.
"""

from __future__ import annotations

import numpy as np

from ..errors import QconvError
from ..fixed import FixedType
from .base import Quantizer
from .float32 import F32, f32
from .hardware import Hardware

STRATEGIES = {"standard_round": 0, "stochastic_round": 1, "fast_uniform_noise_injection": 2, "floor": 3}


def strategy_id(value) -> int:
    """Rounding strategy as HGQ's integer code (names, codes 0-3, or "auto" resolved to 0)."""
    if value == "auto":
        return 0
    if isinstance(value, str):
        if value not in STRATEGIES:
            raise QconvError(f"HGQ: unknown rounding strategy '{value}' (known: {', '.join(STRATEGIES)}, auto)")
        return STRATEGIES[value]
    if value not in (0, 1, 2, 3):
        raise QconvError(f"HGQ: rounding strategy code must be 0-3, got {value!r}")
    return int(value)


def tuple_to_apf(k: int, i: int, f: int, rounding: str = "RND", overflow: str = "WRAP") -> FixedType:
    """HGQ's ``tuple_to_apf``: sign bit k, integer bits i (without sign), fraction bits f."""
    return FixedType(max(k + i + f, 1), k + i, bool(k), rounding, overflow)


def apf_to_tuple(t: FixedType) -> tuple[int, int, int]:
    """Inverse of `tuple_to_apf`: (k, i, f)."""
    k = int(t.signed)
    return k, t.integer - k, t.width - t.integer


def get_arr_bits(w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element (k, i, f) of constant values: sign, floor(log2|w|)+1, fraction bits used."""
    w = np.asarray(w, np.float64)
    k = (w < 0).astype(np.int64)
    nz = w != 0
    a = np.where(nz, np.abs(w), 1.0)
    i = np.where(nz, np.floor(np.log2(a)).astype(np.int64) + 1, 0)
    mant, exp = np.frexp(a)  # a = m * 2**(exp - 53) with the integer m = mant * 2**53
    m = (mant * 2.0 ** 53).astype(np.int64)
    trailing = np.log2((m & -m).astype(np.float64)).astype(np.int64)  # trailing zero bits of m
    f = np.where(nz, np.maximum(53 - exp - trailing, 0), 0)
    k = np.where(nz, k, 0)
    return k, i, f


class HGQ(Quantizer):
    """HGQ v1 quantizer with per-element fractional bits `fbw`."""

    name = "HGQ"
    PARAMS = (("fbw", 8.0), ("rnd_strategy", "floor"), ("bw_clip", (-23, 23)), ("overflow", "WRAP"))
    MIN_POSITIONAL = 1

    def _validate(self):
        self.fbw = np.asarray(self.fbw, np.float32)
        self.rnd_id = strategy_id(self.rnd_strategy)
        if self.overflow not in ("WRAP", "SAT"):
            raise self._bad(f"overflow must be 'WRAP' or 'SAT', got {self.overflow!r}")
        self.reset_minmax()

    def reset_minmax(self) -> None:
        self.min_record = None
        self.max_record = None

    @property
    def frac_bits(self) -> np.ndarray:
        """f = RNE(clip(fbw, bw_clip)) as integers."""
        lo, hi = self.bw_clip
        return np.round(np.clip(self.fbw, lo, hi)).astype(np.int64)

    def __call__(self, x, *, record: bool = False, training: bool = False, seed=None) -> np.ndarray:
        x = f32(x)
        s = np.ldexp(F32(1), self.frac_bits).astype(np.float32)
        v = x * s
        rid = self.rnd_id if training else (3 if self.rnd_id == 3 else 0)
        if rid == 3:
            r = np.floor(v)
        elif rid == 0:
            r = np.floor(v + F32(0.5))
        else:
            if seed is None:
                raise QconvError(f"{self}: training-time rounding samples random numbers: pass seed=")
            rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
            u = rng.random(v.shape, dtype=np.float32)
            r = np.floor(v + u) if rid == 1 else np.where(np.abs(v) <= 0.5, F32(0), v + u - F32(0.5))
        xq = (r / s).astype(np.float32)
        if record:
            self._record(xq)
        return (x + (xq - x)).astype(np.float32)

    def _record(self, xq: np.ndarray) -> None:
        batch = xq.reshape((-1,) + self.fbw.shape)  # a scalar fbw records the whole tensor's range
        lo, hi = batch.min(axis=0), batch.max(axis=0)
        self.min_record = lo if self.min_record is None else np.minimum(self.min_record, lo)
        self.max_record = hi if self.max_record is None else np.maximum(self.max_record, hi)

    def get_bits_exact(self, pos_only: bool = False):
        """Per-element (k, i, f) from the recorded output range (HGQ's ``get_bits_exact``)."""
        if self.min_record is None:
            raise QconvError(f"{self}: no recorded range; call it with record=True on calibration data first")
        f = np.broadcast_to(self.frac_bits, np.shape(self.max_record)).astype(np.int64)
        lo, hi = np.asarray(self.min_record, np.float64), np.asarray(self.max_record, np.float64)
        with np.errstate(divide="ignore"):
            if pos_only:
                i = np.floor(np.log2(np.maximum(hi, 0))) + 1
                k = np.zeros_like(f)
            else:
                i = np.maximum(np.ceil(np.log2(np.abs(lo))), np.ceil(np.log2(hi + 2.0 ** -f)))
                k = (lo < 0).astype(np.int64)
        i = np.clip(np.nan_to_num(i, nan=-np.inf), -f - k, 32).astype(np.int64)
        zero = (k + i + f) == 0
        return np.where(zero, 0, k), np.where(zero, 0, i), np.where(zero, 0, f)

    def rounding_mode(self) -> str:
        return "TRN" if self.rnd_id == 3 else "RND"

    def fixed_types(self, pos_only: bool = False) -> np.ndarray:
        """Each element's ap_fixed type (an object array of `FixedType`)."""
        k, i, f = self.get_bits_exact(pos_only)
        out = np.empty(k.shape, dtype=object)
        for idx in np.ndindex(k.shape):
            out[idx] = tuple_to_apf(int(k[idx]), int(i[idx]), int(f[idx]), self.rounding_mode(), self.overflow)
        return out

    def hardware(self, x=None, pos_only: bool = False) -> Hardware:
        """A single `fixed` form when every element has the same type; else use `fixed_types`."""
        if x is not None:
            self(x, record=True)
        types = set(np.ravel(self.fixed_types(pos_only)))
        if len(types) != 1:
            raise self._bad(f"{len(types)} different per-element types: map them element by element "
                            "with fixed_types()")
        return Hardware("fixed", types.pop(), source=str(self))
