"""The Verilog backend (`qconv build --backend verilog`): a fully parallel network as synthesizable
Verilog, one module per layer and a top module that registers every layer's output and carries a
valid bit alongside (latency: one cycle per layer on the longest path, plus the register stages
`--stage-adders` puts inside Dense adder graphs); plus a Verilator testbench that reads the same
tb_data files as the C simulation (templates/verilog/).

Every value on a wire is a mantissa of its qconv type, held in a signed wire one bit wider than
an unsigned type needs. The arithmetic is written here, by qconv, from qconv's own semantics
(qconv/fixed.py), not from an HLS library:

- `cast_lines`: an `ap_fixed` conversion as `FixedType.cast` does it: align to the destination's
  fraction bits, drop bits with the quantization mode (the remainder against the half LSB: TRN,
  TRN_ZERO, RND, RND_ZERO, RND_INF, RND_MIN_INF, RND_CONV), then apply the overflow mode (WRAP,
  SAT, SAT_ZERO, SAT_SYM) to the rounded value;
- Dense (strategy da): the adder graph of design/da.py, then the bias and the accumulator as the
  HLS kernel dense_da adds them (bias cast into the accumulator type, the exact sum cast into it
  again), then the one cast into the layer's type; with `stage_adders` N, a register after every
  N adder levels (values read later pass through delay registers);
- Relu: max(x, 0), then the cast; Cast: the cast;
- Thresholds: the number of thresholds the input reaches (a sum of comparisons) selects a level;
  Table: a `case` over the input mantissas, clipped at the table's ends (sim/threshold.py,
  sim/activation.py).

Every intermediate is declared wide enough for the exact value it holds (the adder graph's
interval bounds; a cast's aligned and rounded value gets the bits it can need), so Verilog's
context-sized signed arithmetic never drops a bit it should keep.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ops
from ..design.da import signed_bits
from ..errors import ModelError
from ..fixed import FixedType
from ..ir import Graph, Node

# what the Verilog backend builds (ops.RTL; Dense with strategy da), in the op table's order
RTL_OPS = tuple(name for name, op in ops.TABLE.items() if ops.RTL in op.traits)


def lit(value: int, width: int) -> str:
    """A signed Verilog literal of `width` bits (wider than the value needs)."""
    return f"{width}'sd{value}" if value >= 0 else f"-{width}'sd{-value}"


def signed_width(t: FixedType) -> int:
    """Bits of the signed wire holding a mantissa of `t` (an unsigned one gets a zero sign bit)."""
    return t.width + (not t.signed)


def unpack(bus: str, i: int, t: FixedType, name: str) -> str:
    """Element i of a packed bus of `t` mantissas as the signed wire `name`."""
    w = t.width
    bits = f"{bus}[{i * w + w - 1}:{i * w}]"
    return (f"wire signed [{w - 1}:0] {name} = {bits};" if t.signed else
            f"wire signed [{w}:0] {name} = {{1'b0, {bits}}};")


def cast_lines(a: str, wa: int, src_frac: int, dst: FixedType, out: str) -> list[str]:
    """Verilog wires computing `out` (the dst mantissa, dst.width bits) from the signed wire `a`
    (`wa` bits, a mantissa with `src_frac` fraction bits) as FixedType.cast does."""
    wd, shift = dst.width, src_frac - dst.frac
    if shift > 0:
        wq = wa + 1  # floor(a / 2^shift) + 1 fits
        lines = [f"wire signed [{wq - 1}:0] {out}_fl = {a} >>> {shift};"]
        inc = _round_increment(a, wa, out, shift, dst.rounding, lines)
        lines.append(f"wire signed [{wq - 1}:0] {out}_q = {out}_fl + $signed({{{wq - 1}'d0, {inc}}});" if inc else
                     f"wire signed [{wq - 1}:0] {out}_q = {out}_fl;")
    else:
        wq = wa - shift
        lines = [f"wire signed [{wq - 1}:0] {out}_q = {a} <<< {-shift};" if shift else
                 f"wire signed [{wq - 1}:0] {out}_q = {a};"]
    wc = max(wq, wd + 1) + 1  # compare against the destination's bounds in a width holding both
    hi, lo = dst.max_mantissa, dst.min_mantissa
    lines += [f"wire signed [{wc - 1}:0] {out}_c = {out}_q;",
              f"wire {out}_over = {out}_c > {lit(hi, wc)};",
              f"wire {out}_under = {out}_c < {lit(lo, wc)};",
              f"wire [{wd - 1}:0] {out}_wr = {out}_c[{wd - 1}:0];"]  # (_c: sign-extended past wd bits)
    hi_b, lo_b = _bits(hi, wd), _bits(lo, wd)
    if dst.overflow == "WRAP":
        expr = f"{out}_wr"
    elif dst.overflow == "SAT_ZERO":
        expr = f"({out}_over | {out}_under) ? {wd}'d0 : {out}_wr"
    elif dst.overflow == "SAT" or not dst.signed:  # an unsigned SAT_SYM is SAT
        expr = f"{out}_over ? {hi_b} : {out}_under ? {lo_b} : {out}_wr"
    else:  # SAT_SYM: underflow and the exact minimum become -max (a 1-bit signed type: min itself)
        sym = _bits(-hi if wd > 1 else lo, wd)
        expr = f"{out}_over ? {hi_b} : ({out}_under | (!{out}_over & {out}_wr == {lo_b})) ? {sym} : {out}_wr"
    lines.append(f"wire [{wd - 1}:0] {out} = {expr};")
    return lines


def _bits(value: int, width: int) -> str:
    return f"{width}'d{value % (1 << width)}"


def _round_increment(a: str, wa: int, out: str, shift: int, mode: str, lines: list[str]) -> str | None:
    """The wire adding 1 to floor(a / 2^shift) under `mode` (None: TRN adds nothing);
    fixed._round_shift_scalar's rules: the remainder rem below the kept LSB against half."""
    if mode == "TRN":
        return None
    keep = min(shift, wa)  # the dropped bits of a (above wa: copies of the sign)
    rem = f"{a}[{keep - 1}:0]" if keep == shift else f"{{{{{shift - keep}{{{a}[{wa - 1}]}}}}, {a}[{keep - 1}:0]}}"
    lines.append(f"wire [{shift - 1}:0] {out}_rem = {rem};")
    half, neg = f"{shift}'d{1 << (shift - 1)}", f"{a}[{wa - 1}]"
    gt, eq = f"({out}_rem > {half})", f"({out}_rem == {half})"
    lines.append(f"wire {out}_inc = " + {
        "RND": f"{out}_rem >= {half}", "RND_MIN_INF": gt,
        "RND_CONV": f"{gt} | ({eq} & {out}_fl[0])", "RND_ZERO": f"{gt} | ({eq} & {neg})",
        "RND_INF": f"{gt} | ({eq} & !{neg})", "TRN_ZERO": f"{neg} & ({out}_rem != {shift}'d0)"}[mode] + ";")
    return f"{out}_inc"


def check_ops(graph: Graph) -> None:
    """One error line for the first layer the Verilog backend does not build (before planning)."""
    for node in graph.topo():
        if node.op != "Input" and node.op not in RTL_OPS:
            raise ModelError(f"{node.describe()}: the Verilog backend builds {', '.join(RTL_OPS)} layers; cut the "
                             f"model before this {node.op} (make its input the graph's output) or build it for HLS "
                             "(--backend hls)")
    if any(o in graph.inputs for o in graph.outputs):
        raise ModelError("a graph output is a graph input: the Verilog backend has no layer to register it")


def check_supported(graph: Graph, adder_graphs: dict) -> None:
    """check_ops, and every Dense layer an adder graph, every layer one input."""
    check_ops(graph)
    for node in graph.topo():
        if node.op == "Input":
            continue
        if node.op == "Dense" and node.name not in adder_graphs:
            raise ModelError(f"{node.describe()}: the Verilog backend builds Dense layers as adder graphs: give "
                             "--strategy da (or strategy: da in its config entry)")
        if len(set(node.inputs)) != 1:
            raise ModelError(f"{node.describe()}: the Verilog backend builds chains of one-input layers")


@dataclass
class LayerRTL:
    """A layer's module body (input bus `x` -> output bus `y`, element by element), its register
    stages before the top module's output register and their bits (Dense with `stage_adders`)."""

    lines: list[str]
    stages: int = 0
    register_bits: int = 0


def layer_lines(graph: Graph, node: Node, adders, stage_adders: int = 0) -> LayerRTL:
    """The layer's module body: LayerRTL."""
    x = graph.node(node.inputs[0]).out.fixed
    out = node.out.fixed
    n_in, n_out = graph.node(node.inputs[0]).out.size, node.out.size
    lines = [unpack("x", i, x, f"x{i}") for i in range(n_in)]
    rtl = LayerRTL(lines)
    if node.op == "Dense":
        dense = _dense_lines(node, x, adders, stage_adders)
        lines += dense.lines
        rtl = LayerRTL(lines, dense.stages, dense.register_bits)
    elif node.op == "Thresholds":
        lines += _thresholds_lines(node, x, n_out)
    elif node.op == "Table":
        lines += _table_lines(node, x, n_out)
    else:
        for j in range(n_out):
            src = f"x{j}"
            if node.op == "Relu":
                w = signed_width(x)
                lines.append(f"wire signed [{w - 1}:0] r{j} = x{j}[{w - 1}] ? {w}'sd0 : x{j};")
                src = f"r{j}"
            lines += cast_lines(src, signed_width(x), x.frac, out, f"o{j}")
    lines += [f"assign y[{j * out.width + out.width - 1}:{j * out.width}] = o{j};" for j in range(n_out)]
    return rtl


def _thresholds_lines(node: Node, x: FixedType, n_out: int) -> list[str]:
    """sim/threshold.py's kernel: o_j = levels[k][#{t : x_j >= thr[k][t]}], k = (j // inner) % period;
    the count is a sum of comparisons (exact for thresholds in any order), the level a mux on it."""
    thr, levels = node.consts["thresholds"].values, node.consts["levels"].values  # (P, T), (P, T + 1)
    wd, wx = node.out.fixed.width, signed_width(x)
    wc = max([wx] + [signed_bits(int(t), int(t)) for t in thr.reshape(-1)]) + 1  # x and every threshold
    cw = max(1, thr.shape[1].bit_length())
    lines = []
    for j in range(n_out):
        k = (j // node.attrs["inner"]) % node.attrs["period"]
        lines.append(f"wire signed [{wc - 1}:0] xc{j} = x{j};")
        # (1-bit comparisons, zero-extended to the sum's width by Verilog's context sizing)
        terms = " + ".join(f"(xc{j} >= {lit(int(t), wc)})" for t in thr[k]) or f"{cw}'d0"
        lines.append(f"wire [{cw - 1}:0] n{j} = {terms};")
        mux = _bits(int(levels[k][-1]), wd)
        for c in range(thr.shape[1] - 1, -1, -1):
            mux = f"n{j} == {cw}'d{c} ? {_bits(int(levels[k][c]), wd)} : {mux}"
        lines.append(f"wire [{wd - 1}:0] o{j} = {mux};")
    return lines


def _table_lines(node: Node, x: FixedType, n_out: int) -> list[str]:
    """sim/activation.py's table kernel: o_j = table[clip(x_j, lo, hi) - lo], the table a function
    (a case over the input mantissas the type can hold, the clipped ends as its default)."""
    table, lo, hi = node.consts["table"].values.reshape(-1), int(node.attrs["lo"]), int(node.attrs["hi"])
    wd, wx = node.out.fixed.width, signed_width(x)
    first, last = max(lo, x.min_mantissa), min(hi, x.max_mantissa)
    lines = [f"function [{wd - 1}:0] lookup;", f"    input signed [{wx - 1}:0] v;", "    case (v)"]
    lines += [f"        {lit(m, wx)}: lookup = {_bits(int(table[m - lo]), wd)};" for m in range(first, last + 1)]
    lines += [f"        default: lookup = v < {lit(first, wx)} ? {_bits(int(table[first - lo]), wd)} : "
              f"{_bits(int(table[last - lo]), wd)};", "    endcase", "endfunction"]
    return lines + [f"wire [{wd - 1}:0] o{j} = lookup(x{j});" for j in range(n_out)]


def _dense_lines(node: Node, x: FixedType, g, stage_adders: int = 0) -> LayerRTL:
    """The adder graph (design/da.py nodes), each output's sum y_j (mantissa with x.frac + w.frac
    fraction bits), then acc_j = accum(accum(bias_j) + y_j) and the cast into the layer's type.
    With `stage_adders` N > 0 a register follows every N adder levels: node values used in a later
    stage pass through delay registers (v<i>_d<k>: k cycles late), and the bias, accumulator and
    casts follow the last stage."""
    w, acc, out = node.consts["W"].fixed, node.attrs["accum"], node.out.fixed
    stage = [0 if not stage_adders or lv == 0 else (lv - 1) // stage_adders for lv in g.levels]
    used = [i for i, _, _ in g.outputs if i >= 0]
    last = max((stage[i] for i in used), default=0)
    live, stack = set(), list(used)  # the nodes an output reads (da4ml may leave others)
    while stack:
        i = stack.pop()
        if i not in live:
            live.add(i)
            n = g.nodes[i]
            stack += [] if n.kind == "in" or n.a < 0 else [n.a] if n.kind == "copy" else [n.a, n.b]
    delays = [0] * len(g.nodes)  # the longest delay chain each node needs

    def at(i: int, s: int) -> str:  # node i's value in stage s
        delays[i] = max(delays[i], s - stage[i])
        return f"v{i}" if s == stage[i] else f"v{i}_d{s - stage[i]}"

    lines = []
    for i, n in enumerate(g.nodes):
        if i not in live:
            continue
        t = f"wire signed [{n.width - 1}:0] v{i}"
        if n.kind == "in":
            lines.append(f"{t} = x{n.a};")
        elif n.kind == "copy":
            lines.append(f"{t} = {'0' if n.a < 0 else ('-' if n.sub else '') + at(n.a, stage[i])};")
        else:
            a, b = g.nodes[n.a], g.nodes[n.b]
            lines.append(f"{t} = ({at(n.a, stage[i])} <<< {a.exp - n.exp}) {'-' if n.sub else '+'} "
                         f"({at(n.b, stage[i])} <<< {b.exp + n.shift - n.exp});")
    b = node.consts.get("b")
    frac = x.frac + w.frac - g.weight_shift  # the graph's sums (weights without their common 2^weight_shift)
    for j, ((idx, shift, neg), (lo, hi)) in enumerate(zip(g.outputs, g.output_bounds())):
        wy = signed_bits(lo, hi) + 1
        v = "0" if idx < 0 else at(idx, last)
        v = f"({v} <<< {shift})" if idx >= 0 and shift > 0 else f"({v} >>> {-shift})" if shift < 0 else v
        lines.append(f"wire signed [{wy - 1}:0] s{j} = {'-' if neg else ''}{v};")
        start = 0 if b is None else int(acc.cast([int(b.values[j])], b.fixed)[0])  # acc = (accum_t)bias
        wa = max(wy + acc.frac - frac, acc.width) + 1  # start + s_j at the accumulator's fraction bits
        lines.append(f"wire signed [{wa - 1}:0] t{j} = {lit(start, wa + 1)} + (s{j} <<< {acc.frac - frac});")
        lines += cast_lines(f"t{j}", wa, acc.frac, acc, f"a{j}")  # acc += sum: the sum cast into accum_t
        lines.append(f"wire signed [{acc.width - 1}:0] as{j} = a{j};" if acc.signed else
                     f"wire signed [{acc.width}:0] as{j} = {{1'b0, a{j}}};")
        lines += cast_lines(f"as{j}", signed_width(acc), acc.frac, out, f"o{j}")
    regs = [(i, k) for i, d in enumerate(delays) for k in range(1, d + 1)]  # (declared before use)
    decls = [f"reg signed [{g.nodes[i].width - 1}:0] v{i}_d{k};" for i, k in regs]
    clocked = [f"always @(posedge clk) v{i}_d{k} <= {f'v{i}' if k == 1 else f'v{i}_d{k - 1}'};" for i, k in regs]
    return LayerRTL(decls + lines + clocked, last, sum(g.nodes[i].width for i, _ in regs))


# ---------------------------------------------------------------------------------------------
# the project

def rtl_context(graph: Graph, design, stage_adders: int = 0) -> dict:
    """The template context of templates/verilog/: layers, ports, latency, testbench elements.
    `stage_adders` > 0: a pipeline register after every that many adder levels inside Dense layers."""
    adders = {n: ld.adder_graph for n, ld in design.layers.items() if ld.adder_graph is not None}
    check_supported(graph, adders)
    bodies = {n.name: layer_lines(graph, n, adders.get(n.name), stage_adders) for n in graph.topo() if n.op != "Input"}
    depth: dict[str, int] = {}  # register stages from the inputs to each layer's output register
    for node in graph.topo():
        depth[node.name] = (0 if node.op == "Input" else
                            1 + bodies[node.name].stages + max(depth[i] for i in node.inputs))
    latencies = {depth[o] for o in graph.outputs}
    if len(latencies) != 1:
        raise ModelError("the Verilog backend's outputs must all be the same number of register stages from the "
                         f"inputs (here {sorted(latencies)}): one valid signal serves them")
    ports_in = {name: f"in{p}" for p, name in enumerate(graph.inputs)}
    layers = []
    for node in graph.topo():
        if node.op == "Input":
            continue
        src = graph.node(node.inputs[0])
        layers.append({
            "name": node.name, "op": node.op, "origin": node.describe(), "in_cpp": src.out.fixed.to_cpp(),
            "out_cpp": node.out.fixed.to_cpp(), "n_in": src.out.size, "n_out": node.out.size,
            "in_bits": src.out.size * src.out.fixed.width, "out_bits": node.out.size * node.out.fixed.width,
            "src": ports_in.get(src.name, f"n_{src.name}_r"), "lines": bodies[node.name].lines,
            "stages": bodies[node.name].stages, "adders": adders[node.name].adders if node.name in adders else None,
            # flip-flops as written: the output register and the delay registers inside
            "registers": node.out.size * node.out.fixed.width + bodies[node.name].register_bits})
    inputs = [{"var": ports_in[n], "node": n, "size": graph.node(n).out.size, "width": graph.node(n).out.fixed.width,
               "cpp": graph.node(n).out.fixed.to_cpp(), "onnx_name": graph.node(n).attrs.get("onnx_name", n)}
              for n in graph.inputs]
    outputs = [{"var": f"out{o}", "node": n, "size": graph.node(n).out.size, "width": graph.node(n).out.fixed.width,
                "cpp": graph.node(n).out.fixed.to_cpp(), "onnx_name": onnx_name, "signed": graph.node(n).out.fixed.signed}
               for o, (n, onnx_name) in enumerate(zip(graph.outputs, graph.output_names))]
    in_elements, k = [], 0
    for p in inputs:
        for i in range(p["size"]):
            in_elements.append({"port": f"{p['var']}_{i}", "k": k, "mask": (1 << p["width"]) - 1})
            k += 1
    out_elements = [{"port": f"{p['var']}_{i}", "signed": p["signed"], "width": p["width"]}
                    for p in outputs for i in range(p["size"])]
    return {"name": graph.name, "layers": layers, "inputs": inputs, "outputs": outputs, "latency": latencies.pop(),
            "n_in": k, "in_elements": in_elements, "out_elements": out_elements}
