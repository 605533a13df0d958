"""io_stream projects (architecture.StreamArchitecture): the template fields of each layer's
process as design/dataflow.py describes it (line buffer, token, rows, buffered), its FIFOs and
their depths (the design's FIFO model)."""

from __future__ import annotations

from .. import ops
from ..design import dataflow
from ..design.folding import Design
from ..ir import Graph
from .context import var_of


def stream_context(graph: Graph, ports: list[dict], tensors: list[dict], layers: list[dict], design: Design) -> None:
    """io_stream: a token type per tensor, one FIFO per (producer, distinct consumer) and per output
    port (numbered: no two names can meet), each layer's reads (its distinct producers, into the
    arrays or token pointers its code reads) and writes, and a split process per input port."""
    flows = design.flows
    depth = {(f.producer, f.consumer): f for f in design.fifos}
    by_name = {t["name"]: t for t in tensors}
    for t, n in zip(tensors, graph.topo()):
        t.update(width=dataflow.token_width(n.out.shape), tokens=dataflow.token_count(n.out.shape),
                 tok=f"{n.name}_tok_t", streams=[], writes=[])
    fifo_of = {}  # (producer node, consumer node) -> its FIFO

    def add_fifo(t: dict, src: str, dst: str | None) -> str:
        var = f"s{len(fifo_of)}_{src}_{dst or 'lb'}"
        fifo_of[(src, dst)] = var
        model = (src, dataflow.clone_name(src)) if dst is None else (dataflow.writer(graph, flows, src), dst)
        f = depth[model]
        t["streams"].append({"var": var, "tok": t["tok"], "depth": f.depth})
        return var

    for node in graph.topo():
        for src in dict.fromkeys(node.inputs):
            by_name[src]["writes"].append(add_fifo(by_name[src], src, node.name))
    for i, out_node in enumerate(graph.outputs):
        by_name[out_node]["writes"].append(f"out{i}")
    for port in ports:
        t = by_name[port["node"]]
        port.update(tok=t["tok"], width=t["width"])
        if port["is_input"]:
            port.update(writes=t["writes"], tokens=t["tokens"])
    for layer in layers:
        node, t, f = graph.node(layer["name"]), by_name[layer["name"]], flows[layer["name"]]
        layer.update(tok=t["tok"], width=t["width"], tokens=t["tokens"], writes=t["writes"], flow=f.kind, reads=[
            {"src": src, "stream": fifo_of[(src, node.name)], "tok": by_name[src]["tok"],
             "var": var_of(graph.node(src)), "typedef": f"{src}_t", "size": graph.node(src).out.size,
             "width": by_name[src]["width"], "tokens": by_name[src]["tokens"]} for src in f.reads])
        if f.kind in (dataflow.LINE_BUFFER, dataflow.ROWS):  # a kernel over a buffer, writing one stream
            out = add_fifo(t, node.name, None) if f.clone else layer["writes"][0]
            layer["stream_kernel"] = {"kernel": f"qconv::{ops.TABLE[node.op].kernel}_stream",
                                      "stream": out}
            if f.kind == dataflow.ROWS:
                _rows_context(node, f.maps, layer)
        elif f.kind == dataflow.TOKEN:  # the layer's own code on one token at a time: no buffer
            layer["per_token"] = {**layer, "config": f"config_{node.name}_tok", "out_size": t["width"],
                                  "in_size": t["width"], "outer": 1}
            for r in layer["reads"]:
                r["size"] = r["width"]


def _rows_context(node, maps: dataflow.RowMaps, layer: dict) -> None:
    """A rows Gather's maps (dataflow.RowMaps) as constant arrays, and its view's sizes."""
    pr, pc, lo = maps.lanes.shape
    layer["rows"] = {"in_rows": maps.in_shape[0], "in_cols": maps.in_shape[1], "in_lanes": maps.in_shape[2],
                     "out_rows": maps.rows.size, "out_cols": maps.cols.size, "out_lanes": lo, "lane_rows": pr,
                     "lane_cols": pc}
    layer["arrays"] = [{"var": f"{node.name}_{k}", "ctype": "int", "size": v.size,
                        "data": ",".join(map(str, v.tolist())), "doc": doc, "pragma": f"// {node.name}_{k}: a ROM"}
                       for k, v, doc in (("rows", maps.rows, "input row of each output row (-1: zero)"),
                                         ("cols", maps.cols, "input column of each output column (-1: zero)"),
                                         ("lanes", maps.lanes.reshape(-1),
                                          "input lane of output lane l at pixel (y, x): lanes[((y % lane_rows) * "
                                          "lane_cols + x % lane_cols) * out_lanes + l] (-1: zero)"))]
