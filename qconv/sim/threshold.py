"""Integer-exact numpy kernel of the threshold family: Thresholds (templates/kernels/qconv_threshold.h)."""

from __future__ import annotations

import numpy as np

from .registry import kernel

TABLE_ENTRIES = 1 << 20  # largest (channels x input values) table `thresholds_plan` builds


def staircase(x: np.ndarray, k: np.ndarray, node) -> np.ndarray:
    """levels[k, #{j : x >= thresholds[k, j]}] for mantissas x of channels k (broadcast together)."""
    thr, levels = node.consts["thresholds"].values, node.consts["levels"].values  # (P, T), (P, T + 1)
    count = np.zeros(np.broadcast_shapes(x.shape, k.shape), np.int64)
    for j in range(thr.shape[1]):
        count += x >= thr[k, j]
    return levels[k, count]


def thresholds_plan(node, xts):
    """When the input type has few values: the staircase of every channel at every input value,
    as one flat table, and the offset of each input position's channel in it (table[x + offset]
    is the kernel's result; a lookup instead of one comparison per threshold). Else None."""
    t, period = xts[0], node.attrs["period"]
    values = t.max_mantissa - t.min_mantissa + 1
    if period * values > TABLE_ENTRIES:
        return None
    grid = np.arange(t.min_mantissa, t.max_mantissa + 1, dtype=np.int64)
    table = staircase(grid[None, :], np.arange(period)[:, None], node).reshape(-1)
    if np.abs(table).max(initial=0) < 2**24:
        table = table.astype(np.float32)  # the levels as exact float32: the next product reads them as they are
    size = int(np.prod(node.out.shape, dtype=np.int64))
    k = (np.arange(size) // node.attrs["inner"]) % period
    return table, k * values - t.min_mantissa


@kernel("Thresholds", plan=thresholds_plan, floats=True)
def thresholds(node, xs, xts, plan):
    """levels[k, #{j : x >= thresholds[k, j]}] with channel k = (i // inner) % period: a
    nondecreasing step function of the input mantissa per channel (FINN's MultiThreshold)."""
    n = xs[0].shape[0]
    x = xs[0].reshape(n, -1).astype(np.int64, copy=False)
    if plan is not None:
        table, offset = plan
        y = np.take(table, x + offset)
    else:
        k = (np.arange(x.shape[1]) // node.attrs["inner"]) % node.attrs["period"]
        y = staircase(x, k[None, :], node)
    return y.reshape((n, *node.out.shape)), None
