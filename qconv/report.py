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

Hardware cost and time (qconv/design/): every layer's reuse factor, parallelization, strategy,
interval and latency in cycles, and DSP/LUT/FF/BRAM18/URAM from the cost model in
qconv/design/cost.py (each formula with its source), at the folding the design chose
(design/folding.py); the `design` object has the totals against the part, `fits` and the limiting
resource. These are estimates, not synthesis results (README "Cost model").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import ops
from .errors import QconvError
from .fixed import FixedType, product_type
from .ir import Graph, Node
from .design.cost import bipolar_input, columns, multiplier_kind
from .design.folding import Design, DesignOptions, plan
from .design.parts import find_part
from .toolchain import DEFAULT_PART



def short(t: FixedType | None) -> str:
    """ap_fixed<8,3,...> -> fx<8,3>, ap_ufixed<6,0,...> -> ufx<6,0> (modes in the JSON only)."""
    if t is None:
        return "-"
    return f"{'fx' if t.signed else 'ufx'}<{t.width},{t.integer}>"


def _shape(node: Node) -> str:
    shape = node.attrs.get("out_hwc") if ops.has(node.op, ops.SPATIAL) else node.out.shape
    return "x".join(str(int(d)) for d in shape) or "1"


def _mac_row(graph: Graph, node: Node, row: dict) -> None:
    from . import qtools
    from .analysis.accumulators import hls4ml_type, tight_type
    x = graph.node(node.inputs[0]).out.fixed
    w, b = node.consts["W"], node.consts.get("b")
    acc = node.attrs["accum"]
    cols = columns(node)
    pos = int(np.prod(node.attrs["out_hwc"][:2])) if node.op == "Conv" else 1
    macs = int(cols.size) * pos
    kind, wbits = multiplier_kind(node, x, bipolar_input(graph, node))
    row.update(
        weight=w.fixed, bias=b.fixed if b is not None else None, multiplier=product_type(x, w.fixed),
        kind=kind, ops=macs, bitops=macs * (x.width * wbits + acc.width),
        memory_bits=int(w.values.size) * w.fixed.width + (int(b.values.size) * b.fixed.width if b is not None else 0),
        adds=(int(np.count_nonzero(cols)) + (cols.shape[1] if b is not None else 0)) * pos,
        acc_rules={"tight": tight_type(node, x), "qtools": _rule(qtools.rule_accumulator, graph, node, x),
                   "hls4ml": _rule(lambda g, n, t: hls4ml_type(n, t), graph, node, x)})


def _rule(rule, graph: Graph, node: Node, x: FixedType) -> FixedType | None:
    try:
        return rule(graph, node, x)
    except QconvError:  # qtools' float accumulator, or wider than 64 bits: no ap_fixed answer
        return None


def _other_row(graph: Graph, node: Node, row: dict) -> None:
    count = OPS.get(node.op)
    if count is not None:
        ins = [graph.node(i).out.fixed for i in node.inputs]
        n = int(np.prod(node.out.shape, dtype=np.int64)) if node.out.shape else 1
        count(node, ins, n, row)  # OPS below: the non-MAC layers that compute something


def _eltwise_ops(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    out, fn = node.out.fixed, node.attrs["fn"]
    row["ops"] = n
    if fn in ("mul", "muladd"):
        other = ins[1] if len(ins) > 1 else node.consts["c"].fixed
        row.update(kind="fixed", bitops=n * ins[0].width * other.width)
    else:
        row["bitops"] = n * out.width
    row["memory_bits"] = sum(int(c.values.size) * c.fixed.width for c in node.consts.values() if c.fixed)


def _matmul_ops(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    """Two activations: every MAC is a general multiplier."""
    acc, k = node.attrs["accum"], node.attrs["k"]
    macs = n * k
    row.update(multiplier=product_type(ins[0], ins[1]), kind="fixed", ops=macs, adds=macs,
               bitops=macs * (ins[0].width * ins[1].width + acc.width))


def _pool_ops(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    kh, kw = node.attrs["kernel"]
    window = kh * kw
    row["ops"] = n * window
    if node.attrs["mode"] == "max":
        row["bitops"] = n * (window - 1) * ins[0].width
    else:
        acc, recip = node.attrs["accum"], node.consts["recip"].fixed
        row.update(accumulator=acc, bitops=n * ((window - 1) * acc.width + acc.width * recip.width))


def _table_ops(node: Node, ins: list[FixedType], n: int, row: dict) -> None:
    if "table" in node.consts:
        t = node.consts["table"]
        row.update(ops=n, memory_bits=int(t.values.size) * t.fixed.width)


OPS = {"Eltwise": _eltwise_ops, "MatMul": _matmul_ops, "Pool": _pool_ops, "Table": _table_ops}


def build_report(graph: Graph, accumulator: str | None = "tight", design: Design | None = None) -> dict:
    """The report as a JSON-friendly dict: {"model", "accumulator", "layers": [...], "totals",
    "design"}. `design` (design/folding.py plan): every layer's folding and cost; default every
    layer at once (what write_project writes without a design) on the default part, no guard."""
    if design is None:
        design = plan(graph, DesignOptions(find_part(DEFAULT_PART), unroll_limit=0, unfolded=True))
    layers = []
    for node in graph.topo():
        if node.op == "Input":
            continue
        row = {"layer": node.name, "op": node.op, "source": node.source[1] or node.op, "shape": _shape(node),
               "input": graph.node(node.inputs[0]).out.fixed if node.inputs else None,
               "weight": None, "bias": None, "multiplier": None, "accumulator": node.attrs.get("accum"),
               "output": node.out.fixed, "type_source": node.attrs.get("type_source"), "kind": "-", "ops": 0,
               "bitops": 0, "memory_bits": 0, "adds": 0, "acc_rules": None}
        if ops.has(node.op, ops.WEIGHTED):
            _mac_row(graph, node, row)
        else:
            _other_row(graph, node, row)
        row.update(design.layers[node.name].as_dict())
        if design.flows:  # io_stream: its process (design/dataflow.py) and the deepest FIFO it reads
            row.update(process=design.flows[node.name].kind, fifo_depth=design.fifo_depth(node.name))
        layers.append(row)
    totals = {k: sum(r[k] for r in layers) for k in ("ops", "bitops", "memory_bits", "dsp", "lut", "ff", "bram18",
                                                      "uram")}
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
            "design": design.as_dict(), "cost_model": COST_MODEL}


COST_MODEL = ("qconv/design/cost.py: DSP48E2 for products with both operands >= 10 bits, else ceil(Wx*Ww/2) "
              "LUTs; constant shift/mux/xnor weights free at reuse 1; one LUT per accumulator bit per product; "
              "muxes, weight ROM/BRAM and registers of folded layers; estimates, not synthesis")


COLUMNS = [("layer", "layer"), ("op", "op"), ("shape", "shape"), ("input", "input"), ("weight", "weight"),
           ("bias", "bias"), ("multiplier", "mult"), ("kind", "kind"), ("accumulator", "accum"), ("output", "output"),
           ("ops", "ops"), ("bitops", "bit-ops"), ("memory_bits", "mem bits"), ("accumulator_rules", "acc bits t/q/h"),
           ("reuse_factor", "R"), ("parallelization", "P"), ("interval_cycles", "II"), ("latency_cycles", "lat"),
           ("dsp", "DSP"), ("lut", "LUT"), ("ff", "FF"), ("bram18", "BRAM18")]
NUMERIC = ("ops", "bit-ops", "mem bits", "R", "P", "II", "lat", "DSP", "LUT", "FF", "BRAM18")

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
    d = rep["design"]
    rows.append(["total", "", "", "", "", "", "", "", f"{acc['chosen']} bits", "", f"{t['ops']:,}",
                 f"{t['bitops']:,}", f"{t['memory_bits']:,}", f"{acc['tight']}/{acc['qtools']}/{acc['hls4ml']}",
                 "", "", f"{d['interval_cycles']:,}", f"{d['latency_cycles']:,}",
                 *(f"{t[k]:,}" for k in ("dsp", "lut", "ff", "bram18"))])
    return header, rows


def design_summary(d: dict) -> str:
    """One line: the design against its part (report["design"])."""
    used = ", ".join(f"{k.upper() if k != 'bram18' else 'BRAM18'} {d[k]:,}/{d['capacity'][k]:,}"
                     + (f" ({100 * d['utilization'][k]:.1f}%)" if d["utilization"][k] is not None
                        else " (none on the part)")
                     for k in ("dsp", "lut", "ff", "bram18", "uram"))
    fits = "yes" if d["fits"] else "NO"
    return (f"design on {d['part']} ({d['io']}, {d['clock_period_ns']:g} ns clock): interval {d['interval_cycles']:,} "
            f"cycles, latency {d['latency_cycles']:,} cycles ({d['latency_ns']:,g} ns); {used}; fits: {fits} "
            f"(limiting: {d['limiting_resource']}); estimate of qconv's cost model, not synthesis (README 'Cost model')"
            + ("" if d["synthesizable"] else f"; NOT synthesizable as io_parallel: {d['violations'][0]}"))


def print_report(rep: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    header, rows = table_rows(rep)
    table = Table(title=f"qconv report {rep['model']} (accumulator: {rep['accumulator']})")
    for h in header:
        table.add_column(h, overflow="fold", justify="right" if h in NUMERIC else "left")
    for i, r in enumerate(rows):
        table.add_row(*r, end_section=(i == len(rows) - 2))
    console = Console(width=240)
    console.print(table)
    acc = rep["totals"]["accumulator_bits"]
    console.print(f"accumulator bits (sum over Dense/Conv layers): tight {acc['tight']}, qtools rule {acc['qtools']}, "
                  f"hls4ml auto rule {acc['hls4ml']}; cost model: {rep['cost_model']}")
    console.print(design_summary(rep["design"]))


def markdown(rep: dict) -> str:
    header, rows = table_rows(rep)
    lines = [f"# qconv report: {rep['model']} (accumulator: {rep['accumulator']})", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    acc = rep["totals"]["accumulator_bits"]
    lines += ["", f"Accumulator bits (sum over Dense/Conv layers): tight {acc['tight']}, qtools rule {acc['qtools']}, "
              f"hls4ml auto rule {acc['hls4ml']}.", "", f"Cost model: {rep['cost_model']}.", "",
              f"Design: {design_summary(rep['design'])}.", ""]
    if "synth" in rep:  # a Verilog project after `qconv synth`
        t, d = rep["synth"]["totals"], rep["design"]
        lines += [f"Yosys ({rep['synth']['tool']}): LUT {t['lut']:,}, FF {t['ff']:,}, CARRY {t['carry']:,}, DSP "
                  f"{t['dsp']:,} (the cost model's estimate: LUT {d['lut']:,}, FF {d['ff']:,}, DSP {d['dsp']:,}); "
                  "Yosys counts, not Vivado results.", ""]
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


def write_report(graph: Graph, out: str | Path, accumulator: str | None = "tight", test_data: dict | None = None,
                 design: Design | None = None) -> dict:
    """report.json and report.md in the project folder `out`; `test_data` (test_data_section) adds
    the clipping and overflow counts of the project's test samples; `design` the layers' folding."""
    rep = build_report(graph, accumulator, design)
    if test_data is not None:
        rep["test_data"] = test_data
    out = Path(out)
    (out / "report.json").write_text(json.dumps(rep, indent=2))
    (out / "report.md").write_text(markdown(rep))
    return rep


def add_synth(project: Path, synth: dict) -> None:
    """Yosys' cell counts (backend/synth.py) into a Verilog project's report.json (`synth`, and
    `yosys` per layer beside the formula estimate), and report.md rewritten from it."""
    path = Path(project) / "report.json"
    rep = json.loads(path.read_text())
    rep["synth"] = synth
    for row in rep["layers"]:
        if row["layer"] in synth["layers"]:
            row["yosys"] = synth["layers"][row["layer"]]
    path.write_text(json.dumps(rep, indent=2))
    (Path(project) / "report.md").write_text(markdown(rep))
