"""Convolution and pooling kernels on channels-last mantissas (1-D runs as 2-D with H = 1).

Node attrs (set by the importer): in_hwc, out_hwc, kernel (kh, kw), strides, dilations,
pads (top, left, bottom, right); Conv: group; Pool: mode ("max"/"avg"), count_include_pad.
"""

from __future__ import annotations

import numpy as np

from ..fixed import product_type
from .arith import finish_accumulation, matmul_exact, product_drop
from .registry import kernel


def windows(x: np.ndarray, node) -> tuple[np.ndarray, np.ndarray]:
    """(N, OH, OW, KH, KW, C) input windows (zeros where padded) and the (OH, OW, KH, KW)
    mask of positions inside the unpadded input."""
    a = node.attrs
    (h, w, c), (oh, ow, _) = a["in_hwc"], a["out_hwc"]
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, _, _) = a["kernel"], a["strides"], a["dilations"], a["pads"]
    x = x.reshape(x.shape[0], h, w, c)
    rows = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :] * dh - pt   # (OH, KH)
    cols = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :] * dw - pl   # (OW, KW)
    rv, cv = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    r = np.clip(rows, 0, h - 1)[:, None, :, None]
    q = np.clip(cols, 0, w - 1)[None, :, None, :]
    mask = rv[:, None, :, None] & cv[None, :, None, :]                      # (OH, OW, KH, KW)
    win = x[:, r, q, :]                                                      # (N, OH, OW, KH, KW, C)
    return np.where(mask[None, ..., None], win, 0), mask


@kernel("Conv")
def conv(node, xs, xts):
    win, _ = windows(xs[0], node)
    n, oh, ow, kh, kw, c = win.shape
    w = node.consts["W"].values                                             # (M, C/g, KH, KW)
    g, m = node.attrs["group"], w.shape[0]
    cpg, mpg = c // g, m // g
    acc = np.empty((n * oh * ow, m), np.int64)
    for gi in range(g):
        patches = win[..., gi * cpg:(gi + 1) * cpg].reshape(n * oh * ow, kh * kw * cpg)
        wg = w[gi * mpg:(gi + 1) * mpg].transpose(2, 3, 1, 0).reshape(kh * kw * cpg, mpg)
        acc[:, gi * mpg:(gi + 1) * mpg] = matmul_exact(patches, wg, xts[0], product_drop(node, xts[0]))
    y, ovf, wraps = finish_accumulation(acc, node, xts[0])
    return y.reshape((n, *node.out.shape)), ovf.reshape((n, *node.out.shape)), wraps


@kernel("Pool")
def pool(node, xs, xts):
    a = node.attrs
    win, mask = windows(xs[0], node)
    n = win.shape[0]
    if a["mode"] == "max":
        lowest = np.iinfo(np.int64).min
        y = np.where(mask[None, ..., None], win, lowest).max(axis=(3, 4))
        y, ovf = node.out.fixed.cast(y, xts[0], return_overflow=True)
        return y.reshape((n, *node.out.shape)), ovf.reshape((n, *node.out.shape))
    acc_t, recip = a["accum"], node.consts["recip"]
    counts = a["counts"]                                                     # (OH, OW)
    total = win.sum(axis=(3, 4))                                            # (N, OH, OW, C) at frac Fx
    r = recip.values[counts][None, :, :, None]
    prod = (total << (acc_t.frac - xts[0].frac)) * r                        # frac acc.frac + recip.frac
    y, ovf = node.out.fixed.cast(prod, product_type(acc_t, recip.fixed), return_overflow=True)
    return y.reshape((n, *node.out.shape)), ovf.reshape((n, *node.out.shape))
