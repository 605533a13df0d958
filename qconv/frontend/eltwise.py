"""Importers of the eltwise family: element-wise arithmetic and data movement: Add, Sub, Mul, Div (by
constants or between tensors), BatchNormalization, Concat, Pad, Resize (nearest), DepthToSpace,
SpaceToDepth, TopK (an argmax). The shape-only ops are in shape.py."""

from __future__ import annotations

import numpy as np

from ..errors import BatchAxisError, ModelError, UnsupportedError
from ..fixed import FixedType
from ..ir import Const, Node
from .importer import Importer, handler

INDEX_TYPE = FixedType(32, 32)  # gather indices are integers, not quantities


def broadcast_pattern(full: np.ndarray) -> tuple[np.ndarray, int, int]:
    """A per-sample constant laid out in memory order as (values, inner, period) with
    full.flat[i] == values[(i // inner) % period]: a scalar, one varying memory axis, or all."""
    flat = full.reshape(-1)
    if np.all(flat == flat[0]):
        return flat[:1].copy(), 1, 1
    shape = full.shape
    for k in range(len(shape)):
        inner = int(np.prod(shape[k + 1:], dtype=np.int64))
        values = full.reshape(-1)[: shape[k] * inner: inner]
        i = np.arange(flat.size)
        if np.array_equal(values[(i // inner) % shape[k]], flat):
            return values.copy(), inner, shape[k]
    return flat.copy(), 1, flat.size


def const_in_memory(imp: Importer, n, c: Const, tensor: str) -> tuple[Const, int, int]:
    """Constant `c` (ONNX semantic shape, broadcastable against the per-sample tensor, with or
    without the batch axis) as a memory-order broadcast pattern for `tensor`."""
    sem = imp.semantic_shape(n, tensor)
    v = c.values
    if v.ndim == len(sem) + 1:
        if v.shape[0] != 1:
            raise BatchAxisError(f"{imp.where(n)}: a constant that varies along the batch axis")
        v = v[0]
    try:
        full = np.broadcast_to(v, sem)
    except ValueError:
        raise ModelError(f"{imp.where(n)}: constant of shape {list(c.values.shape)} does not broadcast "
                         f"to the tensor's {list(sem)}") from None
    mem = np.ascontiguousarray(full.transpose(imp.order(tensor)))
    values, inner, period = broadcast_pattern(mem)
    return Const(values, c.fixed), inner, period


def _binary(imp: Importer, n, fn: str, float_op: str | None = None):
    a, b = n.input[0], n.input[1]
    if imp.is_const(a) and imp.is_const(b):
        raise UnsupportedError(f"{imp.where(n)}: both operands are constants (fold them before export)")
    if imp.is_const(a) or imp.is_const(b):
        tensor, c = (b, a) if imp.is_const(a) else (a, b)
        if imp.is_const(a) and fn == "sub":
            fn = "rsub"  # c - x
        x = imp.act(n, tensor)
        const, inner, period = const_in_memory(imp, n, imp.const(n, c, "operand", quantized=True), tensor)
        attrs = {"fn": fn, "inner": inner, "period": period}
        if not const.quantized:  # the float32 operation the reference computes (see fuse_requantizer)
            attrs["float_op"] = (float_op or fn, np.float32(const.values if float_op != "div" else 1.0 / const.values))
        imp.emit(n, "Eltwise", [x], x.out.shape, order=imp.order(tensor), consts={"c": const}, attrs=attrs)
        return
    if imp.semantic_shape(n, a) != imp.semantic_shape(n, b):
        raise UnsupportedError(f"{imp.where(n)}: broadcasting between two tensors "
                               f"({list(imp.semantic_shape(n, a))} and {list(imp.semantic_shape(n, b))}) is not supported")
    x = imp.act(n, a)
    y = imp.in_order(n, b, imp.order(a))
    imp.emit(n, "Eltwise", [x, y], x.out.shape, order=imp.order(a), attrs={"fn": fn})


@handler("Add")
def _add(imp, n, attrs):
    _binary(imp, n, "add")


@handler("Sub")
def _sub(imp, n, attrs):
    _binary(imp, n, "sub")


@handler("Mul")
def _mul(imp, n, attrs):
    _binary(imp, n, "mul")


@handler("Div")
def _div(imp, n, attrs):
    if not imp.is_const(n.input[1]) or imp.is_const(n.input[0]):
        raise UnsupportedError(f"{imp.where(n)}: only division of a tensor by a constant is supported")
    c = imp.const(n, n.input[1], "divisor", quantized=True)
    if c.quantized:
        raise UnsupportedError(f"{imp.where(n)}: division by a quantized constant")
    if np.any(c.values == 0):
        raise ModelError(f"{imp.where(n)}: divides by zero (the divisor constant '{n.input[1]}' holds 0); fixed "
                         "point has no infinity")
    # hardware: a multiply by 1/c (exact for powers of two, else typed like any float constant);
    # the reference's own float32 division is kept for a following quantizer (fuse_requantizer)
    imp.consts[n.output[0] + "@recip"] = Const(1.0 / c.values)
    n2 = type(n)()
    n2.CopyFrom(n)
    n2.input[1] = n.output[0] + "@recip"
    _binary(imp, n2, "mul", float_op="div")


@handler("BatchNormalization")
def _batchnorm(imp: Importer, n, attrs):
    """y = x * s + t per channel (semantic axis 0), s = gamma / sqrt(var + eps), t = beta - mean * s,
    computed in float64 from the parameters; the fold_batchnorm pass folds it into a preceding
    Conv/Dense with float weights, else it stays an Eltwise multiply-add."""
    if len(n.output) > 1 and any(n.output[1:]):
        raise UnsupportedError(f"{imp.where(n)}: BatchNormalization in training mode")
    # parameters stored quantized (onnxruntime's QDQ: int8 scale and int32 B through DequantizeLinear)
    # are read as the float32 values the reference computes with, (q - z) * s
    gamma, beta, mean, var = (imp.const(n, i, "parameter").values for i in n.input[1:5])
    if any(p.ndim != 1 for p in (gamma, beta, mean, var)):
        raise ModelError(f"{imp.where(n)}: scale, B, mean and var must be 1-D (one value per channel), got shapes "
                         f"{[list(p.shape) for p in (gamma, beta, mean, var)]}")
    sem = imp.semantic_shape(n, n.input[0])
    channels = sem[0]
    sizes = [p.size for p in (gamma, beta, mean, var)]
    if len(set(sizes)) > 1:
        raise ModelError(f"{imp.where(n)}: scale, B, mean and var must hold one value per channel each, got "
                         f"{', '.join(map(str, sizes))} values")
    if gamma.size != channels:
        raise UnsupportedError(f"{imp.where(n)}: {gamma.size} BatchNorm channels for a tensor of shape {list(sem)}"
                               " (is the channel axis transposed?)")
    s = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    t = beta - mean * s
    # onnxruntime's float32 evaluation (checked against it): y = x * (g * (1 / sqrt(v + eps))) + (b - m * that)
    f32 = np.float32
    s32 = gamma.astype(f32) * (f32(1) / np.sqrt(var.astype(f32) + f32(attrs.get("epsilon", 1e-5))))
    t32 = beta.astype(f32) - mean.astype(f32) * s32
    x = imp.act(n, n.input[0])
    shape = (channels,) + (1,) * (len(sem) - 1)
    cs, ct, inner, period = _scale_shift(imp, n, s, t, shape, n.input[0])
    cs32, ct32, _, _ = _scale_shift(imp, n, s32.astype(np.float64), t32.astype(np.float64), shape, n.input[0])
    imp.emit(n, "Eltwise", [x], x.out.shape, consts={"c": cs, "t": ct},
             attrs={"fn": "muladd", "inner": inner, "period": period, "batchnorm": True,
                    "float_op": ("muladd", np.float32(cs32.values), np.float32(ct32.values)),
                    "bn_float32": {"inv": s32, "mean": mean.astype(f32), "beta": beta.astype(f32)}})


def _scale_shift(imp, n, s, t, shape, tensor):
    """Per-channel s and t in memory order, as one shared (inner, period) broadcast pattern."""
    sem, order = imp.semantic_shape(n, tensor), imp.order(tensor)
    full_s, full_t = (np.ascontiguousarray(np.broadcast_to(v.reshape(shape), sem).transpose(order)) for v in (s, t))
    _, inner, period = broadcast_pattern(full_s + 1j * full_t)
    i = np.arange(period) * inner
    return Const(full_s.reshape(-1)[i]), Const(full_t.reshape(-1)[i]), inner, period


@handler("Concat")
def _concat(imp: Importer, n, attrs):
    if any(imp.is_const(i) for i in n.input):
        raise UnsupportedError(f"{imp.where(n)}: Concat with a constant operand is not supported")
    first = n.input[0]
    order = imp.order(first)
    axis = int(attrs.get("axis", 1))
    rank = len(order) + 1
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        raise BatchAxisError(f"{imp.where(n)}: Concat along the batch axis")
    mem_axis = order.index(axis - 1)
    parts = [imp.in_order(n, i, order) for i in n.input]
    shape = list(parts[0].out.shape)
    for p in parts[1:]:
        other = list(p.out.shape)
        if other[:mem_axis] + other[mem_axis + 1:] != shape[:mem_axis] + shape[mem_axis + 1:]:
            raise ModelError(f"{imp.where(n)}: shapes {[list(q.out.shape) for q in parts]} do not concatenate")
    shape[mem_axis] = sum(p.out.shape[mem_axis] for p in parts)
    imp.emit(n, "Concat", parts, tuple(shape), order=order, attrs={"axis": mem_axis})


def _gather(imp: Importer, n, x: Node, idx: np.ndarray, shape, order):
    imp.emit(n, "Gather", [x], tuple(shape), order=order,
             consts={"idx": Const(idx.reshape(-1).astype(np.int64), INDEX_TYPE)})


@handler("Pad")
def _pad(imp: Importer, n, attrs):
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    pads = attrs.get("pads") or [int(v) for v in imp.const(n, n.input[1], "pads").values.reshape(-1)]
    value = float(attrs.get("value", 0.0))  # before opset 11: an attribute
    if len(n.input) > 2 and n.input[2]:
        value = imp.scalar(n, n.input[2], "constant_value")
    if mode != "constant" or value != 0.0:
        raise UnsupportedError(f"{imp.where(n)}: only zero constant padding is supported (mode {mode}, value {value})")
    if len(n.input) > 3 and n.input[3]:
        raise UnsupportedError(f"{imp.where(n)}: Pad with an axes input is not supported")
    x, order = imp.view(n, n.input[0])
    sem = imp.semantic_shape(n, n.input[0])
    rank = len(sem) + 1
    begin, end = pads[:rank], pads[rank:]
    if begin[0] or end[0] or min(pads) < 0:
        raise UnsupportedError(f"{imp.where(n)}: padding the batch axis or negative pads")
    imp.check_size(imp.where(n), [d + b + e for d, b, e in zip(sem, begin[1:], end[1:])])
    src = np.arange(x.out.size).reshape(x.out.shape)  # memory layout of the input
    mem_begin = [begin[1 + s] for s in order]
    mem_end = [end[1 + s] for s in order]
    idx = np.pad(src, list(zip(mem_begin, mem_end)), constant_values=-1)
    _gather(imp, n, x, idx, idx.shape, order)


def _nearest_source(out_size: int, in_size: int, scale: float, ctm: str, nearest: str) -> np.ndarray:
    """ONNX Resize (mode nearest): the input coordinate each output coordinate reads."""
    x = np.arange(out_size, dtype=np.float64)
    if ctm == "asymmetric":
        orig = x / scale
    elif ctm == "half_pixel":
        orig = (x + 0.5) / scale - 0.5
    elif ctm == "pytorch_half_pixel":
        orig = (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(x)
    elif ctm == "align_corners":
        orig = x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros_like(x)
    elif ctm == "tf_half_pixel_for_nn":
        orig = (x + 0.5) / scale
    else:
        raise UnsupportedError(f"Resize coordinate_transformation_mode {ctm} is not supported")
    rounding = {"round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
                "floor": np.floor, "ceil": np.ceil}
    if nearest not in rounding:
        raise UnsupportedError(f"Resize nearest_mode {nearest} is not supported")
    return np.clip(rounding[nearest](orig), 0, in_size - 1).astype(np.int64)


@handler("Resize", "Upsample")
def _resize(imp: Importer, n, attrs):
    text = lambda k, d: (attrs.get(k, d).decode() if isinstance(attrs.get(k, d), bytes) else attrs.get(k, d))  # noqa: E731
    if text("mode", "nearest") != "nearest":
        raise UnsupportedError(f"{imp.where(n)}: only mode 'nearest' is supported")
    x, order = imp.view(n, n.input[0])
    sem = imp.semantic_shape(n, n.input[0])
    scales = sizes = None
    names = list(n.input) + [""] * 4
    if n.op_type == "Upsample":
        scales = imp.const(n, names[1], "scales").values.reshape(-1) if names[1] else np.array(attrs["scales"])
    elif names[3]:
        if names[2] and imp.const(n, names[2], "scales").values.size:
            raise ModelError(f"{imp.where(n)}: both scales and sizes are given; ONNX Resize takes one of them")
        sizes = imp.const(n, names[3], "sizes").values.reshape(-1).astype(np.int64)
    elif names[2] and imp.consts.get(names[2]) is not None and imp.consts[names[2]].values.size:
        scales = imp.const(n, names[2], "scales").values.reshape(-1)
    elif names[1] and n.op_type == "Resize" and imp.consts.get(names[1]) is not None and len(n.input) == 2:
        scales = imp.const(n, names[1], "scales").values.reshape(-1)  # opset 10
    if scales is not None and not (np.all(np.isfinite(scales)) and np.all(scales > 0)):
        raise ModelError(f"{imp.where(n)}: scales {scales.tolist()} must be positive")
    if sizes is not None and (sizes.size != len(sem) + 1 or sizes.min(initial=1) < 1):
        raise ModelError(f"{imp.where(n)}: sizes {sizes.tolist()} must give {len(sem) + 1} positive sizes")
    if sizes is None:
        if scales is None or scales.size != len(sem) + 1 or scales[0] != 1:
            raise UnsupportedError(f"{imp.where(n)}: Resize needs per-axis scales or sizes (batch scale 1)")
        sizes = np.floor(np.array([1, *sem]) * scales).astype(np.int64)
        scales = scales[1:]
    else:
        scales = sizes[1:] / np.array(sem, np.float64)
    imp.check_size(imp.where(n), sizes[1:])
    ctm = text("coordinate_transformation_mode", "half_pixel" if n.op_type == "Resize" else "asymmetric")
    nearest = text("nearest_mode", "round_prefer_floor" if n.op_type == "Resize" else "floor")
    sources = [_nearest_source(int(o), int(i), float(s), ctm, nearest) for o, i, s in zip(sizes[1:], sem, scales)]
    sem_src = np.arange(int(np.prod(sem))).reshape(sem)  # semantic index of each input element
    picked = sem_src[np.ix_(*sources)]                    # semantic output -> semantic input index
    mem_of_sem = np.arange(x.out.size).reshape(x.out.shape).transpose(np.argsort(order)).reshape(-1)
    idx = mem_of_sem[picked].transpose(order)             # memory output -> memory input index
    _gather(imp, n, x, idx, idx.shape, order)


def _gather_semantic(imp: Importer, n, picked: np.ndarray) -> None:
    """Emit a Gather for an output whose semantic elements read the input's semantic flat
    indices `picked` (shape = output semantic shape); memory layouts are handled here."""
    x, order = imp.view(n, n.input[0])
    mem_of_sem = np.arange(x.out.size).reshape(x.out.shape).transpose(np.argsort(order)).reshape(-1)
    if picked.ndim != len(order):
        order = tuple(range(picked.ndim))
    idx = np.ascontiguousarray(mem_of_sem[picked].transpose(order))
    _gather(imp, n, x, idx, idx.shape, order)


@handler("DepthToSpace", "SpaceToDepth")
def _depth_space(imp: Importer, n, attrs):
    """Pixel shuffles as an index gather (ONNX DCR/CRD modes)."""
    sem = imp.semantic_shape(n, n.input[0])
    if len(sem) != 3:
        raise UnsupportedError(f"{imp.where(n)}: {n.op_type} needs a [C, H, W] input per sample")
    b = int(attrs["blocksize"])
    c, h, w = sem
    src = np.arange(c * h * w).reshape(1, c, h, w)
    mode = attrs.get("mode", b"DCR")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if n.op_type == "DepthToSpace":
        if mode == "DCR":
            t = src.reshape(1, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = src.reshape(1, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        picked = t.reshape(c // (b * b), h * b, w * b)
    else:
        t = src.reshape(1, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
        picked = t.reshape(c * b * b, h // b, w // b)
    _gather_semantic(imp, n, picked)


@handler("TopK")
def _topk(imp, n, attrs):
    """TopK with k = 1 along the last axis, indices output only (a classifier's final argmax):
    the index of the first largest element, as ONNX orders ties."""
    from ..fixed import FixedType
    k = imp.const(n, n.input[1], "k").values.reshape(-1)
    sem = imp.semantic_shape(n, n.input[0])
    axis = int(attrs.get("axis", -1))
    if k.size != 1 or int(k[0]) != 1 or not attrs.get("largest", 1) or len(sem) != 1 or axis not in (-1, 1):
        raise UnsupportedError(f"{imp.where(n)}: only TopK with k=1, largest=1 on a flat vector (an argmax) "
                               "is supported")
    x = imp.semantic(n, n.input[0])
    width = max(1, (sem[0] - 1).bit_length())
    node = imp.add_node(n.name or n.output[1], "ArgMax", [x], (1,), origin=imp.where(n),
                        source=(n.name or n.output[1], n.op_type))
    node.out.fixed = FixedType(width, width, signed=False)
    imp.alias(n.output[1], node, (0,))
