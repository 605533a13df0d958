"""Template context of the dense family (Dense, MatMul): what `templates/layers/<Op>.j2` needs
besides the common fields (backend/context.py), including the constant arrays written to
weights/<layer>.h; `weights_and_bias` is shared with the conv family."""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType
from ..ir import Const, Graph, Node
from .context import array, context, raw_ctype, var_of


def weights_and_bias(node: Node, d: dict, weight_doc: str) -> None:
    w, b = d["arch"].weight_layout(node, "W", node.consts["W"], d), node.consts.get("b")
    n_out = node.consts["W"].values.shape[1] if node.op == "Dense" else node.consts["W"].values.shape[0]
    d.update(has_bias=b is not None, weight_cpp=w.fixed.to_cpp(), accum_cpp=node.attrs["accum"].to_cpp(),
             weight_raw=raw_ctype(w.fixed))
    d["arrays"].append(array(f"{node.name}_w", w, weight_doc, d["arch"].weight_pragma(f"{node.name}_w", d)))
    if b is None:  # the kernels ignore biases when has_bias is false
        b = Const(np.zeros(n_out, np.int64), FixedType(1, 1))
    d.update(bias_cpp=b.fixed.to_cpp(), bias_raw=raw_ctype(b.fixed))
    d["arrays"].append(array(f"{node.name}_b", b, "biases" if d["has_bias"] else "no bias (unused)"))


@context("Dense")
def _dense(graph: Graph, node: Node, d: dict) -> None:
    n_in, n_out = node.consts["W"].values.shape
    d.update(n_in=n_in, n_out=n_out)
    weights_and_bias(node, d, "weights[j * n_in + i] (output-major, dense_folded)" if d["folded"] else
                     "weights[i * n_out + j]: from input i to output j")


@context("MatMul")
def _matmul(graph: Graph, node: Node, d: dict) -> None:
    b = graph.node(node.inputs[1])
    shape = node.out.shape
    d.update(batch=int(np.prod(shape[:-2], dtype=np.int64)), m=shape[-2], k=node.attrs["k"], n=shape[-1],
             accum_cpp=node.attrs["accum"].to_cpp(), in2_var=var_of(b), in2_typedef=f"{b.name}_t")
