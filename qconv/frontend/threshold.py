"""Importers of the threshold family (sign and threshold quantizers): QONNX BipolarQuant (and 1-bit signed Quant),
FINN's MultiThreshold. Both become `Thresholds` nodes: per channel, the output is
levels[number of thresholds the input reaches], exact comparisons on input mantissas."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..fixed import FixedType
from ..ir import Const
from ..numeric import constant_fixed
from .importer import Importer, handler
from .eltwise import broadcast_pattern

THRESHOLD_TYPE = FixedType(32, 32)  # placeholder until the input type is known (build_tables)


def bipolar(imp: Importer, n, scale: np.ndarray) -> None:
    """y = (x >= 0 ? +1 : -1) * scale: a constant, or a one-threshold node (x >= 0)."""
    scale = np.asarray(scale, np.float64).reshape(-1)
    if scale.size != 1:
        raise UnsupportedError(f"{imp.where(n)}: per-channel bipolar scales are not supported")
    if imp.is_const(n.input[0]):
        src = imp.consts[n.input[0]]
        if src.quantized:
            raise UnsupportedError(f"{imp.where(n)}: re-quantizing a quantized constant is not supported")
        mant, t = constant_fixed(np.where(src.values >= 0, 1.0, -1.0) * scale[0])
        imp.consts[n.output[0]] = Const(mant, t)
        return
    x = imp.act(n, n.input[0])
    lv, lt = constant_fixed(np.array([[-scale[0], scale[0]]]))
    imp.emit(n, "Thresholds", [x], x.out.shape, consts={"thresholds": Const(np.zeros((1, 1), np.int64), THRESHOLD_TYPE),
                                                        "levels": Const(lv, lt)},
             attrs={"inner": 1, "period": 1, "float_thresholds": np.zeros((1, 1))})
    imp.graph.node(imp.views[n.output[0]][0]).out.fixed = lt


@handler("BipolarQuant")
def _bipolar_quant(imp: Importer, n, attrs):
    bipolar(imp, n, imp.const(n, n.input[1], "scale").values)


@handler("MultiThreshold")
def _multithreshold(imp: Importer, n, attrs):
    """FINN: y = out_scale * #{t : x >= thresholds[c, t]} + out_bias, c the channel."""
    thr = imp.const(n, n.input[1], "thresholds").values.astype(np.float64)
    if thr.ndim != 2:
        raise UnsupportedError(f"{imp.where(n)}: thresholds must be (channels, steps)")
    layout = attrs.get("data_layout", b"NCHW")
    layout = layout.decode() if isinstance(layout, bytes) else layout
    x, order = imp.view(n, n.input[0])
    sem = imp.semantic_shape(n, n.input[0])
    channel_axis = len(sem) - 1 if layout.endswith("C") and layout != "NC" and len(sem) > 1 and layout[-1] == "C" \
        else 0
    channels = sem[channel_axis]
    if thr.shape[0] not in (1, channels):
        raise UnsupportedError(f"{imp.where(n)}: {thr.shape[0]} threshold rows for {channels} channels")
    index = np.arange(channels).reshape([channels if a == channel_axis else 1 for a in range(len(sem))])
    full = np.ascontiguousarray(np.broadcast_to(index, sem).transpose(order))
    rows, inner, period = broadcast_pattern(full)
    if thr.shape[0] == 1:
        rows, inner, period = np.zeros(1, np.int64), 1, 1
    steps = thr.shape[1]
    counts = np.arange(steps + 1, dtype=np.float64)
    levels = float(attrs.get("out_scale", 1.0)) * counts + float(attrs.get("out_bias", 0.0))
    lv, lt = constant_fixed(np.tile(levels, (len(rows), 1)))
    imp.emit(n, "Thresholds", [x], x.out.shape, order=order,
             consts={"thresholds": Const(np.zeros((len(rows), steps), np.int64), THRESHOLD_TYPE),
                     "levels": Const(lv, lt)},
             attrs={"inner": inner, "period": period, "float_thresholds": thr[np.asarray(rows, np.int64)]})
    imp.graph.node(imp.views[n.output[0]][0]).out.fixed = lt
