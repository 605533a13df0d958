"""Importers of the conv family (spatial ops on channels-last memory): Conv (1-D, 2-D, groups, dilation, pads,
auto_pad), MaxPool/AveragePool (pads, ceil_mode, count_include_pad), Global*Pool."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError, UnsupportedError
from ..ir import Const
from .importer import Importer, channels_last, handler
from .dense import emit_scaled_layer, output_channel_scale, per_channel


def _geometry(imp: Importer, n, attrs, in_hw, kernel, dims, ceil_mode=False):
    """(strides, dilations, pads (top, left, bottom, right), out_hw) per ONNX's rules; 1-D ops
    come in with in_hw = (1, W) and kernel = (1, k)."""
    one_d = dims == 1
    pad2 = lambda v, fill: ([fill] + list(v)) if one_d else list(v)  # noqa: E731
    given = {"strides": (dims, 1), "dilations": (dims, 1), "pads": (2 * dims, 0), "kernel_shape": (dims, 1)}
    for key, (length, low) in given.items():
        v = attrs.get(key)
        if v is not None and (len(v) != length or min(v, default=low) < low):
            raise ModelError(f"{imp.where(n)}: {key} {list(v)} must have {length} values, each "
                             f"{'>= 0' if low == 0 else 'positive'}, for a {dims}-D input")
    if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != tuple(kernel[-dims:]):
        raise ModelError(f"{imp.where(n)}: kernel_shape {list(attrs['kernel_shape'])} contradicts the weight's "
                         f"{list(kernel[-dims:])}")
    strides = pad2(attrs.get("strides", [1] * dims), 1)
    dil = pad2(attrs.get("dilations", [1] * dims), 1)
    pads = attrs.get("pads", [0] * (2 * dims))
    begin, end = pad2(pads[:dims], 0), pad2(pads[dims:], 0)
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    out = []
    for ax in range(2):
        span = dil[ax] * (kernel[ax] - 1) + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-in_hw[ax] // strides[ax])
            total = max((o - 1) * strides[ax] + span - in_hw[ax], 0)
            small, big = total // 2, total - total // 2
            begin[ax], end[ax] = (small, big) if auto == "SAME_UPPER" else (big, small)
        elif auto == "VALID":
            begin[ax] = end[ax] = 0
        elif auto != "NOTSET":
            raise UnsupportedError(f"{imp.where(n)}: auto_pad {auto} is not supported")
        size = in_hw[ax] + begin[ax] + end[ax] - span
        o = (math.ceil if ceil_mode else math.floor)(size / strides[ax]) + 1
        if ceil_mode and (o - 1) * strides[ax] >= in_hw[ax] + begin[ax]:
            o -= 1  # the last window must start inside the input or its left padding
        if o < 1:
            raise UnsupportedError(f"{imp.where(n)}: the window does not fit the input")
        out.append(o)
    return tuple(strides), tuple(dil), (begin[0], begin[1], end[0], end[1]), tuple(out)


def _spatial_input(imp: Importer, n):
    """The input in channels-last memory and its (H, W, C); 1-D inputs get H = 1."""
    sem = imp.semantic_shape(n, n.input[0])
    if len(sem) not in (2, 3):
        raise UnsupportedError(f"{imp.where(n)}: only 1-D and 2-D spatial inputs are supported, got {list(sem)}")
    x = imp.in_order(n, n.input[0], channels_last(len(sem)))
    c, *spatial = sem
    hw = (1, spatial[0]) if len(spatial) == 1 else tuple(spatial)
    return x, (*hw, c), len(spatial)


def _out_shape(dims, oh, ow, c):
    return (ow, c) if dims == 1 else (oh, ow, c)


@handler("Conv")
def _conv(imp: Importer, n, attrs):
    x, (h, w, c), dims = _spatial_input(imp, n)
    wc = imp.const(n, n.input[1], "weight", quantized=True, scaled=True)
    if wc.values.ndim != dims + 2 or wc.values.size == 0:
        raise ModelError(f"{imp.where(n)}: weight of shape {list(wc.values.shape)} for a {dims}-D convolution; "
                         f"expected rank {dims + 2} (M, C/group, {'kW' if dims == 1 else 'kH, kW'})")
    weights = wc.values.reshape(wc.values.shape[0], wc.values.shape[1], *([1] if dims == 1 else []),
                                *wc.values.shape[2:])
    m, cpg, kh, kw = weights.shape
    group = int(attrs.get("group", 1))
    if cpg * group != c or m % group:
        raise UnsupportedError(f"{imp.where(n)}: weight {list(wc.values.shape)} does not fit {c} channels in {group} groups")
    strides, dil, pads, (oh, ow) = _geometry(imp, n, attrs, (h, w), (kh, kw), dims)
    wscale = None if wc.scale is None else wc.scale.reshape(weights.shape)
    consts = {"W": Const(weights, wc.fixed, wscale)}
    bias = imp.const(n, n.input[2], "bias", quantized=True, scaled=True) if len(n.input) > 2 and n.input[2] else None
    if bias is not None and bias.values.shape != (m,):
        raise ModelError(f"{imp.where(n)}: bias of shape {list(bias.values.shape)}; ONNX Conv takes one value per "
                         f"output channel, shape [{m}]")
    attrs = {"in_hwc": (h, w, c), "out_hwc": (oh, ow, m), "kernel": (kh, kw), "strides": strides,
             "dilations": dil, "pads": pads, "group": group}
    shape = _out_shape(dims, oh, ow, m)
    if wscale is not None or (bias is not None and bias.scale is not None):
        per_filter = None if wscale is None else output_channel_scale(imp, n, wscale)
        emit_scaled_layer(imp, n, "Conv", [x], shape, consts, bias, per_filter,
                          order=channels_last(dims + 1), attrs=attrs)
        return
    if bias is not None:
        consts["b"] = per_channel(imp, n, bias, m, "bias")
    imp.emit(n, "Conv", [x], shape, order=channels_last(dims + 1), consts=consts, attrs=attrs)


def _window_counts(h, w, kernel, strides, dil, pads, out_hw, include_pad):
    """Number of window positions counted by an average: inside the input, or inside the
    padded input when count_include_pad."""
    (pt, pl, pb, pr) = pads
    lo_h, hi_h = (-pt, h + pb) if include_pad else (0, h)
    lo_w, hi_w = (-pl, w + pr) if include_pad else (0, w)
    rows = np.arange(out_hw[0])[:, None] * strides[0] + np.arange(kernel[0])[None, :] * dil[0] - pt
    cols = np.arange(out_hw[1])[:, None] * strides[1] + np.arange(kernel[1])[None, :] * dil[1] - pl
    nr = ((rows >= lo_h) & (rows < hi_h)).sum(axis=1)
    nc = ((cols >= lo_w) & (cols < hi_w)).sum(axis=1)
    return nr[:, None] * nc[None, :]


def _pool(imp: Importer, n, attrs, mode, global_pool=False):
    x, (h, w, c), dims = _spatial_input(imp, n)
    if global_pool:
        kernel, attrs = (h, w), {}
    else:
        if "kernel_shape" not in attrs:
            raise ModelError(f"{imp.where(n)}: kernel_shape is required")
        k = attrs["kernel_shape"]
        kernel = (1, k[0]) if dims == 1 and len(k) == 1 else tuple(k)
    if attrs.get("storage_order", 0):
        raise UnsupportedError(f"{imp.where(n)}: storage_order=1 is not supported")
    strides, dil, pads, (oh, ow) = _geometry(imp, n, attrs, (h, w), kernel, dims, bool(attrs.get("ceil_mode", 0)))
    if not global_pool and any(p >= k for p, k in zip(pads, kernel + kernel)):
        raise ModelError(f"{imp.where(n)}: pads {list(pads)} must be smaller than the kernel {list(kernel)} "
                         "(a window of padding only has no value; onnxruntime refuses it too)")
    imp.check_size(imp.where(n), (oh, ow, c))
    include_pad = bool(attrs.get("count_include_pad", 0))
    counts = _window_counts(h, w, kernel, strides, dil, pads, (oh, ow), include_pad)
    imp.emit(n, "Pool", [x], _out_shape(dims, oh, ow, c), order=channels_last(dims + 1),
             attrs={"mode": mode, "in_hwc": (h, w, c), "out_hwc": (oh, ow, c), "kernel": kernel,
                    "strides": strides, "dilations": dil, "pads": pads, "count_include_pad": include_pad,
                    "counts": counts})


@handler("MaxPool")
def _maxpool(imp, n, attrs):
    if len(n.output) > 1 and n.output[1]:
        raise UnsupportedError(f"{imp.where(n)}: MaxPool's Indices output is not supported")
    _pool(imp, n, attrs, "max")


@handler("AveragePool")
def _avgpool(imp, n, attrs):
    _pool(imp, n, attrs, "avg")


@handler("GlobalMaxPool")
def _gmaxpool(imp, n, attrs):
    _pool(imp, n, attrs, "max", global_pool=True)


@handler("GlobalAveragePool")
def _gavgpool(imp, n, attrs):
    _pool(imp, n, attrs, "avg", global_pool=True)
