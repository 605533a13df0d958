"""Change points of a monotone function of the input mantissa, found by bisection.

A step function over a wide integer input range (a low-bit activation quantizer's table, a fused
float requantizer) is stored as thresholds and levels, the FINN MultiThreshold form:
f(x) = levels[number of thresholds <= x]. passes/build_tables and passes/fuse_requantizer both
find them with `monotone_steps`.
"""

from __future__ import annotations

import numpy as np


def monotone_steps(f, lo: int, hi: int, grid: int = 4096, max_levels: int | None = None):
    """Change points of a monotone f (codes array -> values array) over codes lo..hi, as
    (thresholds, levels) with f(x) = levels[number of thresholds <= x]: f on a coarse grid, then every interval
    whose ends differ split in two, all intervals at once (one numpy evaluation per round),
    keeping the halves whose ends still differ, until each is one code wide. A monotone function
    cannot change and change back inside an interval whose ends agree. None once more than
    `max_levels` change points are certain (each interval left holds one at least): a wide
    table of many levels is not searched to the end (and to gigabytes)."""
    codes = np.unique(np.linspace(lo, hi, min(grid, hi - lo + 1)).astype(np.int64))
    values = f(codes)
    differ = values[:-1] != values[1:]
    a, b, fa, fb = codes[:-1][differ], codes[1:][differ], values[:-1][differ], values[1:][differ]
    while a.size and np.any(b - a > 1):
        if max_levels is not None and a.size > max_levels:
            return None
        wide = b - a > 1
        mid = (a + b) // 2
        fm = np.empty_like(fa)
        fm[wide] = f(mid[wide])
        keep_a, keep_b, keep_fa, keep_fb = [a[~wide]], [b[~wide]], [fa[~wide]], [fb[~wide]]
        left = wide & (fm != fa)
        right = wide & (fm != fb)
        keep_a += [a[left], mid[right]]
        keep_b += [mid[left], b[right]]
        keep_fa += [fa[left], fm[right]]
        keep_fb += [fm[left], fb[right]]
        a, b = np.concatenate(keep_a), np.concatenate(keep_b)
        fa, fb = np.concatenate(keep_fa), np.concatenate(keep_fb)
    if max_levels is not None and a.size > max_levels:
        return None
    order = np.argsort(b)
    thresholds = [int(t) for t in b[order]]
    return thresholds, [int(values[0])] + [int(v) for v in fb[order]]
