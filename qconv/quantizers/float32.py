"""float32 arithmetic exactly as TensorFlow's CPU kernels do it (SEMANTICS.md section 0).

QKeras computes in float32; the helpers here make every intermediate a float32 so that the
numpy re-implementations in this package round where TF rounds:

* `f32` casts to float32 (``K.cast_to_floatx``); Python scalars stay weak (NumPy 2 rules), so
  ``f32(x) * 0.5`` is a float32 product, while numpy float64 scalars must go through `c32`.
* `tf_round` is ``tf.round`` (half to even, but never -0.0; SEMANTICS.md rule 0.2).
* `ftz` flushes subnormals to zero (TF's CPU kernels run with FTZ/DAZ, rule 0.4).
* `pow2` is ``K.pow(2.0, e)`` for integer-valued float32 exponents, flushed.
* `tf_log` is ``tf.math.log`` / ``K.log`` on float32 (Eigen's vectorized ``plog``, not a
  correctly rounded log).
* `ste` is the straight-through output ``x + qnoise * (xq - x)`` with its float32 residue
  (rule 0.3), or the ``use_ste=False`` form ``(1 - qnoise) * x + qnoise * xq``.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
EPS = F32(1e-7)  # K.epsilon() as the float32 constant TF makes of it
LN2 = F32(np.log(2.0))  # np.log(2.0) / K.log(2.0) as a float32 tensor constant
_TINY = np.finfo(np.float32).tiny  # smallest normal float32, 2**-126


def f32(x) -> np.ndarray:
    """``K.cast_to_floatx(x)``: a float32 array (a new one; inputs are never modified)."""
    return np.array(x, dtype=np.float32)


def c32(value) -> np.float32:
    """A Python/numpy scalar as the float32 constant TF converts it to."""
    return F32(value)


def ftz(x: np.ndarray) -> np.ndarray:
    """Flush float32 subnormals to (signed) zero, as TF's CPU kernels do."""
    x = np.asarray(x, np.float32)
    return np.where(np.abs(x) < _TINY, x * F32(0), x).astype(np.float32)


def pow2(e) -> np.ndarray:
    """``K.pow(2.0, e)`` for integer-valued exponents: exact powers of two, subnormals flushed."""
    return ftz(np.ldexp(F32(1), np.asarray(e).astype(np.int64).clip(-1000, 1000)).astype(np.float32))


def tf_round(x) -> np.ndarray:
    """``tf.round`` exactly as TF's CPU kernel: ``r = floor(x + 0.5)``, and where ``r - x == 0.5``
    (a tie) ``2 * floor(0.5 * x + 0.5)``. This is round-half-to-even except that it never returns
    -0.0 (``round(-0.3) = +0``) and that ``x + 0.5`` rounds in float32 (odd integers >= 2**23 and
    0.49999997 round up); QKeras' goldens show both."""
    x = np.asarray(x, np.float32)
    r = np.floor(x + F32(0.5))
    tie = (r - x) == F32(0.5)
    return np.where(tie, F32(2) * np.floor(F32(0.5) * x + F32(0.5)), r).astype(np.float32)


def log2_round(v: np.ndarray) -> np.ndarray:
    """``tf.round(K.log(v) / log(2))`` in float32 (the po2 exponent of a positive float32)."""
    return tf_round(np.log(np.asarray(v, np.float32)) / LN2)


def po2_round(scale: np.ndarray) -> np.ndarray:
    """``K.pow(2, round(log(scale + eps) / log 2))``: the auto_po2 rounding of a float scale."""
    return pow2(log2_round(np.asarray(scale, np.float32) + EPS))


# Eigen's float32 log (GenericPacketMathFunctions, the version in TF 2.15): log(1+f) on
# [sqrt(1/2)-1, sqrt(2)-1] is a rational (3,3) approximation f*P(f)/Q(f), evaluated in float32.
_SQRT_HALF = F32(0.707106781186547524)
_LOG_P = (F32(0.18256296349849254), F32(1.0000000190281063), F32(1.0000000190281136))  # f^2 .. f^0
_LOG_Q = (F32(0.049616247954120038), F32(0.59923249590823520), F32(1.4999999999999927), F32(1))


def _madd(a, b, c) -> np.ndarray:
    """Eigen's ``pmadd`` without FMA (TF's pip wheels are not built with -mfma): two roundings."""
    return (np.asarray(a, np.float32) * np.asarray(b, np.float32)).astype(np.float32) + np.asarray(c, np.float32)


def tf_log(v) -> np.ndarray:
    """``tf.math.log`` / ``K.log`` of float32 as TF's CPU kernel computes it (Eigen's ``plog``).

    ``v = m * 2**e`` with m in [0.5, 1) (frexp, after the DAZ flush); if m < sqrt(1/2) then
    ``e -= 1`` and ``f = (m - 1) + m``, else ``f = m - 1``; ``r = f*P(f) / Q(f)`` (Horner, each
    multiply-add rounded twice); result ``e * fl32(ln 2) + r``. Specials: log(0) = -inf (also for
    subnormals), log(+inf) = +inf, log(x < 0 or NaN) = NaN. Within 1-2 ulps of the correctly
    rounded log, and the exact bits of TF's packet path. (Eigen evaluates the last ``n % 8``
    elements of a tensor, and 0-d tensors, with the scalar ``std::log`` instead; that tail is not
    emulated here.)"""
    with np.errstate(all="ignore"):
        return _plog(ftz(v))


def _plog(v: np.ndarray) -> np.ndarray:
    m, e = np.frexp(v)
    m = m.astype(np.float32)
    e = e.astype(np.float32)
    small = m < _SQRT_HALF
    f = (m - F32(1)).astype(np.float32)
    e = (e - np.where(small, F32(1), F32(0))).astype(np.float32)
    f = (f + np.where(small, m, F32(0))).astype(np.float32)
    p = _madd(f, _LOG_P[0], _LOG_P[1])
    p = _madd(f, p, _LOG_P[2])
    p = (f * p).astype(np.float32)
    q = _madd(f, _LOG_Q[0], _LOG_Q[1])
    q = _madd(f, q, _LOG_Q[2])
    q = _madd(f, q, _LOG_Q[3])
    r = _madd(e, LN2, (p / q).astype(np.float32))
    r = np.where(v == 0, F32(-np.inf), r)
    r = np.where(v == np.inf, F32(np.inf), r)
    r = np.where((v < 0) | np.isnan(v), F32(np.nan), r)
    return np.asarray(r, np.float32)


def sign(x: np.ndarray) -> np.ndarray:
    """``tf.sign``: -1, 0 (for +-0) or +1 as float32."""
    return np.sign(np.asarray(x, np.float32)).astype(np.float32)


def sign01(x: np.ndarray) -> np.ndarray:
    """``s = sign(x); s += 1 - |s|``: -1 or +1, with 0 mapped to +1."""
    s = sign(x)
    return s + (F32(1) - np.abs(s))


def ste(x: np.ndarray, xq: np.ndarray, qnoise_factor=1.0, use_ste=True) -> np.ndarray:
    """The forward value of QKeras' straight-through output, float32 step by step."""
    x = np.asarray(x, np.float32)
    xq = np.asarray(xq, np.float32)
    q = c32(qnoise_factor)
    if use_ste:
        return (x + q * (xq - x)).astype(np.float32)
    return (c32(1 - qnoise_factor) * x + q * xq).astype(np.float32)
