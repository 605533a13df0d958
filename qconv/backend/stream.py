"""io_stream projects (architecture.StreamArchitecture): how each layer streams and how deep its
FIFOs are. A layer runs over a line buffer (Conv, Pool reading whole pixels: conv2d_stream,
pool2d_stream), token by token (element-wise layers whose constants repeat within a token), or
buffered (every other layer: it reads its inputs whole, runs its io_parallel code, streams its
output). The FIFO depths come from design/fifo.py's cycle-level model of that schedule."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..design import fifo
from ..ir import Graph
from .context import var_of


def _width(shape) -> int:
    """Values per io_stream token of a tensor: its last axis in memory order (a pixel's channels)."""
    return int(shape[-1]) if len(shape) else 1


def stream_context(graph: Graph, ports: list[dict], tensors: list[dict], layers: list[dict]) -> None:
    """io_stream: a token type per tensor, one FIFO per (producer, distinct consumer) and per output
    port, each layer's reads (its distinct producers, into the arrays its io_parallel code reads)
    and writes, and a process splitting each input port to its consumers."""
    by_name = {t["name"]: t for t in tensors}
    for t, n in zip(tensors, graph.topo()):
        t.update(width=_width(n.out.shape), tokens=n.out.size // _width(n.out.shape), tok=f"{n.name}_tok_t",
                 streams=[], writes=[])
    fifo_of = {}  # (producer node, consumer node) -> its FIFO (numbered: no two names can meet)

    def add_fifo(t: dict, src: str, dst: str | None, bits: int) -> str:
        var = f"s{len(fifo_of)}_{src}_{dst or 'lb'}"
        fifo_of[(src, dst)] = var
        t["streams"].append({"var": var, "tok": t["tok"], "depth": None, "producer": src, "consumer": dst,
                             "bits": bits})
        return var

    for node in graph.topo():
        for src in dict.fromkeys(node.inputs):
            t = by_name[src]
            t["writes"].append(add_fifo(t, src, node.name, t["width"] * graph.node(src).out.fixed.width))
    for i, out_node in enumerate(graph.outputs):
        by_name[out_node]["writes"].append(f"out{i}")
    for port in ports:
        t = by_name[port["node"]]
        port.update(tok=t["tok"], width=t["width"])
        if port["is_input"]:
            port.update(writes=t["writes"], tokens=t["tokens"])
    for layer in layers:
        node, t = graph.node(layer["name"]), by_name[layer["name"]]
        layer.update(tok=t["tok"], width=t["width"], tokens=t["tokens"], writes=t["writes"], reads=[
            {"src": src, "stream": fifo_of[(src, node.name)], "tok": by_name[src]["tok"],
             "var": var_of(graph.node(src)), "typedef": f"{src}_t", "size": graph.node(src).out.size,
             "width": by_name[src]["width"], "tokens": by_name[src]["tokens"]} for src in dict.fromkeys(node.inputs)])
        if _line_buffer(node, layer):  # conv/pool over a line buffer of a few input rows
            clone = len(layer["writes"]) > 1  # then its one output FIFO, and a clone process to each consumer
            out = add_fifo(t, node.name, None, t["width"] * node.out.fixed.width) if clone else layer["writes"][0]
            layer["line_buffer"] = {"kernel": f"qconv::{ops.TABLE[node.op].kernel}_stream", "stream": out}
        elif _per_token(node, layer):  # the layer's own code on one token at a time: no buffer
            layer["per_token"] = {**layer, "config": f"config_{node.name}_tok", "out_size": t["width"],
                                  "in_size": t["width"]}
            for r in layer["reads"]:
                r["size"] = r["width"]
    layer_of = {layer["name"]: layer for layer in layers}
    for t in tensors:  # each FIFO between two processes of the FIFO model (fifo_kernels' names)
        for st in t["streams"]:
            st["model"] = ((st["producer"], _clone(st["producer"])) if st["consumer"] is None else
                           (_process(graph, st["producer"], layer_of), st["consumer"]))


def _line_buffer(node, layer: dict) -> bool:
    """Whether a Conv/Pool reads whole pixels (tokens of its channels, in raster order) and writes
    them: then it runs over a line buffer (conv2d_stream / pool2d_stream)."""
    if not ops.has(node.op, ops.SPATIAL) or len(layer["reads"]) != 1:
        return False
    (h, w, c), (oh, ow, m) = node.attrs["in_hwc"], node.attrs["out_hwc"]
    r = layer["reads"][0]
    return (r["width"], r["tokens"], layer["width"], layer["tokens"]) == (c, h * w, m, oh * ow)


def _per_token(node, layer: dict) -> bool:
    """Whether an element-wise layer can run token by token: every input arrives in tokens of its
    output's width, and its per-channel constants repeat within a token (the kernels index them by
    (i / inner) % period of the element index, which a token's own index then gives)."""
    if not ops.has(node.op, ops.ELEMENTWISE):
        return False
    width = layer["width"]
    if any(r["width"] != width or r["tokens"] != layer["tokens"] for r in layer["reads"]):
        return False
    return "inner" not in layer or width % (layer["inner"] * layer["period"]) == 0


def _clone(name: str) -> str:
    """The FIFO model's name of a line buffer's clone process (not a C++ name: no node has it)."""
    return f"{name} clone"


def _process(graph: Graph, name: str, layers: dict) -> str:
    """The FIFO model's name of the process that writes node `name`'s tokens to its consumers:
    an input port's split, a line buffer's clone, or the layer's own process."""
    if name in graph.inputs:
        return f"{name} split"
    return _clone(name) if "line_buffer" in layers[name] and len(layers[name]["writes"]) > 1 else name


def fifo_kernels(graph: Graph, ports: list[dict], layers: list[dict]) -> list[fifo.Kernel]:
    """The design's processes as design/fifo.py kernels, each with the loop the template writes."""
    by_name = {layer["name"]: layer for layer in layers}
    kernels = [fifo.elementwise(_process(graph, p["node"], by_name), [f"port {p['var']}"], p["tokens"])
               for p in ports if p["is_input"]]
    for layer in layers:
        node, name = graph.node(layer["name"]), layer["name"]
        srcs = [_process(graph, r["src"], by_name) for r in layer["reads"]]
        if "line_buffer" in layer:
            (h, w, _), a = node.attrs["in_hwc"], node.attrs
            kernels.append(fifo.row_buffer(name, srcs[0], h, w, a["kernel"], a["strides"], a["pads"],
                                           a.get("dilations", (1, 1))))
            if len(layer["writes"]) > 1:
                kernels.append(fifo.elementwise(_clone(name), [name], layer["tokens"]))
        elif "per_token" in layer:
            kernels.append(fifo.elementwise(name, srcs, layer["tokens"]))
        else:  # buffered: each input whole, in order, then the output
            counts = [r["tokens"] for r in layer["reads"]]
            n = sum(counts) + layer["tokens"]
            reads, start = [], 0
            for c in counts:
                r = np.zeros(n, np.int64)
                r[start:start + c] = 1
                reads.append(r)
                start += c
            writes = np.zeros(n, np.int64)
            writes[start:] = 1
            kernels.append(fifo.Kernel(name, tuple(srcs), tuple(reads), writes))
    return kernels


def set_fifo_depths(graph: Graph, ports: list[dict], layers: list[dict], streams: list[dict]) -> dict:
    """Every FIFO's depth from the model (fifo.fifo_depths, keeping the outputs' cycles for two
    samples back to back), and its memory; returns the schedule's interval and latency in cycles."""
    kernels = fifo_kernels(graph, ports, layers)
    depths = fifo.fifo_depths(kernels, preserve="outputs", samples=2)
    for st in streams:
        st["depth"] = depths[st["model"]]
        mem = fifo.fifo_memory(st["depth"], st["bits"])
        st.update(lut=mem.lut, bram18=mem.bram18)
    # the depths keep every output token's cycle, so the unbounded schedule (fast) has the outputs'
    # cycles of the bounded one: its latency and interval
    schedule = fifo.simulate(kernels, None, samples=2)
    return {"interval": schedule.interval, "latency": schedule.latency}
