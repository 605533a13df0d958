"""Importers of the shape-only ONNX ops: Flatten, Reshape, Squeeze, Unsqueeze (IR op Reshape),
Transpose (relabels axes; an IR Transpose only where memory must move) and Shape (a constant).
Their IR ops are of the eltwise family (ops.py); they live here, apart from the arithmetic."""

from __future__ import annotations

import numpy as np

from ..errors import BatchAxisError, ModelError, UnsupportedError
from ..ir import Const
from .importer import Importer, handler


@handler("Flatten")
def _flatten(imp: Importer, n, attrs):
    x = imp.semantic(n, n.input[0])
    # axis 0 flattens the batch too: the same thing per sample, since samples are separate
    if attrs.get("axis", 1) not in (0, 1):
        raise UnsupportedError(f"{imp.where(n)}: Flatten with axis {attrs['axis']} is not supported")
    imp.emit(n, "Reshape", [x], (x.out.size,), order=(0,))


@handler("Reshape")
def _reshape(imp: Importer, n, attrs):
    x = imp.semantic(n, n.input[0])
    target = [int(d) for d in imp.const(n, n.input[1], "shape").values.reshape(-1)]
    dims = [x.out.shape[i - 1] if d == 0 and 0 < i <= len(x.out.shape) else d for i, d in enumerate(target)][1:]
    if target.count(-1) > 1 or min(target, default=0) < -1 or 0 in dims:
        raise ModelError(f"{imp.where(n)}: shape {target} is not a valid Reshape target for {list(x.out.shape)} "
                         "per sample (at most one -1, no other negative size, no empty axis)")
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        if x.out.size % known:
            raise ModelError(f"{imp.where(n)}: cannot reshape {list(x.out.shape)} per sample to {target}: "
                             f"{x.out.size} values are no multiple of {known}")
        dims[dims.index(-1)] = x.out.size // known
    if int(np.prod(dims, dtype=np.int64)) != x.out.size or (target and target[0] not in (-1, 0, 1)):
        raise BatchAxisError(f"{imp.where(n)}: reshape of {list(x.out.shape)} per sample to {target} "
                             "must keep the batch dimension first")
    imp.emit(n, "Reshape", [x], tuple(dims), order=tuple(range(len(dims))))


@handler("Transpose")
def _transpose(imp: Importer, n, attrs):
    """Relabels axes only: memory stays where it is (see importer.py, Layout)."""
    rank = len(imp.view(n, n.input[0])[1]) + 1
    imp.relabel(n.input[0], n.output[0], attrs.get("perm", list(range(rank))[::-1]), imp.where(n))


@handler("Shape")
def _shape(imp: Importer, n, attrs):
    """The shape of an activation is known at import: a constant (batch 1), for the
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains that exporters write."""
    shape = np.array([1, *imp.semantic_shape(n, n.input[0])], np.int64)[attrs.get("start", 0):attrs.get("end", None)]
    imp.consts[n.output[0]] = Const(shape.astype(np.float64))
    imp.remember(n.output[0], shape)


@handler("Squeeze", "Unsqueeze")
def _squeeze(imp: Importer, n, attrs):
    """Adding or removing size-1 axes: a reshape (no data movement)."""
    sem = list(imp.semantic_shape(n, n.input[0]))
    axes = attrs.get("axes")
    if axes is None and len(n.input) > 1 and n.input[1]:
        axes = [int(a) for a in imp.const(n, n.input[1], "axes").values.reshape(-1)]
    if n.op_type == "Squeeze":
        rank = len(sem) + 1
        drop = {a + rank if a < 0 else a for a in (axes or [i + 1 for i, d in enumerate(sem) if d == 1])}
        if 0 in drop:
            raise BatchAxisError(f"{imp.where(n)}: squeezing the batch axis is not supported")
        new = [d for i, d in enumerate(sem) if i + 1 not in drop]
    else:
        new = [1] + sem
        for a in sorted(a + len(sem) + 1 + len(axes) if a < 0 else a for a in axes):
            new.insert(a, 1)
        if new[0] != 1 or new.pop(0) != 1:
            raise BatchAxisError(f"{imp.where(n)}: unsqueezing before the batch axis is not supported")
    x = imp.semantic(n, n.input[0])
    imp.emit(n, "Reshape", [x], tuple(new), order=tuple(range(len(new))))
