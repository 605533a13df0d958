"""Template context of the eltwise family (Eltwise, Transpose, Gather, Concat): what
`templates/layers/<Op>.j2` needs besides the common fields (backend/context.py), including the
constant arrays written to weights/<layer>.h."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .context import array, context, ints, raw_ctype, var_of


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
