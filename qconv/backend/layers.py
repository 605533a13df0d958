"""Per-op template context of the core ops (Dense, MatMul, Conv, Pool, Table, Thresholds, Transpose,
Eltwise, Gather, Concat): what each `templates/layers/<Op>.j2` needs besides the common fields
(backend/context.py), including the constant arrays written to weights/<layer>.h."""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from ..ir import Const, Graph, Node
from .context import array, context, ints, raw_ctype, var_of

def _weights_and_bias(node: Node, d: dict, weight_doc: str) -> None:
    w, b = d["arch"].weight_layout(node, "W", node.consts["W"]), node.consts.get("b")
    n_out = w.values.shape[1] if node.op == "Dense" else w.values.shape[0]
    d.update(has_bias=b is not None, weight_cpp=w.fixed.to_cpp(), accum_cpp=node.attrs["accum"].to_cpp(),
             weight_raw=raw_ctype(w.fixed))
    d["arrays"].append(array(f"{node.name}_w", w, weight_doc))
    if b is None:  # the kernels ignore biases when has_bias is false
        b = Const(np.zeros(n_out, np.int64), FixedType(1, 1))
    d.update(bias_cpp=b.fixed.to_cpp(), bias_raw=raw_ctype(b.fixed))
    d["arrays"].append(array(f"{node.name}_b", b, "biases" if d["has_bias"] else "no bias (unused)"))


@context("Dense")
def _dense(graph: Graph, node: Node, d: dict) -> None:
    n_in, n_out = node.consts["W"].values.shape
    d.update(n_in=n_in, n_out=n_out)
    _weights_and_bias(node, d, "weights[i * n_out + j]: from input i to output j")


@context("MatMul")
def _matmul(graph: Graph, node: Node, d: dict) -> None:
    b = graph.node(node.inputs[1])
    shape = node.out.shape
    d.update(batch=int(np.prod(shape[:-2], dtype=np.int64)), m=shape[-2], k=node.attrs["k"], n=shape[-1],
             accum_cpp=node.attrs["accum"].to_cpp(), in2_var=var_of(b), in2_typedef=f"{b.name}_t")


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
    _weights_and_bias(node, d, "weights[((f * chan_per_group + c) * kern_h + ky) * kern_w + kx] (ONNX order)")


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


@context("Table")
def _table(graph: Graph, node: Node, d: dict) -> None:
    t = node.consts["table"]
    d.update(fn=node.attrs["fn"], lo=node.attrs["lo"], hi=node.attrs["hi"], table_size=t.values.size,
             table_raw=raw_ctype(t.fixed))
    d["arrays"].append(array(f"{node.name}_table", t, f"{node.attrs['fn']}(x) for input mantissas lo..hi"))


@context("Thresholds")
def _thresholds(graph: Graph, node: Node, d: dict) -> None:
    thr, levels = node.consts["thresholds"], node.consts["levels"]
    d.update(n_thr=thr.values.shape[1], inner=node.attrs["inner"], period=node.attrs["period"],
             thr_raw=raw_ctype(thr.fixed, thr.values), level_raw=raw_ctype(levels.fixed))
    d["arrays"].append(array(f"{node.name}_thr", thr, "input mantissas where the output steps up"))
    d["arrays"].append(array(f"{node.name}_levels", levels, "output for 0..n_thr thresholds passed"))


@context("Transpose")
def _transpose(graph: Graph, node: Node, d: dict) -> None:
    src_shape = graph.node(node.inputs[0]).out.shape
    idx = np.arange(int(np.prod(src_shape))).reshape(src_shape).transpose(node.attrs["perm"]).reshape(-1)
    d["arrays"].append({"var": f"{node.name}_idx", "ctype": "int", "size": idx.size, "data": ints(idx),
                        "doc": "source index of each output element"})


@context("Eltwise")
def _eltwise(graph: Graph, node: Node, d: dict) -> None:
    d["fn"] = node.attrs["fn"]
    if len(node.inputs) > 1:
        other = graph.node(node.inputs[1])
        d.update(in2_var=var_of(other), in2_typedef=f"{other.name}_t")
    else:
        c = node.consts["c"]
        d.update(inner=node.attrs["inner"], period=node.attrs["period"], const_cpp=c.fixed.to_cpp(),
                 const_raw=raw_ctype(c.fixed))
        d["arrays"].append(array(f"{node.name}_c", c, "constant operand c[(i / inner) % period]"))
        if d["fn"] == "muladd":
            t = node.consts["t"]
            d.update(shift_cpp=t.fixed.to_cpp(), shift_raw=raw_ctype(t.fixed))
            d["arrays"].append(array(f"{node.name}_shift", t, "added constant t[(i / inner) % period]"))


@context("Gather")
def _gather(graph: Graph, node: Node, d: dict) -> None:
    idx = node.consts["idx"].values
    d["arrays"].append({"var": f"{node.name}_idx", "ctype": "int", "size": idx.size, "data": ints(idx),
                        "doc": "source index of each output element (-1: zero)"})


@context("Concat")
def _concat(graph: Graph, node: Node, d: dict) -> None:
    axis, shape = node.attrs["axis"], node.out.shape
    d.update(outer=int(np.prod(shape[:axis], dtype=np.int64)), inner=int(np.prod(shape[axis + 1:], dtype=np.int64)),
             axis_total=shape[axis], parts=[])
    offset = 0
    for name in node.inputs:
        src = graph.node(name)
        d["parts"].append({"var": var_of(src), "typedef": f"{src.name}_t", "axis": src.out.shape[axis],
                           "offset": offset})
        offset += src.out.shape[axis]
