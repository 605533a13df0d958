"""Template context of the conv family (Conv, Pool): what `templates/layers/<Op>.j2` needs besides
the common fields (backend/context.py), including the constant arrays written to weights/<layer>.h."""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from ..ir import Const, Graph, Node
from .context import array, context, raw_ctype
from .dense import weights_and_bias


def _geometry(node: Node, d: dict) -> None:
    a = node.attrs
    (h, w, c), (oh, ow, m) = a["in_hwc"], a["out_hwc"]
    d.update(in_h=h, in_w=w, n_chan=c, out_h=oh, out_w=ow, n_filt=m, kern_h=a["kernel"][0], kern_w=a["kernel"][1],
             stride_h=a["strides"][0], stride_w=a["strides"][1], dil_h=a["dilations"][0], dil_w=a["dilations"][1],
             pad_top=a["pads"][0], pad_left=a["pads"][1], pad_bottom=a["pads"][2], pad_right=a["pads"][3])


@context("Conv")
def _conv(graph: Graph, node: Node, d: dict) -> None:
    _geometry(node, d)
    d["groups"] = node.attrs["group"]
    weights_and_bias(graph, node, d, "weights[((f * chan_per_group + c) * kern_h + ky) * kern_w + kx] (ONNX order)")


@context("Pool")
def _pool(graph: Graph, node: Node, d: dict) -> None:
    _geometry(node, d)
    d.update(is_max=node.attrs["mode"] == "max", count_include_pad=node.attrs["count_include_pad"])
    if d["is_max"]:
        recip = Const(np.zeros(d["kern_h"] * d["kern_w"] + 1, np.int64), FixedType(1, 1, signed=False))
        d["accum_cpp"] = d["in_cpp"]
    else:
        recip = node.consts["recip"]
        d["accum_cpp"] = node.attrs["accum"].to_cpp()
    d.update(recip_cpp=recip.fixed.to_cpp(), recip_raw=raw_ctype(recip.fixed))
    d["arrays"].append(array(f"{node.name}_recip", recip, "1/count for each window count (entry 0 unused)"))
