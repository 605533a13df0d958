"""`qconv report`: what each layer costs in hardware, and what its accumulator could have been.

One row per layer: op, output shape, input / weight / bias / multiplier (the exact product type)
/ accumulator / output types, operation count, multiplier kind, bit-operations, weight memory,
a first-order FPGA cost (DSP, LUT), and for Dense/Conv the accumulator width under three rules:
qconv's ``tight`` sizing, QKeras qtools' rule (`qconv.qtools`, on the same input type) and
hls4ml's ``auto`` rule (Wx + Ww + ceil(log2 n), one more bit for a bias, aligned). Totals sum
every column. `qconv build` writes the same as report.json and report.md into the project.

Definitions
-----------
* ops: multiply-accumulates for Dense/Conv (n_in * n_out; out_h * out_w * filters * kh * kw *
  channels per group) and for MatMul of two activations (outputs * k); elements for
  element-wise layers, window sums for pooling; 0 for layers that only move data.
* multiplier kind, from the quantizer a config recorded or else from the weight values:
  ``xnor`` (+-1 input times +-1 weights), ``mux`` (per output channel a single magnitude, a
  power of two: binary/ternary weights, +-x or 0), ``shift`` (every nonzero weight a power of
  two), ``fixed`` (anything else).
* bit-ops = ops * (x_bits * w_bits + accumulator bits): w_bits is the weight type's width for
  ``fixed``, 1 + ceil(log2(#exponents)) for ``shift``, 1 (binary) or 2 (ternary) for ``mux``
  and ``xnor``.
* weight memory: weights and biases as stored in the generated project (count * type width).
* type_source (JSON only): who chose the output type (qconv/ir.py TYPE_SOURCES): "quantizer"
  (declared: its saturation is clipping by design), "option", "inferred", "accumulator_cap"
  (the others: a value that does not fit is an overflow). The report has no data; clipping
  and overflow counts come from the simulator (`qconv sim --trace`, `qconv build`).

First-order FPGA cost model (io_parallel: everything unrolled, weights are constants)
-----------------------------------------------------------------------------------
* A multiplier exists for every MAC whose weight is nonzero (synthesis drops zero weights).
  ``fixed``: a DSP48 (ceil(Wx/27) * ceil(Ww/18) of them) when both operands are at least
  DSP_MIN_BITS = 10 bits wide, else a LUT multiplier of ceil(Wx * Ww / 2) LUTs. ``shift``,
  ``mux`` and ``xnor`` constants cost no multiplier logic (wiring and negation folded into the
  adder tree).
* Every such MAC adds into the accumulator: accumulator-width LUTs (one LUT per bit with the
  carry chain), plus one add per output for a bias. This is where accumulator sizing pays.
* MatMul of two activations: a ``fixed`` multiplier and an accumulator add per MAC.
* Element-wise add/sub: output-width LUTs per element; mul (and BatchNorm's x*s+t): a
  multiplier as above plus the add. Average pooling: (window - 1) adds of the sum width and
  one multiply by 1/count per output; max pooling: (window - 1) comparators of the input
  width. Lookup tables: ceil(entries * width / 64) LUTs (LUT6 ROMs) per element. Other
  layers (reshapes, casts, Relu, Softmax ...) are counted as 0.
These are estimates for comparing designs and rules, not synthesis results.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from . import ops
from .errors import QconvError
from .fixed import FixedType, product_type
from .ir import Graph, Node
from .numeric import po2_exponents

DSP_MIN_BITS = 10
DSP_A, DSP_B = 27, 18


def short(t: FixedType | None) -> str:
    """ap_fixed<8,3,...> -> fx<8,3>, ap_ufixed<6,0,...> -> ufx<6,0> (modes in the JSON only)."""
    if t is None:
        return "-"
    return f"{'fx' if t.signed else 'ufx'}<{t.width},{t.integer}>"


def _shape(node: Node) -> str:
    shape = node.attrs.get("out_hwc") if ops.has(node.op, ops.SPATIAL) else node.out.shape
    return "x".join(str(int(d)) for d in shape) or "1"


BINARY_TERNARY = ("binary", "stochastic_binary", "bernoulli", "ternary", "stochastic_ternary")


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


def multiplier_kind(node: Node, x_type: FixedType, bipolar: bool = False) -> tuple[str, int]:
    """(kind, effective weight bits) of a Dense/Conv layer's multipliers (see module doc);
    `bipolar`: the input is +-a only (then binary weights make an xnor)."""
    name = getattr((node.attrs.get("qkeras") or {}).get("kernel_quantizer"), "name", "")
    cols = _columns(node)
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


def _columns(node: Node) -> np.ndarray:
    w = node.consts["W"].values
    return w if node.op == "Dense" else w.reshape(w.shape[0], -1).T


def _positions(node: Node) -> int:
    if node.op == "Conv":
        oh, ow, _ = node.attrs["out_hwc"]
        return int(oh * ow)
    return 1


def _mult_cost(kind: str, wx: int, ww: int) -> tuple[int, int]:
    """(DSP, LUT) of one multiplier instance."""
    if kind != "fixed":
        return 0, 0
    if min(wx, ww) >= DSP_MIN_BITS:
        return math.ceil(wx / DSP_A) * math.ceil(ww / DSP_B), 0
    return 0, math.ceil(wx * ww / 2)


def _mac_row(graph: Graph, node: Node, row: dict) -> None:
    from . import qtools
    from .analysis.accumulators import hls4ml_type, tight_type
    x = graph.node(node.inputs[0]).out.fixed
    w, b = node.consts["W"], node.consts.get("b")
    acc = node.attrs["accum"]
    cols = _columns(node)
    pos = _positions(node)
    macs = int(cols.size) * pos
    nonzero = int(np.count_nonzero(cols)) * pos
    kind, wbits = multiplier_kind(node, x, bipolar_input(graph, node))
    dsp, lut = _mult_cost(kind, x.width, w.fixed.width)
    n_out = cols.shape[1] * pos
    adds = nonzero + (n_out if b is not None else 0)
    row.update(
        weight=w.fixed, bias=b.fixed if b is not None else None, multiplier=product_type(x, w.fixed),
        kind=kind, ops=macs, bitops=macs * (x.width * wbits + acc.width),
        memory_bits=int(w.values.size) * w.fixed.width + (int(b.values.size) * b.fixed.width if b is not None else 0),
        dsp=nonzero * dsp, lut=nonzero * lut + adds * acc.width, adds=adds,
        acc_rules={"tight": tight_type(node, x), "qtools": _rule(qtools.rule_accumulator, graph, node, x),
                   "hls4ml": _rule(lambda g, n, t: hls4ml_type(n, t), graph, node, x)})


def _rule(rule, graph: Graph, node: Node, x: FixedType) -> FixedType | None:
    try:
        return rule(graph, node, x)
    except QconvError:  # qtools' float accumulator, or wider than 64 bits: no ap_fixed answer
        return None


def _other_row(graph: Graph, node: Node, row: dict) -> None:
    cost = COSTS.get(node.op)
    if cost is not None:
        ins = [graph.node(i).out.fixed for i in node.inputs]
        n = int(np.prod(node.out.shape, dtype=np.int64)) if node.out.shape else 1
        cost(node, ins, n, row)  # COSTS below: the non-MAC layers that cost something


def _eltwise_cost(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    out = node.out.fixed
    fn = node.attrs["fn"]
    row["ops"] = n
    if fn in ("mul", "muladd"):
        other = ins[1] if len(ins) > 1 else node.consts["c"].fixed
        dsp, lut = _mult_cost("fixed", ins[0].width, other.width)
        row.update(kind="fixed", dsp=n * dsp, lut=n * (lut + (out.width if fn == "muladd" else 0)),
                   bitops=n * ins[0].width * other.width)
    else:
        row.update(lut=n * out.width, bitops=n * out.width)
    row["memory_bits"] = sum(int(c.values.size) * c.fixed.width for c in node.consts.values() if c.fixed)


def _matmul_cost(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    """Two activations: every MAC is a general multiplier."""
    acc, k = node.attrs["accum"], node.attrs["k"]
    macs = n * k
    dsp, lut = _mult_cost("fixed", ins[0].width, ins[1].width)
    row.update(multiplier=product_type(ins[0], ins[1]), kind="fixed", ops=macs, adds=macs,
               bitops=macs * (ins[0].width * ins[1].width + acc.width), dsp=macs * dsp,
               lut=macs * (lut + acc.width))


def _pool_cost(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    kh, kw = node.attrs["kernel"]
    window = kh * kw
    row["ops"] = n * window
    if node.attrs["mode"] == "max":
        row.update(lut=n * (window - 1) * ins[0].width, bitops=n * (window - 1) * ins[0].width)
    else:
        acc, recip = node.attrs["accum"], node.consts["recip"].fixed
        dsp, lut = _mult_cost("fixed", acc.width, recip.width)
        row.update(accumulator=acc, dsp=n * dsp, lut=n * ((window - 1) * acc.width + lut),
                   bitops=n * ((window - 1) * acc.width + acc.width * recip.width))


def _table_cost(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    if "table" in node.consts:
        t = node.consts["table"]
        row.update(ops=n, lut=n * math.ceil(t.values.size * t.fixed.width / 64),
                   memory_bits=int(t.values.size) * t.fixed.width)


COSTS = {"Eltwise": _eltwise_cost, "MatMul": _matmul_cost, "Pool": _pool_cost, "Table": _table_cost}


def build_report(graph: Graph, accumulator: str | None = "tight") -> dict:
    """The report as a JSON-friendly dict: {"model", "accumulator", "layers": [...], "totals"}."""
    layers = []
    for node in graph.topo():
        if node.op == "Input":
            continue
        row = {"layer": node.name, "op": node.op, "source": node.source[1] or node.op, "shape": _shape(node),
               "input": graph.node(node.inputs[0]).out.fixed if node.inputs else None,
               "weight": None, "bias": None, "multiplier": None, "accumulator": node.attrs.get("accum"),
               "output": node.out.fixed, "type_source": node.attrs.get("type_source"), "kind": "-", "ops": 0,
               "bitops": 0, "memory_bits": 0, "dsp": 0,
               "lut": 0, "adds": 0, "acc_rules": None}
        if ops.has(node.op, ops.WEIGHTED):
            _mac_row(graph, node, row)
        else:
            _other_row(graph, node, row)
        layers.append(row)
    totals = {k: sum(r[k] for r in layers) for k in ("ops", "bitops", "memory_bits", "dsp", "lut")}
    macs = [r for r in layers if r["acc_rules"]]
    totals["accumulator_bits"] = {"chosen": sum(r["accumulator"].width for r in macs),
                                  **{k: sum(r["acc_rules"][k].width for r in macs if r["acc_rules"][k])
                                     for k in ("tight", "qtools", "hls4ml")}}
    totals["accumulator_adder_luts"] = {k: sum(r["adds"] * r["acc_rules"][k].width for r in macs if r["acc_rules"][k])
                                        for k in ("tight", "qtools", "hls4ml")}

    def typed(v):
        return v.to_cpp() if isinstance(v, FixedType) else v
    rows = []
    for r in layers:
        d = {k: typed(v) for k, v in r.items() if k != "acc_rules"}
        if r["acc_rules"]:
            d["accumulator_rules"] = {k: t.to_cpp() if t else None for k, t in r["acc_rules"].items()}
        rows.append(d)
    return {"model": graph.name, "accumulator": str(accumulator or "tight"), "layers": rows, "totals": totals,
            "cost_model": f"first order: DSP48 for fixed multipliers with both operands >= {DSP_MIN_BITS} bits, "
                          "else ceil(Wx*Ww/2) LUTs; shift/mux/xnor constants free; one LUT per accumulator bit "
                          "per nonzero MAC (see qconv/report.py)"}


COLUMNS = [("layer", "layer"), ("op", "op"), ("shape", "shape"), ("input", "input"), ("weight", "weight"),
           ("bias", "bias"), ("multiplier", "mult"), ("kind", "kind"), ("accumulator", "accum"), ("output", "output"),
           ("ops", "ops"), ("bitops", "bit-ops"), ("memory_bits", "mem bits"), ("dsp", "DSP"), ("lut", "LUT"),
           ("accumulator_rules", "acc bits t/q/h")]

TYPE_COLUMNS = ("input", "weight", "bias", "multiplier", "accumulator", "output")  # C++ type strings, shown short


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "accumulator_rules":
        return "/".join(str(FixedType.parse(value[k]).width) if value[k] else "-"
                        for k in ("tight", "qtools", "hls4ml"))
    if key in TYPE_COLUMNS and isinstance(value, str) and value.startswith("ap_"):
        return short(FixedType.parse(value))
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table_rows(rep: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows (strings), the last one the totals."""
    header = [title for _, title in COLUMNS]
    rows = [[_cell(k, r.get(k)) for k, _ in COLUMNS] for r in rep["layers"]]
    t = rep["totals"]
    acc = t["accumulator_bits"]
    rows.append(["total", "", "", "", "", "", "", "", f"{acc['chosen']} bits", "", f"{t['ops']:,}",
                 f"{t['bitops']:,}", f"{t['memory_bits']:,}", f"{t['dsp']:,}", f"{t['lut']:,}",
                 f"{acc['tight']}/{acc['qtools']}/{acc['hls4ml']}"])
    return header, rows


def print_report(rep: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    header, rows = table_rows(rep)
    table = Table(title=f"qconv report {rep['model']} (accumulator: {rep['accumulator']})")
    for h in header:
        table.add_column(h, overflow="fold", justify="right" if h in ("ops", "bit-ops", "mem bits", "DSP", "LUT")
                         else "left")
    for i, r in enumerate(rows):
        table.add_row(*r, end_section=(i == len(rows) - 2))
    console = Console(width=240)
    console.print(table)
    acc = rep["totals"]["accumulator_bits"]
    console.print(f"accumulator bits (sum over Dense/Conv layers): tight {acc['tight']}, qtools rule {acc['qtools']}, "
                  f"hls4ml auto rule {acc['hls4ml']}; cost model: {rep['cost_model']}")


def markdown(rep: dict) -> str:
    header, rows = table_rows(rep)
    lines = [f"# qconv report: {rep['model']} (accumulator: {rep['accumulator']})", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    acc = rep["totals"]["accumulator_bits"]
    lines += ["", f"Accumulator bits (sum over Dense/Conv layers): tight {acc['tight']}, qtools rule {acc['qtools']}, "
              f"hls4ml auto rule {acc['hls4ml']}.", "", f"Cost model: {rep['cost_model']}.", ""]
    if "test_data" in rep:
        lines += _test_data_markdown(rep["test_data"])
    return "\n".join(lines)


def test_data_section(result, samples: int) -> dict:
    """What the build's test data did at each cast (a sim.SimResult): clipping by declared
    quantizers (by design) and overflow of types qconv or an option chose (a real loss)."""
    layers = {name: {"clipped_low": c.low, "clipped_high": c.high, "values": c.total}
              for name, c in result.clipped.items()}
    for name, count in result.overflows.items():
        layers.setdefault(name, {})["overflow"] = count
    for name, count in result.accumulator_overflows.items():
        layers.setdefault(name, {})["accumulator_overflow"] = count
    return {"samples": samples, "layers": layers}


def _test_data_markdown(section: dict) -> list[str]:
    lines = [f"Test data ({section['samples']} samples):", ""]
    for name, d in section["layers"].items():
        if d.get("clipped_low", 0) + d.get("clipped_high", 0):
            n = d["clipped_low"] + d["clipped_high"]
            lines.append(f"- {name}: quantizer clipped {n} of {d['values']} values ({100 * n / d['values']:.2f}%; "
                         f"{d['clipped_low']} low, {d['clipped_high']} high)")
        for key in ("overflow", "accumulator_overflow"):
            if d.get(key):
                lines.append(f"- {name}: **{key.replace('_', ' ')}** of {d[key]} values")
    return lines + (["- no value clipped or overflowed", ""] if len(lines) == 2 else [""])


def write_report(graph: Graph, out: str | Path, accumulator: str | None = "tight", test_data: dict | None = None) -> dict:
    """report.json and report.md in the project folder `out`; `test_data` (test_data_section) adds
    the clipping and overflow counts of the project's test samples."""
    rep = build_report(graph, accumulator)
    if test_data is not None:
        rep["test_data"] = test_data
    out = Path(out)
    (out / "report.json").write_text(json.dumps(rep, indent=2))
    (out / "report.md").write_text(markdown(rep))
    return rep
