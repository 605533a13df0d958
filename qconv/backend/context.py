"""The template context of a layer: the common fields (names, types, sizes, its template and
architecture) and the registry of per-(op, architecture) additions (`context`); the family modules
(`dense.py`, `conv.py`, `eltwise.py`, `activation.py`, `threshold.py`) register theirs, and `project.py`
imports them all so that every op is registered before a project is written.
Also the helpers they share: C integer types of mantissas, constant arrays for weights/<layer>.h.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ops
from ..design.cost import fold_shape
from ..fixed import FixedType
from ..ir import Const, Graph, Node
from .architecture import ARCHITECTURES, IO_PARALLEL, Architecture

# (IR op, architecture name) -> the function adding the op's fields to its layer context
CONTEXT: dict[tuple[str, str], Callable] = {}


def context(*ops: str, archs: tuple[str, ...] = tuple(ARCHITECTURES)):
    def register(fn):
        for op in ops:
            for arch in archs:
                CONTEXT[(op, arch)] = fn
        return fn
    return register


def raw_ctype(t: FixedType, values: np.ndarray | None = None) -> str:
    """The narrowest C integer type holding every mantissa of `t` (and every value given, e.g.
    thresholds one past the type's range)."""
    bits = t.width + (0 if t.signed else 1)
    if values is not None and values.size:  # two's complement bits of the extremes
        lo, hi = int(values.min()), int(values.max())
        bits = max(bits, (-lo - 1).bit_length() + 1 if lo < 0 else 1, hi.bit_length() + 1)
    return next(f"int{n}_t" for n in (8, 16, 32, 64) if bits <= n or n == 64)


def ints(values: np.ndarray) -> str:
    return ",".join(map(str, np.asarray(values, np.int64).reshape(-1).tolist()))


def array(var: str, c: Const, doc: str, pragma: str | None = None) -> dict:
    """A constant array of weights/<layer>.h; `pragma`: how the top function stores it (default:
    partitioned into registers)."""
    return {"var": var, "ctype": raw_ctype(c.fixed, c.values), "size": c.values.size, "data": ints(c.values),
            "doc": f"{doc}; mantissas of {c.fixed.to_cpp()}", "pragma": pragma}


def var_of(node: Node) -> str:
    """The C++ array holding a node's output."""
    return node.name if node.op == "Input" else f"{node.name}_out"


def layer_context(graph: Graph, node: Node, arch: Architecture = IO_PARALLEL, folding: dict | None = None) -> dict:
    """`folding`: the layer's reuse_factor, parallelization, strategy and folded (design/folding.py
    LayerDesign.as_dict()); default everything at once."""
    src = graph.node(node.inputs[0])
    f = folding or {"reuse_factor": 1, "parallelization": 1, "strategy": "latency", "schedule": "parallel"}
    d = {
        "folded": f["schedule"] == "folded", "reuse_factor": f["reuse_factor"], "parallel": f["parallelization"],
        "strategy": f["strategy"], "adder_graph": f.get("adder_graph"),
        "block": -(-fold_shape(node)[1] // f["reuse_factor"]) if ops.has(node.op, ops.FOLDS) else 0,
        "name": node.name, "op": node.op, "origin": node.origin or node.op, "arrays": [], "config": f"config_{node.name}",
        "arch": arch, "template": arch.layer_template(node.op), "config_base": arch.config_base,
        "in_var": var_of(src), "in_typedef": f"{src.name}_t", "in_cpp": src.out.fixed.to_cpp(),
        "out_var": var_of(node), "out_typedef": f"{node.name}_t",
        "out_size": node.out.size, "out_cpp": node.out.fixed.to_cpp(), "in_size": src.out.size,
    }
    if (node.op, arch.name) in CONTEXT:
        CONTEXT[(node.op, arch.name)](graph, node, d)
    for a in d["arrays"]:
        a["pragma"] = a.get("pragma") or arch.partition(a["var"])
    if ops.has(node.op, ops.FOLDS):  # the kernel: every output at once, the folded schedule, or an adder graph
        variant = "_da" if d["adder_graph"] is not None else "_folded" if d["folded"] else ""
        d["kernel"] = f"qconv::{ops.TABLE[node.op].kernel}{variant}"
    return d
