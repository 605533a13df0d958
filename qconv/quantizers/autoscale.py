"""Data-dependent scales of QKeras' ``alpha="auto"`` / ``"auto_po2"`` (SEMANTICS.md 1-2).

* `scaling_axes`: the axes a per-channel statistic reduces over (channels last; rank 1: none).
* `tf_mean`: ``K.mean(..., keepdims=True)`` in float32 (sum, then divide by the count).
* `least_squares_scale`: QKeras' ``_get_least_squares_scale``: ``mean(x*q) / (mean(q*q) + eps)``
  per channel (per element for rank-1 tensors), optionally per group of `elements_per_scale`
  along `scale_axis`, power-of-two rounded and clipped for ``auto_po2``.

TF's reduction order is not emulated: a float ``auto`` scale computed by a mean can differ from
QKeras by one ulp on large tensors (the documented rank-4 exception); po2 scales are unaffected.
"""

from __future__ import annotations

import numpy as np

from .float32 import EPS, F32, pow2, po2_round


def scaling_axes(scale_axis, ndim: int) -> tuple[int, ...]:
    """``_get_scaling_axis``: every axis but `scale_axis` (an int or a list), or but the last."""
    if scale_axis is None:
        return tuple(range(max(ndim - 1, 0)))
    keep = set(scale_axis) if isinstance(scale_axis, (list, tuple)) else {scale_axis % max(ndim, 1)}
    return tuple(i for i in range(ndim) if i not in keep)


PACKET = 8  # float32 lanes of an AVX packet (TF's CPU build)


def _outer_sum(rows: np.ndarray) -> np.ndarray:
    """Sum of the rows of a (R, C) float32 array in the order of Eigen's reducer that keeps the
    inner dimension: columns in whole packets use four interleaved accumulators (rows 4j..4j+3),
    combined as ((a0 + a1) + a2) + a3, then the leftover rows; other columns add row by row."""
    n, c = rows.shape
    total = np.zeros(c, np.float32)
    for r in rows:  # scalar columns (and the reference order)
        total = total + r
    vec = (c // PACKET) * PACKET
    if vec and n >= 4:
        body = (n // 4) * 4
        acc = [np.zeros(vec, np.float32) for _ in range(4)]
        for j in range(0, body, 4):
            for i in range(4):
                acc[i] = acc[i] + rows[j + i, :vec]
        packed = ((acc[0] + acc[1]) + acc[2]) + acc[3]
        for j in range(body, n):
            packed = packed + rows[j, :vec]
        total[:vec] = packed
    return total


def tf_mean(a: np.ndarray, axes) -> np.ndarray:
    """``K.mean(a, axes, keepdims=True)`` in float32: a float32 sum divided by the count.

    Reductions over leading axes follow Eigen's summation order (`_outer_sum`); this reproduces
    the goldens' float ``auto`` scales bit for bit (rank 2 and rank 4). Other axis patterns sum in
    numpy's order (only power-of-two rounded scales use them, which an ulp cannot change)."""
    a = np.asarray(a, np.float32)
    axes = tuple(sorted(axes)) if axes is not None else tuple(range(a.ndim))
    if not axes:
        return a.copy()
    count = int(np.prod([a.shape[i] for i in axes]))
    keep_shape = tuple(1 if i in axes else a.shape[i] for i in range(a.ndim))
    if axes == tuple(range(len(axes))):
        total = _outer_sum(a.reshape(count, -1)).reshape(keep_shape)
    else:
        total = np.sum(a, axis=axes, keepdims=True, dtype=np.float32)
    return (total / F32(count)).astype(np.float32)


def _as_list(value, n: int = 1) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def _group_means(x: np.ndarray, q: np.ndarray, scale_axis, elements_per_scale):
    """Means of x*q and q*q over groups of `elements_per_scale` entries along `scale_axis`."""
    axes = _as_list(scale_axis)
    eps = _as_list(elements_per_scale, len(axes))
    if len(axes) != len(eps):
        raise ValueError(f"scale_axis {scale_axis} and elements_per_scale {elements_per_scale} differ in length")
    shape, new_axes = list(x.shape), []
    for shift, (axis, e) in enumerate(sorted(zip(axes, eps))):
        axis = axis + shift
        if shape[axis] % e:
            raise ValueError(f"axis of size {shape[axis]} is not divisible by elements_per_scale={e}")
        shape[axis: axis + 1] = [shape[axis] // e, e]
        new_axes.append(axis)
    reduce = tuple(i for i in range(len(shape)) if i not in new_axes)
    qx = tf_mean(x.reshape(shape) * q.reshape(shape), reduce)
    qq = tf_mean(q.reshape(shape) * q.reshape(shape), reduce)
    out_shape = [1] * x.ndim
    for axis in axes:
        out_shape[axis] = x.shape[axis] // dict(zip(axes, eps))[axis]

    def back(m):
        m = m.reshape(out_shape)
        for axis, e in zip(axes, eps):
            m = np.repeat(m, e, axis=axis)
        return m

    return back(qx), back(qq)


def least_squares_scale(alpha: str, x, q, scale_axis=None, elements_per_scale=None,
                        min_po2_exponent=None, max_po2_exponent=None, per_channel=True) -> np.ndarray:
    """``_get_least_squares_scale`` for alpha "auto" or "auto_po2" (float32 arrays)."""
    x = np.asarray(x, np.float32)
    q = np.asarray(q, np.float32)
    if not per_channel:
        qx, qq = tf_mean(x * q, None), tf_mean(q * q, None)
    elif x.ndim > 1 and elements_per_scale is not None:
        qx, qq = _group_means(x, q, scale_axis, elements_per_scale)
    elif x.ndim > 1:
        axes = scaling_axes(scale_axis, x.ndim)
        qx, qq = tf_mean(x * q, axes), tf_mean(q * q, axes)
    else:  # rank 1: one scale per element
        qx, qq = x * q, q * q
    scale = (qx / (qq + EPS)).astype(np.float32)
    if alpha == "auto_po2":
        scale = po2_round(scale)
        if min_po2_exponent is not None or max_po2_exponent is not None:
            lo = -np.inf if min_po2_exponent is None else pow2(min_po2_exponent)
            hi = np.inf if max_po2_exponent is None else pow2(max_po2_exponent)
            scale = np.clip(scale, lo, hi).astype(np.float32)
    return scale
