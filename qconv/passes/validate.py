"""Check that the graph is ready for simulation and code generation.

Every tensor has a type; mantissas fit the simulator's int64 arithmetic (63 bits), and Dense
accumulators too. Anything else is a clear error naming the layer.
"""

from __future__ import annotations

from .. import ops
from ..errors import TypeOverflowError, UnsupportedError
from ..ir import Graph
from .options import Options

MAX_WIDTH = 63


def apply(graph: Graph, options: Options) -> Graph:
    for node in graph.topo():
        if node.op not in ops.VALID:  # the op table (qconv/ops.py) without transient ops (Quant)
            raise UnsupportedError(f"{node.describe()}: no kernel for IR op {node.op}")
        types = [("output", node.out.fixed), ("accumulator", node.attrs.get("accum"))]
        types += [(f"constant {k}", c.fixed) for k, c in node.consts.items()]
        for what, t in types:
            if what == "output" and t is None:
                raise UnsupportedError(f"{node.describe()}: output has no fixed-point type")
            if t is not None and t.width > MAX_WIDTH:
                raise TypeOverflowError(
                    f"{node.describe()}: {what} type {t.to_cpp()} is wider than {MAX_WIDTH} bits; "
                    "narrow the quantizers or give the layer an output quantizer")
    return graph
