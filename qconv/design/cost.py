"""The per-layer cost and time model of an io_parallel design: DSP, LUT, FF, BRAM18, URAM, the
interval (cycles between samples) and the latency (cycles from input to output) of each layer at
its reuse factor R, parallelization P and strategy (folding.LayerDesign), and the numbers the
synthesizability guard checks (operations unrolled in one cycle, array elements partitioned).

Every formula names its source. UG579 is the UltraScale DSP48E2 user guide, UG574 the
UltraScale CLB user guide, UG573 the UltraScale memory resources user guide; "hls4ml" means
hls4ml's nnet_utils kernels (nnet_dense_latency.h, nnet_dense_resource.h), whose schedule the
generated kernels follow (templates/kernels/qconv_dense.h, qconv_conv.h). Calibration and how
far off the numbers can be: README "Cost model" and bench/published.md. These are estimates,
not synthesis results.

Multipliers (`mult_cost`)
  A product is a DSP48E2 when both operands are at least DSP_MIN_BITS wide (narrower products
  are LUT logic in Vivado/Vitis HLS; hls4ml's papers report the same threshold): one DSP per
  27 x 18 tile, ceil(Wx/27) * ceil(Ww/18) (UG579: a 27 x 18 two's-complement multiplier).
  A LUT multiplier costs ceil(Wx * Ww / 2) LUT6 (one LUT6 makes two partial-product bits with
  the carry chain; UG574 ch. 2).
  Constant weights (R = 1: every multiplier always sees the same weight) cost what their kind
  costs (report.multiplier kinds): `fixed` a multiplier as above; `shift`, `mux`, `xnor` and
  zero weights nothing (wiring, a negation folded into the adder; synthesis removes zero
  products). With R > 1 a multiplier sees R weights, so it is a general multiplier of the
  kind's effective weight bits.
Adders: one LUT per bit (UG574: LUT + CARRY8 per bit of a ripple adder); every product is
  added into an accumulator of the layer's accumulator width, every bias once per output.
Multiplexers: an N:1 mux is ceil(N / 4) LUT6 per bit (UG574: a LUT6 is a 4:1 mux; F7/F8 muxes
  join them). A folded multiplier selects its data operand among the inputs it visits.
Weights of a folded layer (R > 1), RN = ceil(products / block) of them per multiplier (R when R
  divides the products): latency strategy, a ROM per multiplier of RN entries in LUTs,
  ceil(RN / 64) LUT6 per weight bit (UG574: a LUT6 is a 64 x 1 ROM); resource strategy, one
  memory of depth RN and width block * Ww bits in BRAM18 in the cheapest aspect ratio of
  16K x 1 ... 512 x 36 (UG573 table 1-3), or LUTRAM (ceil(RN / 64) LUT6 per bit) below 64 entries.
Strategy da (design/da.py): no multiplier; the adder graph's adders cost one LUT per bit, like
  every adder here, plus the bias additions; registers between da4ml's pipeline stages and for
  the output; latency: the graph's adder depth at ADD_LEVELS_PER_NS.
Lookup tables (Table, Softmax's exp): one read per element, a LUT ROM each, or a dual-port BRAM
  ROM (UG573) for every two elements when the table is LUT_ROM_DEPTH entries or more.
Registers (FF): every layer's output array in io_parallel is registers (its bits); a folded
  layer also keeps its accumulators and a product register per LUT multiplier (a DSP48E2 has
  its own M register, UG579; hls4ml's kernels register products and sums the same way); an
  unfolded layer's pipelined adder tree registers
  PIPELINE_FF * products * accumulator bits (fitted to hls4ml's jet tagger at RF 1: 26,905 FF
  for 3,917 products of 16-bit sums).
Time: an unfolded layer finishes in its pipeline depth: MULT_CYCLES for the products (DSP48E2
  product) plus the adder tree, ceil(log2(terms)) levels of which ADD_LEVELS_PER_NS * clock fit in
  a cycle; interval 1. A folded layer runs ceil(units / P) * R steps of a pipelined loop (II 1):
  interval = steps, latency = steps + 1 + MULT_CYCLES. Element-wise layers: 1 cycle (0 for moves
  and Relu/Cast); Softmax 1 + its sum's adder tree. The constants were fitted to hls4ml's
  jet tagger at RF 1 and 4 (bench/published.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..fixed import FixedType
from ..ir import Graph, Node
from ..numeric import po2_exponents
from .da import AdderGraph

DSP_MIN_BITS = 10              # narrower products are LUT logic (see the module docstring)
DSP_A, DSP_B = 27, 18          # UG579: the DSP48E2 multiplier is 27 x 18
LUT_ROM_DEPTH = 64             # UG574: a LUT6 is a 64 x 1 ROM / distributed RAM
MUX_PER_LUT = 4                # UG574: a LUT6 is a 4:1 mux
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))  # UG573 (depth, width)
MULT_CYCLES = {"dsp": 1, "lut": 1, "free": 0}   # a registered product (calibrated, bench/published.md)
PIPELINE_FF = 0.4             # registered partial sums per product bit of an unfolded adder tree (calibrated)
ADD_LEVELS_PER_NS = 1.2        # adder-tree levels per ns of clock (6 at 5 ns; calibrated, bench/published.md)
BINARY_TERNARY = ("binary", "stochastic_binary", "bernoulli", "ternary", "stochastic_ternary")


@dataclass
class LayerCost:
    """What one layer costs and how long it takes (module docstring)."""

    dsp: int = 0
    lut: int = 0
    ff: int = 0
    bram18: int = 0
    uram: int = 0
    interval: int = 1          # cycles between two samples
    latency: int = 0           # cycles from its input to its output
    multipliers: int = 0       # multiplier instances (constant-weight ones only where they cost)
    unrolled: int = 0          # operations one cycle of its loop body does (the guard's unroll size)
    partitioned: dict[str, int] = field(default_factory=dict)  # array -> elements split into registers


def mult_cost(wx: int, ww: int) -> tuple[int, int]:
    """(DSP, LUT) of one general multiplier of a Wx-bit by a Ww-bit operand."""
    if min(wx, ww) >= DSP_MIN_BITS:
        return math.ceil(wx / DSP_A) * math.ceil(ww / DSP_B), 0
    return 0, math.ceil(wx * ww / 2)


def _mult_cycles(wx: int, ww: int, free: bool = False) -> int:
    if free:
        return MULT_CYCLES["free"]
    return MULT_CYCLES["dsp" if min(wx, ww) >= DSP_MIN_BITS else "lut"]


def adder_cycles(terms: int, clock_ns: float) -> int:
    """Cycles of an adder tree over `terms` values (module docstring)."""
    levels = math.ceil(math.log2(terms)) if terms > 1 else 0
    return math.ceil(levels / max(1.0, ADD_LEVELS_PER_NS * clock_ns))


def mux_luts(n: int, bits: int) -> int:
    return 0 if n <= 1 else math.ceil(n / MUX_PER_LUT) * bits


def memory_cost(depth: int, width: int) -> tuple[int, int]:
    """(BRAM18, LUT) of a memory `depth` words of `width` bits: LUTRAM below LUT_ROM_DEPTH words,
    else BRAM18 blocks in the aspect ratio needing fewest (UG573)."""
    if depth <= 1 or width == 0:
        return 0, 0
    if depth < LUT_ROM_DEPTH:
        return 0, math.ceil(depth / LUT_ROM_DEPTH) * width
    return bram18_blocks(depth, width), 0


def bram18_blocks(depth: int, width: int) -> int:
    """BRAM18s holding `depth` words of `width` bits in the aspect ratio needing fewest (UG573)."""
    return min(-(-depth // d) * -(-width // w) for d, w in BRAM18_SHAPES)


# ---------------------------------------------------------------------------------------------
# multiplier kinds (report.py shows them; the cost below uses them)

def bipolar_input(graph: Graph, node: Node) -> bool:
    """True when the layer's input only takes two opposite values (BipolarQuant, binary tables)."""
    p = graph.node(node.inputs[0])
    while ops.has(p.op, ops.LAYOUT) and p.inputs:
        p = graph.node(p.inputs[0])
    levels = ops.TABLE[p.op].levels  # Table, Thresholds: the constant of every value the output takes
    c = p.consts.get(levels) if levels else None
    if c is None:
        return False
    v = np.unique(c.values)
    return v.size == 2 and v[0] == -v[1]


def columns(node: Node) -> np.ndarray:
    """A weighted layer's weights as (products per output, outputs)."""
    w = node.consts["W"].values
    return w if node.op == "Dense" else w.reshape(w.shape[0], -1).T


def multiplier_kind(node: Node, x_type: FixedType, bipolar: bool = False) -> tuple[str, int]:
    """(kind, effective weight bits) of a Dense/Conv layer's multipliers: ``xnor`` (+-1 input times
    +-1 weights), ``mux`` (per output a single power-of-two magnitude: binary/ternary), ``shift``
    (every nonzero weight a power of two), ``fixed``; from the quantizer a config recorded or
    else the weight values. `bipolar`: the input is +-a only (then binary weights make an xnor)."""
    name = getattr((node.attrs.get("qkeras") or {}).get("kernel_quantizer"), "name", "")
    cols = columns(node)
    nz = cols[cols != 0]
    if nz.size == 0:
        return "mux", 1
    po2 = po2_exponents(np.abs(nz)) is not None
    single = po2 and all(np.unique(np.abs(c[c != 0])).size <= 1 for c in cols.T)
    if name in BINARY_TERNARY or (single and "po2" not in name):
        bits = 2 if ("ternary" in name or bool(np.any(cols == 0))) else 1
        return ("xnor" if (bipolar or x_type.width == 1) and bits == 1 else "mux"), bits
    if "po2" in name or po2:
        return "shift", 1 + max(1, math.ceil(math.log2(np.unique(np.abs(nz)).size)))
    return "fixed", node.consts["W"].fixed.width


# ---------------------------------------------------------------------------------------------
# the folded shape of a layer

def fold_shape(node: Node) -> tuple[int, int]:
    """(units, products per unit) of a layer that folds (ops.FOLDS): the units are what the
    parallelization counts (Conv/Pool output pixels, MatMul output rows, one for Dense); the
    products are what the reuse factor divides (0 for Pool)."""
    if node.op == "Dense":
        return 1, int(node.consts["W"].values.size)
    if node.op == "MatMul":
        shape = node.out.shape
        return int(np.prod(shape[:-1], dtype=np.int64)), int(shape[-1]) * int(node.attrs["k"])
    oh, ow, _ = node.attrs["out_hwc"]
    return int(oh * ow), (int(node.consts["W"].values.size) if node.op == "Conv" else 0)


def is_folded(node: Node, reuse: int, parallel: int) -> bool:
    """Whether a layer runs the folded schedule (a pipelined loop) rather than everything at once."""
    if not ops.has(node.op, ops.FOLDS):
        return False
    units, _ = fold_shape(node)
    return reuse > 1 or parallel < units


# ---------------------------------------------------------------------------------------------
# per-op cost

def _x(graph: Graph, node: Node, i: int = 0) -> FixedType:
    return graph.node(node.inputs[i]).out.fixed


def _x_size(graph: Graph, node: Node) -> int:
    return graph.node(node.inputs[0]).out.size


@dataclass(frozen=True)
class WeightFacts:
    """What the cost of a weighted layer needs from its weights, computed once (`weight_facts`)."""

    kind: str       # multiplier_kind
    wbits: int      # its effective weight bits
    terms: int      # products per output
    n_out: int      # outputs per unit (Dense outputs, Conv filters)
    nonzero: int    # nonzero weights


def weight_facts(graph: Graph, node: Node) -> WeightFacts:
    cols = columns(node)
    kind, wbits = multiplier_kind(node, _x(graph, node), bipolar_input(graph, node))
    return WeightFacts(kind, wbits, int(cols.shape[0]), int(cols.shape[1]), int(np.count_nonzero(cols)))


def _adder_graph_cost(node: Node, adders: AdderGraph, clock: float, parallel: int = 1) -> LayerCost:
    """Strategy da (design/da.py): no multiplier; one LUT per adder bit (UG574: LUT + carry per
    bit; Yosys counted 0.94-1.15x of it on four networks, README 'Verilog backend') for the graph
    and the bias additions, registers for the output and between da4ml's pipeline stages;
    latency: the graph's adder depth (plus the bias level) at ADD_LEVELS_PER_NS. A Conv's filter
    bank graph runs for P output pixels at once (P copies), ceil(pixels / P) steps a sample."""
    acc, n_out = node.attrs["accum"], int(node.out.size)
    units = fold_shape(node)[0]
    copies = min(parallel, units)
    steps = -(-units // copies)
    has_bias = node.consts.get("b") is not None
    n_filt = n_out // units  # outputs of one graph evaluation
    c = LayerCost(unrolled=adders.adders * copies)
    c.lut = (adders.adder_bits + (n_filt * acc.width if has_bias else 0)) * copies
    c.ff = adders.stage_bits * copies + node.out.size * node.out.fixed.width
    c.latency = math.ceil((adders.depth + has_bias) / max(1.0, ADD_LEVELS_PER_NS * clock)) + steps - 1
    c.interval = steps
    c.partitioned[node.name] = node.out.size
    return c


def _weighted(graph: Graph, node: Node, reuse: int, parallel: int, strategy: str, clock: float,
              facts: WeightFacts | None = None, windowed: bool = False) -> LayerCost:
    """Dense and Conv (module docstring); `windowed`: the data comes from memories (an io_stream
    line buffer's window, a buffered process's input array), so a product slot selects among the
    R values it visits, not among every input through a register mux."""
    x, w, acc = _x(graph, node), node.consts["W"], node.attrs["accum"]
    units, products = fold_shape(node)
    p = min(parallel, units)
    f = facts or weight_facts(graph, node)
    kind, wbits, terms, n_out = f.kind, f.wbits, f.terms, f.n_out
    has_bias = node.consts.get("b") is not None
    c = LayerCost()
    if reuse == 1:  # constant weights: only nonzero `fixed` products cost a multiplier
        nonzero = f.nonzero * p
        dsp, lut = mult_cost(x.width, w.fixed.width) if kind == "fixed" else (0, 0)
        c.dsp, c.lut = nonzero * dsp, nonzero * lut + (nonzero + (n_out * p if has_bias else 0)) * acc.width
        c.multipliers, c.unrolled = nonzero if kind == "fixed" else 0, products * p
        c.ff = math.ceil(PIPELINE_FF * nonzero * acc.width)
        mult = _mult_cycles(x.width, w.fixed.width, kind != "fixed")
    else:           # general multipliers, each fed by a weight memory and a data mux
        block = math.ceil(products / reuse)
        dsp, lut = mult_cost(x.width, wbits)
        c.multipliers = c.unrolled = block * p
        c.dsp = c.multipliers * dsp
        c.lut = c.multipliers * (lut + acc.width) + (n_out * p if has_bias else 0) * acc.width
        c.ff = 0 if dsp else c.multipliers * (x.width + wbits)  # a DSP48E2 registers its product itself (UG579)
        depth = -(-products // block)  # RN: the weights a multiplier reads (the kernels' step count)
        if strategy == "resource":
            c.bram18, rom = memory_cost(depth, block * w.fixed.width)
            c.lut += rom
        else:
            c.lut += block * math.ceil(depth / LUT_ROM_DEPTH) * w.fixed.width
            c.partitioned[f"{node.name}_w"] = int(w.values.size)
        mult = _mult_cycles(x.width, wbits)
    steps = math.ceil(units / p) * reuse
    if is_folded(node, reuse, p):  # each product slot reads another input at every step: a mux
        slots = c.multipliers if reuse > 1 else f.nonzero * p
        c.lut += slots * mux_luts(reuse if windowed else min(steps, _x_size(graph, node)), x.width)
        c.ff += n_out * p * acc.width
        c.interval, c.latency = steps, steps + 1 + mult
    else:
        c.latency = mult + adder_cycles(terms + has_bias, clock)
    c.ff += node.out.size * node.out.fixed.width
    c.partitioned[node.name] = node.out.size
    return c


def _matmul(graph: Graph, node: Node, reuse: int, parallel: int, strategy: str, clock: float,
            windowed: bool = False) -> LayerCost:
    """Two activations: every product is a general multiplier, each operand through a mux when
    folded (`windowed`: read from memories instead, as in _weighted)."""
    a, b, acc, k = _x(graph, node, 0), _x(graph, node, 1), node.attrs["accum"], node.attrs["k"]
    units, products = fold_shape(node)
    p = min(parallel, units)
    block = math.ceil(products / reuse)
    dsp, lut = mult_cost(a.width, b.width)
    c = LayerCost(multipliers=block * p, unrolled=block * p)
    c.dsp, c.lut = c.multipliers * dsp, c.multipliers * (lut + acc.width)
    steps = math.ceil(units / p) * reuse
    if is_folded(node, reuse, p):
        visits = reuse if windowed else steps
        c.lut += c.multipliers * (mux_luts(visits, a.width) + mux_luts(visits, b.width))
        c.ff += c.multipliers * (a.width + b.width) + int(node.out.shape[-1]) * p * acc.width
        c.interval, c.latency = steps, steps + 1 + _mult_cycles(a.width, b.width)
    else:
        c.latency = _mult_cycles(a.width, b.width) + adder_cycles(k, clock)
    c.ff += node.out.size * node.out.fixed.width
    c.partitioned[node.name] = node.out.size
    return c


def _pool(graph: Graph, node: Node, reuse: int, parallel: int, strategy: str, clock: float,
          windowed: bool = False) -> LayerCost:
    """(window - 1) comparators (max) or adders plus one multiply by 1/count (average) per output;
    `windowed` as in _weighted (then no input mux)."""
    x = _x(graph, node)
    units, _ = fold_shape(node)
    p = min(parallel, units)
    kh, kw = node.attrs["kernel"]
    window, chans = kh * kw, int(node.attrs["out_hwc"][2])
    per = p * chans
    c = LayerCost(unrolled=per * window)
    if node.attrs["mode"] == "max":
        c.lut = per * (window - 1) * x.width
    else:
        acc, recip = node.attrs["accum"], node.consts["recip"].fixed
        dsp, lut = mult_cost(acc.width, recip.width)
        c.dsp, c.lut, c.multipliers = per * dsp, per * ((window - 1) * acc.width + lut), per
    steps = math.ceil(units / p)
    if p < units:
        c.lut += 0 if windowed else per * window * mux_luts(steps, x.width)
        c.interval, c.latency = steps, steps + 1
    else:
        c.latency = 1 + adder_cycles(window, clock)
    c.ff = node.out.size * node.out.fixed.width
    c.partitioned[node.name] = node.out.size
    return c


def _eltwise(graph: Graph, node: Node, n: int, c: LayerCost, clock: float) -> None:
    """add/sub: an adder per element; mul (BatchNorm's muladd too): a multiplier per element."""
    fn, ins, out = node.attrs["fn"], [graph.node(i).out.fixed for i in node.inputs], node.out.fixed
    if fn in ("mul", "muladd"):
        other = ins[1] if len(ins) > 1 else node.consts["c"].fixed
        dsp, lut = mult_cost(ins[0].width, other.width)
        c.dsp, c.lut, c.multipliers = n * dsp, n * (lut + (out.width if fn == "muladd" else 0)), n
        c.latency = _mult_cycles(ins[0].width, other.width) + (fn == "muladd")
    else:
        c.lut = n * out.width


def _table(graph: Graph, node: Node, n: int, c: LayerCost, clock: float) -> None:
    """A ROM read per element: LUT ROMs, or dual-port BRAMs (UG573); Softmax also a sum and a
    reciprocal per row and a product per element."""
    t = node.consts.get(ops.TABLE[node.op].levels or "exp")
    if t is None:  # (a graph that has not been through build_tables)
        return
    bram, lut = memory_cost(t.values.size, t.fixed.width)
    copies = n if lut else math.ceil(n / 2)
    c.bram18, c.lut = copies * bram, copies * lut
    if "exp" in node.consts and node.op == "Softmax":
        dsp, lut = mult_cost(t.fixed.width, node.out.fixed.width)
        c.dsp, c.lut, c.multipliers = n * dsp, c.lut + n * (lut + t.fixed.width), n
        c.latency = 1 + adder_cycles(int(node.attrs["n"]), clock)


def _compare(graph: Graph, node: Node, n: int, c: LayerCost, clock: float) -> None:
    """Comparators / selects of the output width per element (Relu's is the sign bit: no cycle)."""
    c.lut = n * node.out.fixed.width
    if ops.has(node.op, ops.SELECTS):
        c.latency = 0


def _move(graph: Graph, node: Node, n: int, c: LayerCost, clock: float) -> None:
    """A cast or a copy: wiring (a rounding add at most, folded into its neighbours)."""
    c.latency = 0


# the element-wise layers that cost something besides their output registers
ELEMENT_COSTS = {"Eltwise": _eltwise, "Table": _table, "Softmax": _table, "Thresholds": _compare, "Clip": _compare,
                 "Relu": _compare, "PRelu": _compare, "HardSigmoid": _compare, "Cast": _move}


def _elementwise(graph: Graph, node: Node, clock: float, elements: int | None = None) -> LayerCost:
    """Every other layer computes all its elements at once in io_parallel (`elements` at once: an
    io_stream token); moves (layout ops) are wiring, with no cycle."""
    n = elements or node.out.size
    layout = ops.has(node.op, ops.LAYOUT)
    c = LayerCost(unrolled=0 if layout else n, latency=0 if layout else 1)
    if not ops.has(node.op, ops.ALIAS):
        c.ff = n * node.out.fixed.width
        c.partitioned[node.name] = n
    if node.op in ELEMENT_COSTS:
        ELEMENT_COSTS[node.op](graph, node, n, c, clock)
    return c


def layer_cost(graph: Graph, node: Node, reuse: int = 1, parallel: int = 1, strategy: str = "latency",
               clock_ns: float = 5.0, facts: WeightFacts | None = None, elements: int | None = None,
               windowed: bool = False, adders: AdderGraph | None = None) -> LayerCost:
    """The cost of `node` at reuse factor `reuse`, parallelization `parallel` and `strategy`
    (`facts`: its weight_facts, when the caller evaluates many foldings of one layer; `elements`:
    an element-wise layer's elements computed at once, default all; `windowed`: its data operands
    come from memories (an io_stream line buffer or buffered process), not registers through a mux;
    `adders`: the layer's adder graph, strategy da)."""
    if adders is not None:
        return _adder_graph_cost(node, adders, clock_ns, parallel)
    if ops.has(node.op, ops.WEIGHTED):
        return _weighted(graph, node, reuse, parallel, strategy, clock_ns, facts, windowed)
    if node.op == "MatMul":
        return _matmul(graph, node, reuse, parallel, strategy, clock_ns, windowed)
    if node.op == "Pool":
        return _pool(graph, node, reuse, parallel, strategy, clock_ns, windowed)
    return _elementwise(graph, node, clock_ns, elements)
