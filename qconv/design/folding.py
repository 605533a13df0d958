"""Folding: every layer's reuse factor R, parallelization P and strategy, the design they make
(per-layer cost from cost.py, totals against a part from parts.py) and the synthesizability guard.

Where the values come from, most specific first: a config entry for the layer's name or ONNX
op type (`reuse_factor`, `parallelization`, `strategy`; config.py), then `--reuse-factor` /
`--strategy` (every layer), then the config's `default`, then R = 1, P = 1 (Conv, Pool and
MatMul loop over their output pixels/rows: no loop over the image is unrolled unless asked),
latency strategy. Every R >= 1 and P >= 1 is taken as given (the kernels skip the products and
pixels past the end when R or P is not a divisor): nothing is snapped to a "valid" value.

`--target-ii T` (or `--fps F` at the clock period: T = floor(1e9 / (F * clock_ns))) searches the
layers the config does not fix, FINN SetFolding-style: the design's interval is its slowest
layer's, so each layer independently takes the cheapest folding whose interval is <= T and that
passes the guard. Candidates: P from the fewest pixels per step that meet T upward (doubling,
and every pixel at once), R = 1 (constant weights, zero and power-of-two weights free) and the
largest R that still meets T at that P (fewest multipliers), its halvings, each normalized to
the smallest R with the same multiplier count; both strategies unless fixed. "Cheapest" is the
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
from dataclasses import dataclass, field

from .. import ops
from ..config import STRATEGIES
from ..errors import QconvError
from ..ir import Graph, Node
from .cost import LayerCost, fold_shape, is_folded, layer_cost, weight_facts
from .parts import Part

DEFAULT_UNROLL_LIMIT = 4096      # Vivado HLS config_array_partition -maximum_size; hls4ml's 4096 multiplications
RESOURCES = ("dsp", "lut", "ff", "bram18", "uram")


class DesignError(QconvError):
    """Settings or a target that no design can satisfy as asked."""


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

    def target(self) -> int | None:
        """The interval to meet, in cycles (None: no target)."""
        if self.target_ii is not None and self.fps is not None:
            raise DesignError("give --target-ii or --fps, not both")
        if self.fps is None:
            return self.target_ii
        cycles = math.floor(1e9 / (self.fps * self.clock_period))
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
        return {"part": self.part.name, "part_source": self.part.source, "io": "io_parallel",
                "clock_period_ns": self.clock_period, "fits": self.fits, "limiting_resource": self.limiting_resource,
                "interval_cycles": self.interval, "latency_cycles": self.latency,
                "latency_ns": round(self.latency * self.clock_period, 3), **self.totals,
                "capacity": {k: getattr(self.part, k) for k in RESOURCES},
                "utilization": {k: round(v, 4) if math.isfinite(v) else None for k, v in u.items()},
                "target_ii": self.target_ii, "unroll_limit": self.unroll_limit,
                "estimate": "qconv cost model (qconv/design/cost.py), not synthesis; README 'Cost model' says how "
                            "it was calibrated and how far off it can be"}


def _fraction(used: int, capacity: int) -> float:
    if used == 0:
        return 0.0
    return used / capacity if capacity else math.inf


# ---------------------------------------------------------------------------------------------
# settings

def _settings(node: Node, options: DesignOptions) -> tuple[dict, set[str]]:
    """The layer's reuse_factor/parallelization/strategy (those given) and which of them its own
    config entry fixed (a target search leaves those alone)."""
    specific, default = ({}, {})
    if options.config is not None and node.source[0]:
        specific, default = options.config.design_for(*node.source)
    cli = {k: v for k, v in (("reuse_factor", options.reuse_factor), ("strategy", options.strategy)) if v is not None}
    units, products = fold_shape(node) if ops.has(node.op, ops.FOLDS) else (1, 0)
    applies = {"reuse_factor": products > 0, "parallelization": node.op != "Dense" and ops.has(node.op, ops.FOLDS),
               "strategy": products > 0}
    for key, value in specific.items():
        if not applies[key]:
            raise DesignError(f"config entry for {node.describe()}: {key} does not apply to a {node.op} layer "
                              f"({_applies_text(key)})")
    given = {k: v for k, v in {**default, **cli, **specific}.items() if applies[k]}
    return given, set(specific)


def _applies_text(key: str) -> str:
    return {"reuse_factor": "reuse_factor folds Dense, Conv and MatMul products",
            "parallelization": "parallelization counts Conv/Pool output pixels and MatMul output rows",
            "strategy": "strategy chooses the weight storage of Dense, Conv and MatMul"}[key]


def _check_cli(options: DesignOptions) -> None:
    if options.reuse_factor is not None and (isinstance(options.reuse_factor, bool) or options.reuse_factor < 1):
        raise DesignError(f"--reuse-factor must be an integer >= 1, got {options.reuse_factor!r}")
    if options.strategy is not None and options.strategy not in STRATEGIES:
        raise DesignError(f"--strategy must be {' or '.join(STRATEGIES)}, got {options.strategy!r}")
    if options.target_ii is not None and (isinstance(options.target_ii, bool) or options.target_ii < 1):
        raise DesignError(f"--target-ii must be an integer >= 1, got {options.target_ii!r}")
    if options.target_ii is not None and options.reuse_factor is not None:
        raise DesignError("give --reuse-factor or --target-ii/--fps, not both (--target-ii chooses every "
                          "reuse factor; fix single layers in the config)")
    if options.unroll_limit < 0:
        raise DesignError(f"--unroll-limit must be >= 0 (0: no limit), got {options.unroll_limit}")


# ---------------------------------------------------------------------------------------------
# the guard

def guard_violation(node: Node, cost: LayerCost, limit: int) -> str | None:
    """Why the layer would not synthesize (None: it passes)."""
    if not limit:
        return None
    if cost.unrolled > limit:
        return f"unrolls {cost.unrolled:,} operations in one cycle"
    for array, n in cost.partitioned.items():
        if n > limit:
            what = "its output" if array == node.name else f"array {array}"
            return f"partitions {what} into {n:,} registers"
    return None


def _guard(node: Node, layer: LayerDesign, limit: int) -> None:
    why = guard_violation(node, layer.cost, limit)
    if why is None:
        return
    if node.name in layer.cost.partitioned and layer.cost.partitioned[node.name] > limit:
        knob = ("io_parallel keeps every feature map in registers: this layer needs the streaming "
                "architecture (not in qconv yet), or --unroll-limit 0 for a C simulation only")
    elif why.startswith("partitions array"):
        knob = "choose strategy resource for it (weights in BRAM), or give --target-ii so qconv folds it"
    else:  # only a folding layer can unroll more than its output (elementwise layers unroll their outputs)
        knob = (("raise its reuse factor (--reuse-factor, or reuse_factor in the config)" if fold_shape(node)[1]
                 else "") + (", lower its parallelization" if node.op != "Dense" else "")
                + ", or give --target-ii so qconv folds it").lstrip(", ")
    raise DesignError(f"{node.describe()} {why}, over the synthesizable limit of {limit:,} "
                      f"(--unroll-limit); {knob}")


# ---------------------------------------------------------------------------------------------
# the search

def _cost_scalar(cost: LayerCost, part: Part) -> float:
    return sum(_fraction(getattr(cost, k), getattr(part, k)) for k in RESOURCES)


def _normalized(reuse: int, products: int) -> int:
    """The smallest reuse factor with the same number of multipliers as `reuse`."""
    return math.ceil(products / math.ceil(products / reuse)) if products else 1


def _candidates(node: Node, target: int, given: dict, fixed: set[str]) -> list[tuple[int, int, str]]:
    units, products = fold_shape(node)
    if "parallelization" in fixed:
        ps = [given["parallelization"]]
    else:
        p, ps = math.ceil(units / target), []
        while p < units:
            ps.append(p)
            p *= 2
        ps.append(units)
    out = []
    for p in ps:
        steps = math.ceil(units / p)
        if steps > target:
            continue
        if "reuse_factor" in fixed:
            rs = {given["reuse_factor"]}
        elif products:
            r, rs = target // steps, {1}
            while r > 1:
                rs.add(_normalized(r, products))
                r //= 2
        else:
            rs = {1}
        strategies = [given["strategy"]] if "strategy" in fixed else list(STRATEGIES)
        out += [(r, p, s) for r in sorted(rs) for s in strategies if r == 1 or r <= target // steps]
    return out


def _min_interval(node: Node, limit: int) -> int:
    """The shortest interval a folding of `node` reaches with at most `limit` operations per cycle."""
    units, products = fold_shape(node)
    best = math.inf
    for p in range(1, min(units, limit) + 1):
        per_unit = limit // p
        if products and per_unit:
            best = min(best, math.ceil(units / p) * math.ceil(products / per_unit))
        elif not products:
            best = min(best, math.ceil(units / p))
    return int(best) if math.isfinite(best) else 0


def _search(graph: Graph, node: Node, target: int, given: dict, fixed: set[str], options: DesignOptions) -> LayerDesign:
    facts = weight_facts(graph, node) if ops.has(node.op, ops.WEIGHTED) else None
    if options.unroll_limit and node.out.size > options.unroll_limit:  # no folding helps: say so
        _guard(node, LayerDesign(node.name, node.op, 1, 1, "latency", True, layer_cost(graph, node)),
               options.unroll_limit)
    best = None
    for r, p, s in _candidates(node, target, given, fixed):
        cost = layer_cost(graph, node, r, p, s, options.clock_period, facts)
        if cost.interval > target or guard_violation(node, cost, options.unroll_limit):
            continue
        key = (_cost_scalar(cost, options.part), cost.latency)
        if best is None or key < best[0]:
            best = (key, LayerDesign(node.name, node.op, r, min(p, fold_shape(node)[0]), s,
                                     is_folded(node, r, p), cost))
    if best is None:
        reach = _min_interval(node, options.unroll_limit) if options.unroll_limit else 1
        units, products = fold_shape(node)
        shape = f"{products * units:,} products" + (f", {units:,} output pixels" if ops.has(node.op, ops.SPATIAL)
                                                     else f", {units:,} output rows" if node.op != "Dense" else "")
        raise DesignError(f"--target-ii {target}: no folding of {node.describe()} ({shape}) meets it "
                          f"within the unroll limit {options.unroll_limit:,}; it can reach an interval of "
                          f"{reach:,} cycles: raise --target-ii (or --unroll-limit)")
    return best[1]


# ---------------------------------------------------------------------------------------------

def plan(graph: Graph, options: DesignOptions) -> Design:
    """Every layer's folding and cost, the totals, and the guard (DesignError on a violation)."""
    _check_cli(options)
    target = options.target()
    for name in graph.inputs:  # io_parallel ports are partitioned into registers too
        n = graph.node(name).out.size
        if options.unroll_limit and n > options.unroll_limit:
            raise DesignError(f"{graph.node(name).describe()} has {n:,} elements, over the synthesizable "
                              f"limit of {options.unroll_limit:,} registers of an io_parallel port (--unroll-limit); "
                              "it needs the streaming architecture (not in qconv yet), or --unroll-limit 0 for a C "
                              "simulation only")
    layers: dict[str, LayerDesign] = {}
    chosen = []
    for node in graph.topo():
        if node.op == "Input":
            continue
        if not ops.has(node.op, ops.FOLDS):
            _settings(node, options)  # a config entry naming it with a design field is a mistake
            layers[node.name] = LayerDesign(node.name, node.op, 1, 1, "latency", False,
                                            layer_cost(graph, node, clock_ns=options.clock_period))
        else:
            given, fixed = _settings(node, options)
            if target is not None and len(fixed) < 3:
                layers[node.name] = _search(graph, node, target, given, fixed, options)
                chosen.append(node.name)
                continue
            r, p, s = given.get("reuse_factor", 1), given.get("parallelization", 1), given.get("strategy", "latency")
            units = fold_shape(node)[0]
            layers[node.name] = LayerDesign(node.name, node.op, r, min(p, units), s, is_folded(node, r, p),
                                            layer_cost(graph, node, r, p, s, options.clock_period))
        if target is not None and layers[node.name].cost.interval > target:
            raise DesignError(f"--target-ii {target}: {node.describe()} is fixed by the config at reuse_factor "
                              f"{layers[node.name].reuse_factor}, parallelization {layers[node.name].parallelization}"
                              f" (interval {layers[node.name].cost.interval:,} cycles); change its entry")
    for node in graph.topo():
        if node.name in layers:
            _guard(node, layers[node.name], options.unroll_limit)
    return _design(graph, layers, options, target, chosen)


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
