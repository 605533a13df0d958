"""Integer-exact numpy kernel of the threshold family: Thresholds (templates/kernels/qconv_threshold.h)."""

from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("Thresholds")
def thresholds(node, xs, xts):
    """levels[k, #{j : x >= thresholds[k, j]}] with channel k = (i // inner) % period: a
    nondecreasing step function of the input mantissa per channel (FINN's MultiThreshold)."""
    thr, levels = node.consts["thresholds"].values, node.consts["levels"].values  # (P, T), (P, T + 1)
    n = xs[0].shape[0]
    x = xs[0].reshape(n, -1)
    k = (np.arange(x.shape[1]) // node.attrs["inner"]) % node.attrs["period"]
    count = np.zeros(x.shape, np.int64)
    for j in range(thr.shape[1]):
        count += x >= thr[k, j][None, :]
    return levels[k[None, :], count].reshape((n, *node.out.shape)), None
