"""How an io_stream design streams: each layer's process, the tokens on its FIFOs, the loops of
its process as design/fifo.py kernels (so the FIFO depths, interval and latency come from one
schedule model), and what a process costs besides its arithmetic (its buffers). folding.plan
costs an io_stream design with it; backend/stream.py writes the processes it describes.

A tensor streams as tokens of its last axis in memory order (a pixel's channels; the whole
vector for a flat tensor), in raster order. A layer's process is one of:

  line_buffer  Conv/Pool reading whole pixels: a line buffer of the window's input rows
               (templates/kernels/qconv_conv.h conv2d_stream / pool2d_stream); per input row,
               in_w reads, then every output row whose window ends on it, R cycles per output
               pixel (fifo.row_buffer)
  token        one token in from each input, one out, at II 1: element-wise layers whose
               per-channel constants repeat within a token, Softmax over the token axis, Concat
               along it (the layer's own kernel on a token)
  rows         a Gather that maps rows to rows, columns to columns and lanes to lanes of a
               (rows, columns, lanes) view, the lane map repeating over a small block of output
               pixels (Resize nearest, Pad, Slice of an image; DepthToSpace): one input row
               buffered (qconv_eltwise.h gather_stream)
  buffered     every other layer: reads its inputs whole, runs its io_parallel code, writes its
               output (Dense on a flat stream, as hls4ml's io_stream dense; MatMul; a Transpose
               or Reshape that changes the token order). Its memory is its input and output arrays.

A line_buffer or rows process writes one stream; with several consumers a clone process copies
it to each (hls4ml's clone layers). Graph inputs go through a split process to their consumers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..ir import Graph, Node
from . import fifo
from .cost import LayerCost, layer_cost, memory_cost

LINE_BUFFER, TOKEN, ROWS, BUFFERED = "line_buffer", "token", "rows", "buffered"


def token_width(shape) -> int:
    """Values per token of a tensor: its last axis in memory order."""
    return int(shape[-1]) if len(shape) else 1


def token_count(shape) -> int:
    return int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1


@dataclass(frozen=True)
class RowMaps:
    """A Gather as out[y, x, l] = in[rows[y], cols[x], lanes[y % pr, x % pc, l]] of (rows, columns,
    lanes) views of its input and output (-1: zero), with `lanes` of shape (pr, pc, output lanes):
    one lane map for every output pixel (pr = pc = 1: Resize, Pad, Slice), or one per position in
    a pr x pc block (DepthToSpace). `rows` is nondecreasing where >= 0, so one input row at a time
    is buffered."""

    rows: np.ndarray
    cols: np.ndarray
    lanes: np.ndarray
    in_shape: tuple[int, int, int]


@dataclass(frozen=True)
class Flow:
    """One layer's process: its kind (module docstring), its output tokens, its distinct producers
    (the streams it reads), whether a clone process copies its one stream to its consumers, and a
    rows process's maps (row_maps, computed once)."""

    kind: str
    width: int
    tokens: int
    reads: tuple[str, ...]
    clone: bool
    maps: RowMaps | None = field(default=None, compare=False, repr=False)


MAX_LANE_PERIOD = 16  # the largest block (pr, pc) of lane maps row_maps looks for


def _view(shape) -> tuple[int, int, int]:
    """(rows, columns, lanes) of a tensor: columns are its second-last axis, lanes its last."""
    s = [int(v) for v in shape] or [1]
    s = [1] * (3 - len(s)) + s if len(s) < 3 else s
    return int(np.prod(s[:-2], dtype=np.int64)), s[-2], s[-1]


def _lane_block(table: np.ndarray, real: np.ndarray) -> np.ndarray | None:
    """The smallest (pr, pc, lanes) block with table[y, x] == block[y % pr, x % pc] at every real
    output pixel (`real`: its row and column read an input), trying pr x pc from 1 x 1 up to
    MAX_LANE_PERIOD each; None if none repeats."""
    ro, co, lo = table.shape
    periods = sorted(((pr, pc) for pr in range(1, min(ro, MAX_LANE_PERIOD) + 1) if ro % pr == 0
                      for pc in range(1, min(co, MAX_LANE_PERIOD) + 1) if co % pc == 0), key=lambda p: p[0] * p[1])
    for pr, pc in periods:
        t = table.reshape(ro // pr, pr, co // pc, pc, lo)
        r = real.reshape(ro // pr, pr, co // pc, pc)
        block = np.full((pr, pc, lo), -1, np.int64)
        for a in range(pr):
            for b in range(pc):
                seen = t[:, a, :, b][r[:, a, :, b]]  # the lane maps of the real pixels at (a, b) in a block
                if seen.size:
                    block[a, b] = seen[0]
        if all((t[:, a, :, b][r[:, a, :, b]] == block[a, b]).all() for a in range(pr) for b in range(pc)):
            return block
    return None


def row_maps(graph: Graph, node: Node) -> RowMaps | None:
    """A Gather's separable maps (RowMaps), or None when its index map is not separable or would
    read input rows out of order."""
    ri, ci, li = _view(graph.node(node.inputs[0]).out.shape)
    ro, co, lo = _view(node.out.shape)
    idx = node.consts["idx"].values.reshape(ro, co, lo)
    ok = idx >= 0
    src_r, src_c, src_l = idx // (ci * li), (idx // li) % ci, idx % li
    rows = np.where(ok.any(axis=(1, 2)), np.where(ok, src_r, -1).max(axis=(1, 2)), -1)
    cols = np.where(ok.any(axis=(0, 2)), np.where(ok, src_c, -1).max(axis=(0, 2)), -1)
    lanes = _lane_block(np.where(ok, src_l, -1), (rows[:, None] >= 0) & (cols[None, :] >= 0))
    if lanes is None:
        return None
    pr, pc, _ = lanes.shape
    lane = lanes[(np.arange(ro) % pr)[:, None], (np.arange(co) % pc)[None, :]]  # (ro, co, lo)
    valid = (rows[:, None, None] >= 0) & (cols[None, :, None] >= 0) & (lane >= 0)
    rebuilt = np.where(valid, (rows[:, None, None] * ci + cols[None, :, None]) * li + lane, -1)
    used = rows[rows >= 0]
    if not np.array_equal(rebuilt, idx) or (np.diff(used) < 0).any():
        return None
    return RowMaps(rows, cols, lanes, (ri, ci, li))


def _reads_pixels(graph: Graph, node: Node) -> bool:
    """A Conv/Pool reading whole pixels (tokens of its channels) and writing them."""
    (h, w, c), (oh, ow, m) = node.attrs["in_hwc"], node.attrs["out_hwc"]
    x = graph.node(node.inputs[0]).out.shape
    return (token_width(x), token_count(x), token_width(node.out.shape), token_count(node.out.shape)) == \
        (c, h * w, m, oh * ow)


def _per_token(graph: Graph, node: Node) -> bool:
    """Whether the layer's own kernel can run on one token at a time (module docstring)."""
    width, n = token_width(node.out.shape), token_count(node.out.shape)
    srcs = [graph.node(s).out.shape for s in node.inputs]
    if any(token_count(s) != n for s in srcs):
        return False
    if node.op == "Concat":
        return node.attrs["axis"] == len(node.out.shape) - 1
    if any(token_width(s) != width for s in srcs):
        return False
    if node.op == "Softmax":
        return node.attrs["inner"] == 1 and node.attrs["n"] == width
    if ops.has(node.op, ops.ALIAS):  # a Reshape keeping the tokens: the same memory, token by token
        return True
    if not ops.has(node.op, ops.ELEMENTWISE):
        return False
    a = node.attrs  # per-channel constants are indexed (i / inner) % period: they must repeat per token
    return "inner" not in a or width % (a["inner"] * a["period"]) == 0


def flow_of(graph: Graph, node: Node) -> Flow:
    width, n = token_width(node.out.shape), token_count(node.out.shape)
    reads = tuple(dict.fromkeys(node.inputs))
    maps = row_maps(graph, node) if node.op == "Gather" else None
    if ops.has(node.op, ops.SPATIAL) and len(reads) == 1 and _reads_pixels(graph, node):
        kind = LINE_BUFFER
    elif maps is not None:
        kind = ROWS
    elif _per_token(graph, node):
        kind = TOKEN
    else:
        kind = BUFFERED
    consumers = len(graph.consumers(node.name)) + graph.outputs.count(node.name)
    return Flow(kind, width, n, reads, kind in (LINE_BUFFER, ROWS) and consumers > 1, maps)


def flows(graph: Graph) -> dict[str, Flow]:
    return {n.name: flow_of(graph, n) for n in graph.topo() if n.op != "Input"}


# ---------------------------------------------------------------------------------------------
# the processes as FIFO-model kernels

def clone_name(name: str) -> str:
    """The FIFO model's name of a layer's clone process (not a C++ name: no node has it)."""
    return f"{name} clone"


def split_name(name: str) -> str:
    return f"{name} split"


def writer(graph: Graph, fl: dict[str, Flow], name: str) -> str:
    """The process writing node `name`'s tokens to its consumers: an input's split, a clone, or
    the layer's own process."""
    if name in graph.inputs:
        return split_name(name)
    return clone_name(name) if fl[name].clone else name


def _rows_kernel(name: str, src: str, maps: RowMaps) -> fifo.Kernel:
    """gather_stream's loops: per output row y, the input rows up to rows[y] are read (one
    iteration per token; earlier ones are dropped), then its columns are written, one per
    iteration; the rows after the last one used are read and dropped at the end."""
    in_rows, in_cols, _ = maps.in_shape
    reads, writes, have = [], [], -1
    for r in maps.rows.tolist():
        if r > have:
            reads.append(np.ones((r - have) * in_cols, np.int64))
            writes.append(np.zeros((r - have) * in_cols, np.int64))
            have = r
        reads.append(np.zeros(maps.cols.size, np.int64))
        writes.append(np.ones(maps.cols.size, np.int64))
    rest = (in_rows - 1 - have) * in_cols
    reads.append(np.ones(rest, np.int64))
    writes.append(np.zeros(rest, np.int64))
    return fifo.Kernel(name, (src,), (np.concatenate(reads),), np.concatenate(writes))


def kernels(graph: Graph, fl: dict[str, Flow], costs: dict[str, LayerCost] | None = None,
            reuse: dict[str, int] | None = None) -> list[fifo.Kernel]:
    """Every process of the design as a fifo.Kernel (module docstring); `reuse`: the layers'
    reuse factors (a line-buffer Conv spends R cycles per output pixel), `costs`: their costs (a
    buffered layer computes for its io_parallel latency between reading and writing)."""
    costs, reuse = costs or {}, reuse or {}
    out = [fifo.elementwise(split_name(i), [f"port {i}"], token_count(graph.node(i).out.shape))
           for i in graph.inputs]
    for name, f in fl.items():
        node = graph.node(name)
        srcs = [writer(graph, fl, s) for s in f.reads]
        if f.kind == LINE_BUFFER:
            (h, w, _), a = node.attrs["in_hwc"], node.attrs
            out.append(fifo.row_buffer(name, srcs[0], h, w, a["kernel"], a["strides"], a["pads"],
                                       a.get("dilations", (1, 1)), out_steps=reuse.get(name, 1)))
        elif f.kind == ROWS:
            out.append(_rows_kernel(name, srcs[0], f.maps))
        elif f.kind == TOKEN:
            out.append(fifo.elementwise(name, srcs, f.tokens))
        else:  # each input whole, in order, the computation, then the output
            out.append(fifo.buffered(name, srcs, [token_count(graph.node(s).out.shape) for s in f.reads], f.tokens,
                                     gap=costs[name].latency if name in costs else 0))
        if f.clone:
            out.append(fifo.elementwise(clone_name(name), [name], f.tokens))
    return out


@dataclass(frozen=True)
class Fifo:
    """One FIFO of the design: between two processes (the FIFO model's names), its depth, its
    token width in bits and its memory."""

    producer: str
    consumer: str
    depth: int
    bits: int
    lut: int
    bram18: int


@dataclass(frozen=True)
class StreamSchedule:
    fifos: tuple[Fifo, ...]
    interval: int
    latency: int


def schedule(graph: Graph, fl: dict[str, Flow], costs: dict[str, LayerCost] | None = None,
             reuse: dict[str, int] | None = None) -> StreamSchedule:
    """Every FIFO's depth (fifo.fifo_depths keeping the outputs' cycles for two samples back to
    back) and memory, and the schedule's interval and latency in cycles."""
    ks = kernels(graph, fl, costs, reuse)
    depths = fifo.fifo_depths(ks, preserve="outputs", samples=2)
    producer_node = {writer(graph, fl, n): n for n in [*graph.inputs, *fl]}
    producer_node.update({n: n for n in fl})
    fifos = []
    for (p, c), depth in depths.items():
        node = graph.node(producer_node[p])
        bits = token_width(node.out.shape) * node.out.fixed.width
        mem = fifo.fifo_memory(depth, bits)
        fifos.append(Fifo(p, c, depth, bits, mem.lut, mem.bram18))
    # the depths keep every output token's cycle, so the unbounded schedule (fast) has the outputs'
    # cycles of the bounded one: its latency and interval
    s = fifo.simulate(ks, None, samples=2)
    return StreamSchedule(tuple(fifos), s.interval, s.latency)


# ---------------------------------------------------------------------------------------------
# what a process costs

def _line_buffer_rows(node: Node) -> int:
    kh, dh = node.attrs["kernel"][0], node.attrs.get("dilations", (1, 1))[0]
    return min(dh * (kh - 1) + 1, node.attrs["in_hwc"][0])


def stream_cost(graph: Graph, node: Node, f: Flow, reuse: int = 1, parallel: int = 1, strategy: str = "latency",
                clock_ns: float = 5.0, facts=None) -> LayerCost:
    """The layer's cost as an io_stream process: its arithmetic as cost.layer_cost counts it (a
    line buffer or token process on one pixel/token per step), its output a token register
    instead of a feature map of registers, plus its buffers as memories (cost.memory_cost:
    LUTRAM below 64 words, else BRAM18): a line buffer's rows (one memory of in_w pixel words
    per row: the kernel addresses rows[y % RB]), a rows Gather's input row, a buffered layer's
    input and output arrays (one value per word, in as many banks as its loop body reads values
    per cycle, two per dual-port bank, UG573; a one-word bank is a register). Data operands come
    from these memories, not through register muxes (layer_cost `windowed`). interval: the process's iterations
    (fifo kernels); latency: its compute latency (the schedule adds the waits)."""
    bits = node.out.fixed.width
    if f.kind == TOKEN:
        c = layer_cost(graph, node, clock_ns=clock_ns, elements=f.width)
    else:
        c = layer_cost(graph, node, reuse, parallel, strategy, clock_ns, facts, windowed=True)
    c.ff += (f.width - c.partitioned.pop(node.name, 0)) * bits  # its output registers: one token
    mems: list[tuple[int, int]] = []
    if f.kind == LINE_BUFFER:
        _, w, ch = node.attrs["in_hwc"]
        x = graph.node(node.inputs[0]).out.fixed.width
        mems = [(w, ch * x)] * _line_buffer_rows(node)
        c.interval = int(np.prod(node.attrs["in_hwc"][:2])) + f.tokens * reuse
    elif f.kind == ROWS:  # reads and writes one after another (_rows_kernel): every input and output token
        _, cols, lanes = _view(graph.node(node.inputs[0]).out.shape)
        mems = [(cols, lanes * bits)]
        c.interval = f.tokens + token_count(graph.node(node.inputs[0]).out.shape)
    elif f.kind == TOKEN:
        c.interval = f.tokens
    else:  # each array in as many banks as the values its loop body reads in a cycle, two per bank
        ports = max(1, -(-c.unrolled // 2))
        for size, width in [(graph.node(s).out.size, graph.node(s).out.fixed.width) for s in f.reads] + \
                [(node.out.size, bits)]:
            banks = min(size, ports)
            mems += [(-(-size // banks), width)] * banks
        c.interval = sum(token_count(graph.node(s).out.shape) for s in f.reads) + c.interval + f.tokens
    for depth, width in mems:
        bram, lut = memory_cost(depth, width)
        c.bram18, c.lut, c.ff = c.bram18 + bram, c.lut + lut, c.ff + (width if depth <= 1 else 0)
    return c

