"""Convolution and pooling kernels on channels-last mantissas (1-D runs as 2-D with H = 1).

Node attrs (set by the importer): in_hwc, out_hwc, kernel (kh, kw), strides, dilations,
pads (top, left, bottom, right); Conv: group; Pool: mode ("max"/"avg"), count_include_pad.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..fixed import product_type
from .arith import Linear, finish_accumulation, linear, long_row, matmul_exact, product_drop
from .registry import kernel


def windows(x: np.ndarray, node) -> tuple[np.ndarray, np.ndarray]:
    """(N, OH, OW, KH, KW, C) input windows (zeros where padded; a strided view of the padded
    input) and the (OH, OW, KH, KW) mask of positions inside the unpadded input."""
    a = node.attrs
    (h, w, c), (oh, ow, _) = a["in_hwc"], a["out_hwc"]
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, _, _) = a["kernel"], a["strides"], a["dilations"], a["pads"]
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    xp = np.zeros((x.shape[0], max((oh - 1) * sh + span_h, pt + h), max((ow - 1) * sw + span_w, pl + w), c), x.dtype)
    xp[:, pt:pt + h, pl:pl + w] = x.reshape(x.shape[0], h, w, c)        # the padding and any overhang: zeros
    view = sliding_window_view(xp, (span_h, span_w), axis=(1, 2))          # (N, H', W', C, span_h, span_w)
    win = view[:, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw, :, ::dh, ::dw].transpose(0, 1, 2, 4, 5, 3)
    rows = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :] * dh - pt   # (OH, KH)
    cols = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :] * dw - pl   # (OW, KW)
    rv, cv = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    return win, rv[:, None, :, None] & cv[None, :, None, :]                  # mask (OH, OW, KH, KW)


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


def row_matrix(node) -> np.ndarray:
    """The layer cut to one output row as a (span * W * C, OW * M) matrix of weight mantissas, span =
    (KH - 1) * DH + 1 the input rows that row's windows read: entry ((kh * DH, x, c), (ow, m)) =
    W[m, c - group start, kh, kw] for the input column x = ow * SW + kw * DW - left pad inside the
    input (horizontal padding and rows between dilated taps are zeros)."""
    a = node.attrs
    (_, w, c), (_, ow, m), (kh, kw) = a["in_hwc"], a["out_hwc"], a["kernel"]
    (_, sw), (dh, dw), pl = a["strides"], a["dilations"], a["pads"][1]
    weights = node.consts["W"].values                                       # (M, C/g, KH, KW)
    g = a["group"]
    cpg, mpg = c // g, m // g
    span = (kh - 1) * dh + 1
    matrix = np.zeros((span, w, c, ow, m), np.int64)
    ky, kx, o = (i.ravel() for i in np.meshgrid(np.arange(kh), np.arange(kw), np.arange(ow), indexing="ij"))
    x = o * sw + kx * dw - pl                                               # every tap's input column
    inside = (x >= 0) & (x < w)
    ky, kx, o, x = ky[inside], kx[inside], o[inside], x[inside]
    for gi in range(g):
        ci, mi = slice(gi * cpg, (gi + 1) * cpg), slice(gi * mpg, (gi + 1) * mpg)
        matrix[ky * dh, x, ci, o, mi] = weights[mi][:, :, ky, kx].transpose(2, 1, 0)
    return matrix.reshape(span * w * c, ow * m)


BAND_ENTRIES = 1 << 21  # largest one-row matrix (16 MiB of float64) `conv_plan` builds
BAND_WORK = 4           # ... when its product needs at most this many times the windows' multiply-adds


@dataclasses.dataclass(frozen=True)
class RowBands:
    """A convolution as one product per output row: `row_matrix` (which arith.Linear holds scaled
    for the float route) times the input rows that output row reads. Batch first, those rows are a
    contiguous span of every sample, so each product reads a strided view of the input (row stride
    one sample) and writes a strided view of the output: nothing is copied. Rows of the span in
    the vertical padding are left out of both the view and the matrix (they are zeros)."""
    linear: Linear
    span: int
    bias: np.ndarray       # linear.b repeated at every output row (OH * OW * M,)
    bias_long: np.ndarray  # ... and its arith.long_row

    def __call__(self, x: np.ndarray, node):
        a = node.attrs
        (h, w, c), (oh, ow, m), sh, pt = a["in_hwc"], a["out_hwc"], a["strides"][0], a["pads"][0]
        n, wc = x.shape[0], w * c
        rows = x.reshape(n, h * wc).astype(self.linear.w.dtype, copy=False)
        v = np.empty((n, oh, ow * m), self.linear.w.dtype)
        for oy in range(oh):
            top = oy * sh - pt                                                 # the span's first input row
            lo, hi = max(top, 0), min(top + self.span, h)
            if lo < hi:
                np.matmul(rows[:, lo * wc:hi * wc], self.linear.w[(lo - top) * wc:(hi - top) * wc], out=v[:, oy])
            else:
                v[:, oy] = 0                                                   # only padding under this row
        return self.linear.finish(v.reshape(n, oh * ow * m), self.bias, self.bias_long,
                                  self.linear.may_check(rows, oh * ow * m))


def conv_plan(node, xts):
    """A convolution whose one-row matrix is small and not much more work than its windows runs
    as RowBands (no windows are built); None otherwise, or when the float route is not exact
    (then: windows and the int64 route)."""
    (h, w, c), (oh, ow, m), (kh, kw) = node.attrs["in_hwc"], node.attrs["out_hwc"], node.attrs["kernel"]
    span = (kh - 1) * node.attrs["dilations"][0] + 1
    entries = span * w * c * ow * m
    if entries > BAND_ENTRIES or oh * entries > BAND_WORK * oh * ow * kh * kw * c * m // node.attrs["group"]:
        return None
    b = node.consts.get("b")
    lin = linear(node, xts[0], row_matrix(node), None if b is None else np.tile(b.values, ow))
    if lin is None:
        return None
    bias = np.tile(lin.b, oh)
    return RowBands(lin, span, bias, long_row(bias))


@kernel("Conv", plan=conv_plan, floats=True)
def conv(node, xs, xts, plan):
    n = xs[0].shape[0]
    if plan is not None:
        y, ovf, wraps = plan(xs[0], node)
    else:
        win, _ = windows(np.asarray(xs[0], np.int64), node)
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
