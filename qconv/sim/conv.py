"""Convolution and pooling kernels on channels-last mantissas (1-D runs as 2-D with H = 1).

Node attrs (set by the importer): in_hwc, out_hwc, kernel (kh, kw), strides, dilations,
pads (top, left, bottom, right); Conv: group; Pool: mode ("max"/"avg"), count_include_pad.
"""

from __future__ import annotations

import numpy as np

from ..fixed import product_type
from .arith import finish_accumulation, linear, matmul_exact, product_drop
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


TOEPLITZ_ENTRIES = 1 << 21  # largest whole-layer matrix (16 MiB of float64) `conv_plan` builds
TOEPLITZ_WORK = 16          # ... and at most this many times the multiply-adds of the windowed product


def _window_products(win: np.ndarray, node, product) -> np.ndarray:
    """(N * OH * OW, M): `product(patches, weights)` of each group's windows and weights."""
    n, oh, ow, kh, kw, c = win.shape
    w = node.consts["W"].values                                             # (M, C/g, KH, KW)
    g, m = node.attrs["group"], w.shape[0]
    cpg, mpg = c // g, m // g
    acc = np.empty((n * oh * ow, m), np.int64)
    for gi in range(g):
        patches = win[..., gi * cpg:(gi + 1) * cpg].reshape(n * oh * ow, kh * kw * cpg)
        wg = w[gi * mpg:(gi + 1) * mpg].transpose(2, 3, 1, 0).reshape(kh * kw * cpg, mpg)
        acc[:, gi * mpg:(gi + 1) * mpg] = product(patches, wg)
    return acc


def conv_matrix(node) -> np.ndarray:
    """The layer as one (H*W*C, OH*OW*M) matrix of weight mantissas: conv(x) = x.reshape(N, -1) @ it,
    (padding and positions no window reaches are zeros). The convolution is linear, so its matrix
    is the windowed product applied to the H*W*C unit inputs."""
    h, w, c = node.attrs["in_hwc"]
    eye = np.eye(h * w * c, dtype=np.int64).reshape(h * w * c, h, w, c)
    return _window_products(windows(eye, node)[0], node, np.matmul).reshape(h * w * c, -1)


def conv_plan(node, xts):
    """A small layer runs as one float product with the whole-layer matrix (arith.Linear on
    `conv_matrix`, the bias repeated at every position): no windows are built. Others (and those
    the float route cannot take exactly) return None: windows and the int64 route."""
    (h, w, c), (oh, ow, m), (kh, kw) = node.attrs["in_hwc"], node.attrs["out_hwc"], node.attrs["kernel"]
    entries, work = h * w * c * oh * ow * m, oh * ow * kh * kw * c * m // node.attrs["group"]
    if entries > TOEPLITZ_ENTRIES or entries > TOEPLITZ_WORK * work:
        return None
    b = node.consts.get("b")
    return linear(node, xts[0], conv_matrix(node), None if b is None else np.tile(b.values, oh * ow))


@kernel("Conv", plan=conv_plan)
def conv(node, xs, xts, plan):
    n = xs[0].shape[0]
    if plan is not None:
        y, ovf, wraps = plan(xs[0].reshape(n, -1))
    else:
        win, _ = windows(xs[0], node)
        drop = product_drop(node, xts[0])
        acc = _window_products(win, node, lambda p, wg: matmul_exact(p, wg, xts[0], drop))
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
