"""Folding: every layer's reuse factor R, parallelization P and strategy, the design they make
(per-layer cost from cost.py, totals against a part from parts.py) and the synthesizability guard.

Where the values come from, most specific first: a config entry for the layer's name or ONNX
op type (`reuse_factor`, `parallelization`, `strategy`; config.py), then `--reuse-factor` /
`--strategy` (every layer), then the config's `default`, then R = 1, P = 1 (Conv, Pool and
MatMul loop over their output pixels/rows: no loop over the image is unrolled unless asked),
latency strategy. Every R >= 1 and P >= 1 is taken as given (the kernels skip the products and
pixels past the end when R or P is not a divisor): nothing is snapped to a "valid" value.

`--target-ii T` (or `--fps F` at the clock period: T = floor(1e9 / (F * clock_ns))) searches the
fields nothing gives (a config entry, --strategy or the config's default keep theirs), FINN
SetFolding-style: the design's interval is its slowest layer's, so each layer independently takes
the cheapest folding whose interval is <= T and that passes the guard. Candidates: P from the
fewest pixels per step that meet T upward (doubling, and every pixel at once), R = 1 (constant
weights, zero and power-of-two weights free) and the largest R that still meets T at that P
(fewest multipliers), its halvings, each normalized to the smallest R with the same multiplier
count; both strategies unless given; if none passes the guard, every P giving a distinct number
of steps with its largest R (the guard's counts checked before costing). "Cheapest" is the
sum of the layer's utilization of each resource of the part (a linear cost, so the per-layer
choices also minimize the design's sum). A layer that cannot reach T under the guard is an
error naming it and the interval it can reach.

The guard (Vitis refuses or takes hours on such designs: "XFORM 203-504", "partitioned elements
number exceeded threshold"; hls4ml warns at 4096 multiplications): no loop body unrolls more
than `unroll_limit` operations and no array is partitioned into more than `unroll_limit`
registers. io_parallel keeps every feature map in registers, so a layer whose output alone
exceeds the limit needs the streaming architecture; `unroll_limit = 0` switches the guard off
(for a C simulation only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .. import ops
from ..config import STRATEGIES
from ..errors import QconvError
from ..ir import Graph, Node
from . import da, dataflow
from .cost import LayerCost, fold_shape, is_folded, layer_cost, weight_facts
from .parts import Part

DEFAULT_UNROLL_LIMIT = 4096      # Vivado HLS config_array_partition -maximum_size; hls4ml's 4096 multiplications
RESOURCES = ("dsp", "lut", "ff", "bram18", "uram")
SEARCHED = ("latency", "resource")  # the strategies --target-ii tries (da only where it is given)


class DesignError(QconvError):
    """Settings or a target that no design can satisfy as asked."""


class GuardError(DesignError):
    """An io_parallel design that would not synthesize (the guard) or cannot reach the target
    within it: the streaming architecture may still build it (--io auto)."""


@dataclass(frozen=True)
class DesignOptions:
    part: Part
    clock_period: float = 5.0          # ns
    reuse_factor: int | None = None    # --reuse-factor: every layer that folds
    strategy: str | None = None        # --strategy
    target_ii: int | None = None       # --target-ii
    fps: float | None = None           # --fps (with clock_period)
    unroll_limit: int = DEFAULT_UNROLL_LIMIT  # 0: no guard
    config: object | None = None       # a config.QuantConfig with design entries
    unfolded: bool = False             # every layer at once (R 1, P all): write_project(design=None)'s project
    io: str = "io_parallel"            # or io_stream: layers are dataflow processes (design/dataflow.py)

    def target(self) -> int | None:
        """The interval to meet, in cycles (None: no target)."""
        if self.target_ii is not None and self.fps is not None:
            raise DesignError("give --target-ii or --fps, not both")
        if self.fps is None:
            return self.target_ii
        per_sample = 1e9 / (self.fps * self.clock_period)
        if not math.isfinite(per_sample):
            raise DesignError(f"--fps {self.fps:g}: too few samples per second to count in cycles; raise --fps")
        cycles = math.floor(per_sample)
        if cycles < 1:
            raise DesignError(f"--fps {self.fps:g}: at a {self.clock_period:g} ns clock that is under one "
                              "cycle per sample; lower --fps or --clock-period")
        return cycles


@dataclass
class LayerDesign:
    name: str
    op: str
    reuse_factor: int
    parallelization: int
    strategy: str
    folded: bool
    cost: LayerCost
    adder_graph: da.AdderGraph | None = None  # strategy da: the layer's adder graph (design/da.py)

    def as_dict(self) -> dict:
        c = self.cost
        return {"reuse_factor": self.reuse_factor, "parallelization": self.parallelization,
                "strategy": self.strategy, "schedule": "folded" if self.folded else "parallel",
                "interval_cycles": c.interval, "latency_cycles": c.latency,
                **{k: getattr(c, k) for k in RESOURCES}}


@dataclass
class Design:
    part: Part
    clock_period: float
    layers: dict[str, LayerDesign]
    interval: int
    latency: int
    totals: dict[str, int]
    target_ii: int | None = None
    unroll_limit: int = DEFAULT_UNROLL_LIMIT
    chosen: list[str] = field(default_factory=list)  # the layers --target-ii chose values for
    violations: list[str] = field(default_factory=list)  # why it would not synthesize (plan(strict=False))
    io: str = "io_parallel"
    note: str | None = None  # what the estimate does not cover
    fifos: tuple = ()        # io_stream: dataflow.Fifo per FIFO (depth, memory)
    flows: dict = field(default_factory=dict)  # io_stream: dataflow.Flow per layer

    def utilization(self) -> dict[str, float]:
        return {k: _fraction(self.totals[k], getattr(self.part, k)) for k in RESOURCES}

    @property
    def fits(self) -> bool:
        return all(v <= 1.0 for v in self.utilization().values())

    @property
    def limiting_resource(self) -> str:
        u = self.utilization()
        return max(RESOURCES, key=lambda k: u[k])

    def as_dict(self) -> dict:
        u = self.utilization()
        return {"part": self.part.name, "part_source": self.part.source, "io": self.io,
                "clock_period_ns": self.clock_period, "fits": self.fits, "limiting_resource": self.limiting_resource,
                "interval_cycles": self.interval, "latency_cycles": self.latency,
                "latency_ns": round(self.latency * self.clock_period, 3), **self.totals,
                "capacity": {k: getattr(self.part, k) for k in RESOURCES},
                "utilization": {k: round(v, 4) if math.isfinite(v) else None for k, v in u.items()},
                "target_ii": self.target_ii, "unroll_limit": self.unroll_limit,
                "synthesizable": not self.violations, "violations": self.violations, "note": self.note,
                **(self._stream() if self.flows else {}),
                "estimate": "qconv cost model (qconv/design/cost.py), not synthesis; README 'Cost model' says how "
                            "it was calibrated and how far off it can be"}


    def _stream(self) -> dict:
        """io_stream: every FIFO (between the FIFO model's processes) with its depth and memory,
        their memory totals (in the design's lut and bram18 too), and each layer's process kind."""
        fifos = [{"producer": f.producer, "consumer": f.consumer, "depth": f.depth, "bits": f.bits,
                  "bram18": f.bram18, "lut": f.lut} for f in self.fifos]
        return {"fifos": fifos, "fifo_bram18": sum(f["bram18"] for f in fifos),
                "fifo_lut": sum(f["lut"] for f in fifos), "processes": {n: f.kind for n, f in self.flows.items()}}

    def fifo_depth(self, layer: str) -> int | None:
        """The deepest FIFO a layer reads (io_stream)."""
        return max((f.depth for f in self.fifos if f.consumer == layer), default=None)


def _fraction(used: int, capacity: int) -> float:
    if used == 0:
        return 0.0
    return used / capacity if capacity else math.inf


# ---------------------------------------------------------------------------------------------
# settings

def _applies(node: Node) -> dict[str, bool]:
    """Which design fields mean something for this layer."""
    folds = ops.has(node.op, ops.FOLDS)
    return {"reuse_factor": folds and fold_shape(node)[1] > 0, "parallelization": folds and node.op != "Dense",
            "strategy": ops.has(node.op, ops.WEIGHTED)}


def _settings(node: Node, options: DesignOptions, used: set[str]) -> dict:
    """The layer's reuse_factor/parallelization/strategy, those given (name entry > op-type entry >
    the flags > the config's default). A field the layer has no use for is an error in its name
    entry and skipped elsewhere; `used` collects the config keys that set something."""
    named, typed, default = ({}, {}, {})
    if options.config is not None and node.source[0]:
        named, typed, default = options.config.design_for(*node.source)
    applies = _applies(node)
    for key in named:
        if not applies[key]:
            raise DesignError(f"config entry for {node.describe()}: {key} does not apply to a {node.op} layer "
                              f"({_applies_text(key)})")
    for key, entry in ((node.source[0], named), (node.source[1], typed)):
        if any(applies[k] for k in entry):
            used.add(key)
    cli = {k: v for k, v in (("reuse_factor", options.reuse_factor), ("strategy", options.strategy)) if v is not None}
    return {k: v for k, v in {**default, **cli, **typed, **named}.items() if applies[k]}


def _applies_text(key: str) -> str:
    return {"reuse_factor": "reuse_factor folds Dense, Conv and MatMul products",
            "parallelization": "parallelization counts Conv/Pool output pixels and MatMul output rows",
            "strategy": "strategy chooses the weight storage of Dense and Conv"}[key]


def _unused_entries(options: DesignOptions, used: set[str]) -> None:
    config = options.config
    unused = [k for k in (config.design if config is not None else {}) if k != "default" and k not in used]
    if unused:
        key = unused[0]
        fields = ", ".join(config.design[key])
        raise DesignError(f"config entry '{key}': {fields} applies to no layer of the compiled model (reuse_factor "
                          "folds Dense, Conv and MatMul layers, parallelization Conv, Pool and MatMul, strategy "
                          "Dense and Conv; a node the compiler removed, such as a quantizer, has none)")


def _check_cli(options: DesignOptions) -> None:
    if options.reuse_factor is not None and (isinstance(options.reuse_factor, bool) or options.reuse_factor < 1):
        raise DesignError(f"--reuse-factor must be an integer >= 1, got {options.reuse_factor!r}")
    if options.strategy is not None and options.strategy not in STRATEGIES:
        raise DesignError(f"--strategy must be {', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}, got "
                          f"{options.strategy!r}")
    if options.target_ii is not None and (isinstance(options.target_ii, bool) or options.target_ii < 1):
        raise DesignError(f"--target-ii must be an integer >= 1, got {options.target_ii!r}")
    if (options.target_ii is not None or options.fps is not None) and options.reuse_factor is not None:
        raise DesignError("give --reuse-factor or --target-ii/--fps, not both (--target-ii chooses every "
                          "reuse factor; fix single layers in the config)")
    if options.unroll_limit < 0:
        raise DesignError(f"--unroll-limit must be >= 0 (0: no limit), got {options.unroll_limit}")


# ---------------------------------------------------------------------------------------------
# the guard

def guard_violation(node: Node, cost: LayerCost, limit: int, own_output: bool = True) -> str | None:
    """Why the layer would not synthesize (None: it passes); `own_output` False leaves out the
    layer's output array, which no folding of the layer changes."""
    if not limit:
        return None
    if cost.unrolled > limit:
        return f"unrolls {cost.unrolled:,} operations in one cycle"
    for array, n in cost.partitioned.items():
        if n > limit and (own_output or array != node.name):
            what = "its output" if array == node.name else f"array {array}"
            return f"partitions {what} into {n:,} registers"
    return None


def _guard(node: Node, layer: LayerDesign, limit: int) -> str | None:
    """The guard's one line for a layer that would not synthesize (None: it passes)."""
    why = guard_violation(node, layer.cost, limit)
    if why is None:
        return None
    if node.name in layer.cost.partitioned and layer.cost.partitioned[node.name] > limit:
        knob = ("io_parallel keeps every feature map in registers: this layer needs the streaming "
                "architecture (--io stream), or --unroll-limit 0 for a C simulation only")
    elif why.startswith("partitions array"):
        knob = "choose strategy resource for it (weights in BRAM), or give --target-ii so qconv folds it"
    else:  # only a folding layer can unroll more than its output (elementwise layers unroll their outputs)
        knob = (("raise its reuse factor (--reuse-factor, or reuse_factor in the config)" if fold_shape(node)[1]
                 else "") + (", lower its parallelization" if node.op != "Dense" else "")
                + ", or give --target-ii so qconv folds it").lstrip(", ")
    return f"{node.describe()} {why}, over the synthesizable limit of {limit:,} (--unroll-limit); {knob}"


# ---------------------------------------------------------------------------------------------
# the search

def _cost_scalar(cost: LayerCost, part: Part) -> float:
    return sum(_fraction(getattr(cost, k), getattr(part, k)) for k in RESOURCES)


def _normalized(reuse: int, products: int) -> int:
    """The smallest reuse factor with the same number of multipliers as `reuse`."""
    return -(-products // -(-products // reuse)) if products else 1


def _steps(units: int, target: int, exhaustive: bool) -> list[int]:
    """Candidate pixels per step P: from the fewest that meet `target` upward by doubling and every
    pixel at once; `exhaustive`: every P that gives a distinct number of steps <= target."""
    if exhaustive:
        ps, p = [], 1
        while p <= units:
            steps = -(-units // p)
            if steps <= target:
                ps.append(p)
            p = -(-units // (steps - 1)) if steps > 1 else units + 1  # the smallest P with fewer steps
        return ps
    p, ps = max(1, -(-units // target)), []
    while p < units:
        ps.append(p)
        p *= 2
    return ps + [units]


def _unrolled(node: Node, reuse: int, parallel: int, strategy: str, limit: int) -> bool:
    """Whether a folding passes the guard's operation and weight-array counts (cost.py's unrolled
    and partitioned, without the layer's own output), computed without costing it."""
    units, products = fold_shape(node)
    if node.op == "Pool":
        kh, kw = node.attrs["kernel"]
        return parallel * int(node.attrs["out_hwc"][2]) * kh * kw <= limit
    weights = int(node.consts["W"].values.size) if ops.has(node.op, ops.WEIGHTED) else 0
    if reuse > 1 and strategy == "latency" and weights > limit:
        return False
    return parallel * -(-products // reuse) <= limit


def _candidates(node: Node, target: int, given: dict, limit: int, exhaustive: bool,
                offset: int = 0) -> list[tuple[int, int, str]]:
    """(R, P, strategy) to try; `offset`: cycles of the layer's schedule that no folding changes
    (an io_stream line buffer's input reads), so that R can take what is left of the target."""
    units, products = fold_shape(node)
    ps = [min(given["parallelization"], units)] if "parallelization" in given else _steps(units, target, exhaustive)
    strategies = [given["strategy"]] if "strategy" in given else (
        list(SEARCHED) if ops.has(node.op, ops.WEIGHTED) else ["latency"])
    out = []
    for p in ps:
        steps = -(-units // p)
        if steps > target:
            continue
        if "reuse_factor" in given:
            rs = {given["reuse_factor"]}
        elif products:
            r, rs = max(1, (target - offset) // steps), {1}
            while r > 1:
                rs.add(_normalized(r, products))
                r = r // 2 if not exhaustive else 1
        else:
            rs = {1}
        out += [(r, p, s) for r in sorted(rs) for s in strategies if s != "da" or r == 1  # (da: every product at once)
                if steps * r <= target and (not limit or not exhaustive or _unrolled(node, r, p, s, limit))]
    return out


def _min_interval(node: Node, given: dict, limit: int) -> int | None:
    """The shortest interval a folding of `node` (with the fields `given` fixed) reaches within the
    guard's operation and weight-array counts; None: none passes them."""
    units, products = fold_shape(node)
    ps = [min(given["parallelization"], units)] if "parallelization" in given else range(1, min(units, limit) + 1)
    strategy = given.get("strategy", "resource")
    best = None
    for p in ps:
        if "reuse_factor" in given:
            r = given["reuse_factor"]
        elif products:
            per = limit // p
            if not per:
                continue
            r = -(-products // per)
            if r > 1 and not _unrolled(node, r, p, strategy, limit):
                r = 1
        else:
            r = 1
        if _unrolled(node, r, p, strategy, limit):
            interval = -(-units // p) * r
            best = interval if best is None else min(best, interval)
    return best


def _search(graph: Graph, node: Node, target: int, given: dict, options: DesignOptions, cost_of,
            offset: int = 0) -> LayerDesign:
    """The cheapest folding of `node` whose interval is <= target and that passes the guard (the
    layer's own output aside: no folding changes it, plan() reports it): the doubling candidates,
    then, if none passes, every number of steps. `cost_of(node, r, p, s, facts)`: the layer's cost
    in the design's architecture; `offset` as in _candidates."""
    facts = weight_facts(graph, node) if ops.has(node.op, ops.WEIGHTED) else None
    limit = options.unroll_limit
    for exhaustive in (False, True):
        best = None
        for r, p, s in _candidates(node, target, given, limit, exhaustive, offset):
            cost = cost_of(node, r, p, s, facts)
            if cost.interval > target or guard_violation(node, cost, limit, own_output=False):
                continue
            key = (_cost_scalar(cost, options.part), cost.latency)
            if best is None or key < best[0]:
                best = (key, LayerDesign(node.name, node.op, r, p, s, is_folded(node, r, p), cost))
        if best is not None:
            return best[1]
    units, products = fold_shape(node)
    shape = f"{products * units:,} products" + (f", {units:,} output pixels" if ops.has(node.op, ops.SPATIAL)
                                                 else f", {units:,} output rows" if node.op != "Dense" else "")
    fixed = "".join(f", {k} {v} from the config or flags" for k, v in sorted(given.items())
                    if not (k == "parallelization" and offset))  # (a line buffer's P 1 is no one's setting)
    reach = _min_interval(node, given, limit) if limit else 1
    if options.io == "io_stream":  # its fastest process: R 1 and, but for a line buffer, every unit at once
        reach = cost_of(node, given.get("reuse_factor", 1), given.get("parallelization", units),
                        given.get("strategy", "latency"), facts).interval
        raise DesignError(f"--target-ii {target}: no io_stream folding of {node.describe()} ({shape}{fixed}) meets it; "
                         f"its process can reach an interval of {reach:,} cycles: raise --target-ii")
    if reach is None:
        raise GuardError(f"--target-ii {target}: no folding of {node.describe()} ({shape}{fixed}) passes the unroll "
                          f"limit {limit:,} at any interval: " + ("change its config entry or --strategy" if given
                                                                  else "raise --unroll-limit"))
    raise GuardError(f"--target-ii {target}: no folding of {node.describe()} ({shape}{fixed}) meets it within the "
                      f"unroll limit {limit:,}; it can reach an interval of {reach:,} cycles: raise --target-ii (or "
                      "--unroll-limit)")


# ---------------------------------------------------------------------------------------------

def plan(graph: Graph, options: DesignOptions, strict: bool = True) -> Design:
    """Every layer's folding and cost, the totals, and the guard: a design that would not
    synthesize raises DesignError (`strict`, what `qconv build` does) or lists why in
    `Design.violations` (`qconv report`/`inspect`: they describe the design, they write nothing).
    Settings that cannot be met (a bad value, an unreachable --target-ii) raise either way."""
    _check_cli(options)
    if options.io == "io_stream":  # feature maps are memories and FIFOs: no register guard
        options = replace(options, unroll_limit=0)
    target = options.target()
    violations = []
    for name in graph.inputs:  # io_parallel ports are partitioned into registers too
        n = graph.node(name).out.size
        if options.unroll_limit and n > options.unroll_limit:
            violations.append(f"{graph.node(name).describe()} has {n:,} elements, over the synthesizable limit of "
                              f"{options.unroll_limit:,} registers of an io_parallel port (--unroll-limit); it needs "
                              "the streaming architecture (--io stream), or --unroll-limit 0 for a C simulation "
                              "only")
    flows = dataflow.flows(graph) if options.io == "io_stream" else {}

    adders: dict[str, da.AdderGraph] = {}  # strategy da: each layer's graph, solved once

    def cost_of(node: Node, r: int = 1, p: int = 1, s: str = "latency", facts=None) -> LayerCost:
        if s == "da":
            if r != 1:
                raise DesignError(f"{node.describe()}: strategy da computes every product at once as an adder "
                                  f"graph: reuse factor 1 (got {r}); choose strategy latency or resource to fold it")
            if node.name in flows and node.op == "Conv":  # (a config entry's da; --strategy da leaves it out)
                raise DesignError(f"{node.describe()}: strategy da builds a Conv's filter bank in io_parallel in this "
                                  "release (P output pixels per step, each through the adder graph); choose --io "
                                  "parallel, or strategy latency or resource for this layer")
            if node.name not in adders:
                adders[node.name] = _adder_graph(graph, node)
            return layer_cost(graph, node, 1, p, "da", options.clock_period, adders=adders[node.name])
        if node.name in flows:
            return dataflow.stream_cost(graph, node, flows[node.name], r, p, s, options.clock_period, facts)
        return layer_cost(graph, node, r, p, s, options.clock_period, facts)

    layers: dict[str, LayerDesign] = {}
    chosen, used = [], set()
    for node in graph.topo():
        if node.op == "Input":
            continue
        given = _settings(node, options, used)  # (an error for a design field on a layer that has none)
        da_here = ops.has(node.op, ops.DA) and not (node.op == "Conv" and node.name in flows)
        if given.get("strategy") == "da" and not da_here and not _entry_sets(options, node, "strategy"):
            given = {k: v for k, v in given.items() if k != "strategy"}  # --strategy da: Dense, io_parallel Conv
        pixels = node.name in flows and flows[node.name].kind == dataflow.LINE_BUFFER
        if pixels:  # a line buffer computes one output pixel per step: P is io_parallel's (default/op-type
            named = options.config.design_for(*node.source)[0] if options.config and node.source[0] else {}
            if named.get("parallelization", 1) != 1:  # entries do not apply; the layer's own entry is an error)
                raise DesignError(f"{node.describe()}: parallelization {named['parallelization']} from its config "
                                  "entry is io_parallel's; io_stream computes its output one pixel per step over a "
                                  "line buffer: remove the entry or choose --io parallel")
            given = {**given, "parallelization": 1}
        if not ops.has(node.op, ops.FOLDS):
            layers[node.name] = LayerDesign(node.name, node.op, 1, 1, "latency", False, cost_of(node))
        elif target is not None:
            offset = int(np.prod(node.attrs["in_hwc"][:2])) if pixels else 0
            layers[node.name] = _search(graph, node, target, given, options, cost_of, offset)
            chosen.append(node.name)
        else:
            r, p, s = given.get("reuse_factor", 1), given.get("parallelization", 1), given.get("strategy", "latency")
            p = 1 if pixels else fold_shape(node)[0] if options.unfolded else min(p, fold_shape(node)[0])
            r = 1 if options.unfolded else r
            layers[node.name] = LayerDesign(node.name, node.op, r, p, s, is_folded(node, r, p), cost_of(node, r, p, s))
    for name, g in adders.items():
        layers[name].adder_graph = g
    _unused_entries(options, used)
    violations += [v for v in (_guard(graph.node(n), ld, options.unroll_limit) for n, ld in layers.items()) if v]
    if strict and violations:
        raise GuardError(violations[0])
    design = _design(graph, layers, options, target, chosen)
    design.violations, design.io = violations, options.io
    if flows:
        _stream_schedule(graph, design, flows, target)
    return design


def _entry_sets(options: DesignOptions, node: Node, key: str) -> bool:
    """Whether a config entry (the layer's name, its op type or default) sets `key` for `node`."""
    if options.config is None or not node.source[0]:
        return False
    return any(key in entry for entry in options.config.design_for(*node.source))


def _adder_graph(graph: Graph, node: Node) -> da.AdderGraph:
    """Strategy da: the layer's adder graph over its input type's mantissa range (Dense: its
    matrix; Conv: its filter bank, da.filter_bank, one graph every output pixel evaluates)."""
    if not ops.has(node.op, ops.DA):
        raise DesignError(f"{node.describe()}: strategy da builds Dense and Conv layers; give it to those only "
                          "(config: Dense: {strategy: da})")
    x, acc = graph.node(node.inputs[0]).out.fixed, node.attrs["accum"]
    w = node.consts["W"]
    drop = max(0, x.frac + w.fixed.frac - acc.frac)  # (the tight accumulator drops weight bits that are all 0)
    if drop and (w.values % (1 << drop)).any():
        raise DesignError(f"{node.describe()}: strategy da sums exactly, but the accumulator {acc.to_cpp()} drops "
                          f"product bits (it has {acc.frac} fraction bits, the products {x.frac + w.fixed.frac}); "
                          "use qconv's tight accumulator (the default, --accumulator tight) or strategy latency")
    m = (w.values if node.op == "Dense" else
         da.filter_bank(w.values, int(node.attrs["in_hwc"][2]), int(node.attrs["group"])))
    g = da.solve_dense(m >> drop, x.min_mantissa, x.max_mantissa, node.describe())
    return replace(g, weight_shift=drop)


def plan_auto(graph: Graph, options: DesignOptions) -> tuple[Design, str | None]:
    """--io auto: the io_parallel design when it is synthesizable (the guard), fits the part and
    meets the target, else the io_stream design (its feature maps are memories: no register
    guard). Returns the design and why io_stream was chosen (None: io_parallel)."""
    try:
        d = plan(graph, replace(options, io="io_parallel"))
        if d.fits:
            return d, None
        why = f"io_parallel does not fit {options.part.name} ({d.limiting_resource})"
    except GuardError as exc:
        why = f"io_parallel cannot: {exc}"
    return plan(graph, replace(options, io="io_stream"), strict=False), why


def _stream_schedule(graph: Graph, design: Design, flows: dict, target: int | None) -> None:
    """An io_stream design's FIFOs, interval and latency from the FIFO model of its processes."""
    sch = dataflow.schedule(graph, flows, {n: ld.cost for n, ld in design.layers.items()},
                            {n: ld.reuse_factor for n, ld in design.layers.items()})
    design.flows, design.fifos = flows, sch.fifos
    design.interval, design.latency = sch.interval, sch.latency
    design.totals["lut"] += sum(f.lut for f in sch.fifos)
    design.totals["bram18"] += sum(f.bram18 for f in sch.fifos)
    design.note = ("io_stream: interval and latency are the FIFO model's schedule of the dataflow processes "
                   "(qconv/design/fifo.py); each process costs its arithmetic, its buffers and its FIFOs "
                   "(qconv/design/dataflow.py)")
    moves = [n for n, f in flows.items() if f.kind == dataflow.BUFFERED and ops.has(graph.node(n).op, ops.LAYOUT)]
    if moves:  # a layout change that reorders the tokens holds its whole tensor
        names = ", ".join(f"{graph.node(n).describe()} ({graph.node(n).out.size:,} values)" for n in moves[:3])
        design.note += (f"; {len(moves)} layout layer(s) reorder the tokens and buffer their whole tensor: {names}"
                        f"{', ...' if len(moves) > 3 else ''} (a channels-last model streams without them)")
    if target is not None and sch.interval > target:
        slow = max(design.layers.values(), key=lambda ld: ld.cost.interval)
        raise DesignError(f"--target-ii {target}: the io_stream schedule's interval is {sch.interval:,} cycles (its "
                          f"slowest process: {slow.name}, {slow.cost.interval:,} cycles); raise --target-ii")


def _design(graph: Graph, layers: dict[str, LayerDesign], options: DesignOptions, target, chosen) -> Design:
    done: dict[str, int] = {}  # cycles from the inputs to each node's output (the longest path)
    for node in graph.topo():
        start = max((done[i] for i in node.inputs), default=0)
        done[node.name] = start + (layers[node.name].cost.latency if node.name in layers else 0)
    totals = {k: sum(getattr(ld.cost, k) for ld in layers.values()) for k in RESOURCES}
    return Design(options.part, options.clock_period, layers,
                  interval=max((ld.cost.interval for ld in layers.values()), default=1),
                  latency=max((done[o] for o in graph.outputs), default=0), totals=totals,
                  target_ii=target, unroll_limit=options.unroll_limit, chosen=chosen)
