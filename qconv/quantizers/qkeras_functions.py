"""QKeras' quantization functions and the internal sigmoid (SEMANTICS.md 2, "Functions").

``hard_sigmoid = clip(0.5x + 0.5, 0, 1)``, ``smooth_sigmoid = clip(0.1875x + 0.5, 0, 1)``,
``hard_tanh``/``smooth_tanh = 2 * sigmoid - 1``, ``binary_sigmoid = round(hard_sigmoid)`` (so
``binary_sigmoid(0) = 0`` and ``binary_tanh(0) = -1``), all in float32.

`set_internal_sigmoid` chooses the sigmoid ("hard" by default, "smooth" or "real") that
quantized_relu(use_sigmoid), quantized_tanh, quantized_sigmoid and quantized_ulaw use; it is a
process-wide setting, as in QKeras. The stochastic functions need an explicit ``seed`` (an int
or a ``numpy.random.Generator``): qconv never samples implicitly.
"""

from __future__ import annotations

import numpy as np

from ..errors import QconvError
from .float32 import EPS, F32, LN2, f32, tf_round

SIGMOID_MODES = ("hard", "smooth", "real")
_internal = {"mode": "hard"}


def hard_sigmoid(x) -> np.ndarray:
    return np.clip(F32(0.5) * f32(x) + F32(0.5), F32(0), F32(1)).astype(np.float32)


def smooth_sigmoid(x) -> np.ndarray:
    return np.clip(F32(0.1875) * f32(x) + F32(0.5), F32(0), F32(1)).astype(np.float32)


def real_sigmoid(x) -> np.ndarray:
    """The logistic function in float32 (TF's kernel may differ by an ulp)."""
    x = f32(x)
    with np.errstate(over="ignore"):
        return (F32(1) / (F32(1) + np.exp(-x))).astype(np.float32)


def binary_sigmoid(x) -> np.ndarray:
    return tf_round(hard_sigmoid(x)).astype(np.float32)


def hard_tanh(x) -> np.ndarray:
    return (F32(2) * hard_sigmoid(x) - F32(1)).astype(np.float32)


def smooth_tanh(x) -> np.ndarray:
    return (F32(2) * smooth_sigmoid(x) - F32(1)).astype(np.float32)


def binary_tanh(x) -> np.ndarray:
    return (F32(2) * binary_sigmoid(x) - F32(1)).astype(np.float32)


def set_internal_sigmoid(mode: str) -> None:
    """Choose the sigmoid used inside the quantizers: "hard" (default), "smooth" or "real"."""
    if mode not in SIGMOID_MODES:
        raise QconvError(f"set_internal_sigmoid: mode must be one of {', '.join(SIGMOID_MODES)}, got {mode!r}")
    _internal["mode"] = mode


def internal_sigmoid_mode() -> str:
    return _internal["mode"]


def internal_sigmoid(x) -> np.ndarray:
    """QKeras' ``_sigmoid``: the sigmoid chosen by `set_internal_sigmoid`."""
    mode = _internal["mode"]
    return hard_sigmoid(x) if mode == "hard" else smooth_sigmoid(x) if mode == "smooth" else real_sigmoid(x)


def _rng(seed, what: str) -> np.random.Generator:
    if seed is None:
        raise QconvError(f"{what} samples random numbers: pass an explicit seed (an int or a numpy Generator)")
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def stochastic_round(x, precision=0.5, *, seed=None) -> np.ndarray:
    """Round to a multiple of `precision`, up with probability equal to the fraction."""
    rng = _rng(seed, "stochastic_round")
    scale = F32(1.0 / precision)
    sx = f32(x) * scale
    fraction = sx - np.floor(sx)
    u = rng.random(sx.shape, dtype=np.float32)
    return (np.where(fraction < u, np.floor(sx), np.ceil(sx)) / scale).astype(np.float32)


def stochastic_round_po2(x, *, seed=None) -> np.ndarray:
    """The exponent of a power of two near |x|, drawn so that its mean is |x| (QKeras' rule)."""
    rng = _rng(seed, "stochastic_round_po2")
    y = np.abs(f32(x))
    e = tf_round(np.log(y + EPS) / LN2).astype(np.float32)
    po2 = np.ldexp(F32(1), e.astype(np.int64)).astype(np.float32)
    left = np.where(po2 > y, e - 1, e)
    right = np.where(po2 > y, e, e + 1)
    lo, hi = np.exp2(left), np.exp2(right)
    val = (lo + (hi - lo) * rng.random(y.shape, dtype=np.float32)).astype(np.float32)
    return np.where(y < val, left, right).astype(np.float32)


FUNCTIONS = {f.__name__: f for f in (hard_sigmoid, smooth_sigmoid, binary_sigmoid, hard_tanh, smooth_tanh,
                                     binary_tanh, stochastic_round, stochastic_round_po2,
                                     set_internal_sigmoid)}
