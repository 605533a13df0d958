"""Template context of the threshold family (Thresholds): what `templates/layers/Thresholds.j2`
needs besides the common fields (backend/context.py), including its constant arrays."""

from __future__ import annotations

from ..ir import Graph, Node
from .context import array, context, raw_ctype


@context("Thresholds")
def _thresholds(graph: Graph, node: Node, d: dict) -> None:
    thr, levels = node.consts["thresholds"], node.consts["levels"]
    d.update(n_thr=thr.values.shape[1], inner=node.attrs["inner"], period=node.attrs["period"],
             thr_raw=raw_ctype(thr.fixed, thr.values), level_raw=raw_ctype(levels.fixed))
    d["arrays"].append(array(f"{node.name}_thr", thr, "input mantissas where the output steps up"))
    d["arrays"].append(array(f"{node.name}_levels", levels, "output for 0..n_thr thresholds passed"))
