"""The bit-exact numpy simulator: `simulate(graph, inputs)`.

Inputs are float arrays (batch first), quantized to each graph input's fixed type exactly as
constructing that `ap_fixed` from a double does; every op then computes on int64 mantissas.

Values a cast changes are counted per node, in two kinds (node.attrs["type_source"], ir.py): a
declared quantizer that saturates *clips* by design (`SimResult.clipped`, every such cast, low
and high counts), while a value that does not fit a type qconv or an option chose (or an input
outside --input-type) is an *overflow*, a real loss (`SimResult.overflows`). A declared
quantizer that wraps (not saturates) counts as overflow too: wrapping is never a clip.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from threadpoolctl import ThreadpoolController

from ..errors import ModelError
from ..fixed import FixedType
from ..ir import Graph, Node
from . import activation, arith, conv, dense, eltwise, memory, threshold  # noqa: F401  (register the kernels)
from .registry import FLOATS, KERNELS, PLANS


SATURATING = ("SAT", "SAT_SYM")


@dataclass(frozen=True)
class Clipping:
    """One node's saturation by its declared quantizer: `low` values clipped to the type's lower
    end, `high` to its upper end, out of `total` values cast."""
    low: int
    high: int
    total: int

    @property
    def count(self) -> int:
        return self.low + self.high

    @property
    def fraction(self) -> float:
        return self.count / self.total if self.total else 0.0

    def __add__(self, other: "Clipping") -> "Clipping":
        return Clipping(self.low + other.low, self.high + other.high, self.total + other.total)


@dataclass
class Changes:
    """Tally of the values casts changed, per node: overflows and declared clipping (module doc),
    summed over the chunks counted."""
    overflows: dict[str, int] = field(default_factory=dict)
    clipped: dict[str, Clipping] = field(default_factory=dict)

    def count(self, node, y: np.ndarray, changed: np.ndarray | None) -> None:
        """Record the mask `changed` of a cast into node's type (y: the cast values)."""
        if changed is None:
            return
        t = node.out.fixed
        if node.attrs.get("type_source") == "quantizer" and t.overflow in SATURATING:
            changed = np.reshape(changed, y.shape)
            n = int(np.count_nonzero(changed))  # clipped values sit at one end of the type or the other
            high = int(np.count_nonzero(changed & (y > (t.max_mantissa + t.min_mantissa) // 2))) if n else 0
            seen = Clipping(n - high, high, int(y.size))
            self.clipped[node.name] = self.clipped[node.name] + seen if node.name in self.clipped else seen
        elif changed.any():
            self.overflows[node.name] = self.overflows.get(node.name, 0) + int(np.count_nonzero(changed))


@dataclass
class SimResult:
    outputs: dict[str, np.ndarray]            # output name -> int64 mantissas (N, *shape)
    types: dict[str, FixedType]               # output name -> its type
    trace: dict[str, np.ndarray] = field(default_factory=dict)   # node -> mantissas (trace=True)
    overflows: dict[str, int] = field(default_factory=dict)      # node -> values changed by overflow
    accumulator_overflows: dict[str, int] = field(default_factory=dict)  # node -> wrapped accumulator sums
    clipped: dict[str, Clipping] = field(default_factory=dict)   # node -> declared quantizer's clipping (even 0)
    profile: dict[str, np.ndarray] = field(default_factory=dict)  # node -> magnitude_histogram (profile=True)

    def as_float(self) -> dict[str, np.ndarray]:
        return {k: self.types[k].to_float(v) for k, v in self.outputs.items()}

    def add_counts(self, other: "SimResult") -> "SimResult":
        """Add another chunk's overflow, wrap and clipping counts to these (in place)."""
        for k, v in other.overflows.items():
            self.overflows[k] = self.overflows.get(k, 0) + v
        for k, v in other.accumulator_overflows.items():
            self.accumulator_overflows[k] = self.accumulator_overflows.get(k, 0) + v
        for k, c in other.clipped.items():
            self.clipped[k] = self.clipped[k] + c if k in self.clipped else c
        for k, h in other.profile.items():
            self.profile[k] = self.profile[k] + h if k in self.profile else h
        return self

    def add_input_changes(self, changes: "Changes") -> "SimResult":
        """Count the values quantize_inputs changed (inputs outside their types) with the layers'."""
        self.overflows = {**changes.overflows, **self.overflows}
        self.clipped = {**changes.clipped, **self.clipped}
        return self


def quantize_inputs(graph: Graph, inputs: dict[str, np.ndarray],
                    changes: Changes | None = None) -> dict[str, np.ndarray]:
    """Float inputs keyed by ONNX input name -> int64 mantissas keyed by IR input node; values
    outside an input's type are counted into `changes` when given."""
    return _quantize(graph, real_inputs(graph, inputs), changes)


def same_samples(samples: dict[str, int]) -> int:
    """The one number of samples of inputs keyed by ONNX name (the values), or one error line."""
    if len(set(samples.values())) > 1:
        raise ModelError("the inputs have different numbers of samples: "
                         + ", ".join(f"'{k}' {n}" for k, n in samples.items()))
    return next(iter(samples.values()))


def real_inputs(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Float inputs keyed by ONNX input name -> the same arrays (any real dtype, not copied) in the
    input nodes' shapes, keyed by IR input node, after checking that each is there, real, finite,
    of the right size and of the same number of samples."""
    out, samples = {}, {}
    for name in graph.inputs:
        node = graph.node(name)
        key = node.attrs.get("onnx_name", name)
        if key not in inputs:
            raise ModelError(f"no data for graph input '{key}' (given: {', '.join(inputs) or 'nothing'})")
        x = _real_values(key, inputs[key])
        samples[key] = x.shape[0]
        same_samples(samples)
        if x.shape[1:] != node.out.shape:
            if x.ndim >= 1 and x[0].size == node.out.size:
                x = x.reshape((x.shape[0],) + node.out.shape)
            else:
                raise ModelError(f"input '{key}': expected shape (N, {', '.join(map(str, node.out.shape))}), "
                                 f"got {x.shape}")
        out[name] = x
    return out


def _quantize(graph: Graph, reals: dict[str, np.ndarray], changes: Changes | None,
              as_float: bool = False) -> dict[str, np.ndarray]:
    """real_inputs -> int64 mantissas (`as_float`: or float64 arrays of them, which the float
    kernels take as they are): each input node's type from the doubles, as `ap_fixed`
    constructed from a double does."""
    out = {}
    for name, x in reals.items():
        node = graph.node(name)
        if "input_quant" in node.attrs:  # a float-scale Quant on the input: its codes (q = round(x / s) - z, minifloats), on the host
            out[name] = node.out.fixed.from_float(np.asarray(node.attrs["input_quant"].centered(x), np.float64))
        else:
            out[name], changed = node.out.fixed.from_float(x, return_overflow=True, as_float=as_float)
            if changes is not None:
                changes.count(node, out[name], changed)
    return out


def _real_values(key: str, data) -> np.ndarray:
    """The user's input array, checked: real, finite numbers and at least one sample (not copied:
    `from_float` makes float64 of it a chunk at a time)."""
    x = np.asarray(data)
    if x.dtype.kind not in "biuf":
        raise ModelError(f"input '{key}': values of type {x.dtype} given; qconv takes real numbers "
                         "(float or integer arrays)")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ModelError(f"input '{key}': no samples given (shape {x.shape}; the first axis counts samples)")
    if x.dtype.kind != "f":
        return x
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(x, dtype=np.float64)):  # NaN/inf if any value is (or if finite ones overflow: look)
            return x
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(x.astype(np.float64, copy=False))  # as doubles: a long double beyond their range is inf
    if not bad.any():
        return x
    first = int(np.argmax(bad.reshape(x.shape[0], -1).any(axis=1)))
    raise ModelError(f"input '{key}': {int(bad.sum())} NaN/Inf values (first in sample {first}); fixed point "
                     "has no NaN or infinity: clean the data first")


CHUNK = 2048  # samples per pass: few passes, while the temporaries stay in cache (2x faster on big layers) ...
NARROW = 128  # ... or twice as many when no kernel's arrays exceed this many values per sample (fewer calls),
# and never so many that an array outgrows the heap's blocks (memory.HEAP_BLOCK): fresh mmap'd pages
# would fault in on every pass (a 3072-sample TFC_2W2A pass ran 1.7x slower than a 2048-sample one)


def magnitude_histogram(m: np.ndarray) -> np.ndarray:
    """How many mantissas have each bit length of |m| (65 bins: 0 counts the zeros; k counts
    2^(k-1) <= |m| < 2^k), exactly for any int64 (bit lengths above 26 are found on m >> 26,
    which float64 holds exactly)."""
    a = np.abs(np.ravel(m)).astype(np.uint64)  # |int64 min| wraps to 2^63 as uint64: exact
    big = a >= 1 << 26
    bits = np.frexp(np.where(big, a >> np.uint64(26), a).astype(np.float64))[1] + 26 * big
    return np.bincount(bits, minlength=65)


def run(graph: Graph, mantissas: dict[str, np.ndarray], trace: bool = False,
        budget: int = memory.DEFAULT_BUDGET, profile: bool = False,
        convert: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
        steps: list["Step"] | None = None) -> SimResult:
    """Evaluate the graph on input mantissas (keyed by input node name), in chunks of at most CHUNK
    samples that keep the kernels' working memory within `budget` bytes (sim/memory.py).
    `profile`: also each node's magnitude_histogram (qconv eval --profile). `convert`: what each
    chunk of `mantissas` goes through first (`simulate` gives doubles and quantizes them here,
    a chunk at a time, while they are in cache). `steps`: `prepare(graph)`, when the caller runs
    the graph on many chunks (sim/stream.py) and made them once.
    BLAS runs on one thread: the products are small, and threads only add contention (scale out
    with `--workers` instead, sim/stream.py)."""
    n = next(iter(mantissas.values())).shape[0] if mantissas else 0
    wide = memory.widest(graph)
    most = min(2 * CHUNK if wide <= NARROW else CHUNK, max(1, memory.HEAP_BLOCK // (8 * wide)))
    step = memory.chunk_samples(graph, most, budget, wide)
    steps = prepare(graph) if steps is None else steps
    convert = convert or (lambda batch: batch)
    batches = [{k: v[i:i + step] for k, v in mantissas.items()} for i in range(0, n, step)] if n > step else [mantissas]
    with _blas().limit(limits=1, user_api="blas"):
        parts = [_run_batch(graph, steps, convert(batch), trace, profile) for batch in batches]
    if len(parts) == 1:
        return parts[0]
    merged = SimResult({k: np.concatenate([p.outputs[k] for p in parts]) for k in parts[0].outputs},
                       parts[0].types)
    if trace:
        merged.trace = {k: np.concatenate([p.trace[k] for p in parts]) for k in parts[0].trace}
    for p in parts:
        merged.add_counts(p)
    return merged


@functools.lru_cache(maxsize=1)
def _blas():
    """threadpoolctl's view of the BLAS libraries numpy loaded (made once: 10x cheaper limits)."""
    return ThreadpoolController()


@dataclass(frozen=True)
class Step:
    """One node's evaluation: its kernel, its input types and (for planned kernels) the plan."""
    node: Node
    kernel: Callable
    input_types: list[FixedType]
    plan: tuple  # () or (plan,): the kernel's fourth argument (sim/registry.py)
    floats: bool  # the kernel takes mantissas in float arrays (sim/registry.py)
    last_use: tuple[str, ...] = ()  # values no later step reads and no output is: dropped after this one


def prepare(graph: Graph) -> list[Step]:
    """The graph's nodes in evaluation order as Steps: made once per `run`, shared by its chunks."""
    order = [node for node in graph.topo() if node.op != "Input"]
    last = {i: k for k, node in enumerate(order) for i in node.inputs}  # the last reader of each value
    keep = set(graph.outputs)
    steps = []
    for k, node in enumerate(order):
        xts = [graph.node(i).out.fixed for i in node.inputs]
        dead = tuple(dict.fromkeys(i for i in node.inputs if last[i] == k and i not in keep))
        steps.append(Step(node, KERNELS[node.op], xts, _plan(node, xts), node.op in FLOATS, dead))
    return steps


def _plan(node: Node, xts: list[FixedType]) -> tuple:
    """() or (the node's plan,): what its kernel takes as a fourth argument (sim/registry.py)."""
    return (PLANS[node.op](node, xts),) if node.op in PLANS else ()


def run_node(node: Node, xs: list[np.ndarray], xts: list[FixedType]):
    """One node's kernel on input mantissas xs of types xts, its plan made on the spot: what
    `run` does for the node (tests of single kernels)."""
    y, *rest = KERNELS[node.op](node, xs, xts, *_plan(node, xts))
    return (np.asarray(y, np.int64), *rest)


def _ints(values: dict[str, np.ndarray], name: str) -> np.ndarray:
    """values[name] as int64 mantissas (a float array of them is converted once, in place in `values`)."""
    v = values[name]
    if v.dtype.kind == "f":
        v = values[name] = v.astype(np.int64)
    return v


def _run_batch(graph: Graph, steps: list[Step], mantissas: dict[str, np.ndarray], trace: bool,
               profile: bool = False) -> SimResult:
    values: dict[str, np.ndarray] = dict(mantissas)
    changes = Changes()
    wraps: dict[str, int] = {}  # Dense/Conv accumulators that wrap (narrow --accumulator choices)
    for st in steps:
        node = st.node
        xs = [values[i] if st.floats else _ints(values, i) for i in node.inputs]
        y, ovf, *wrapped = st.kernel(node, xs, st.input_types, *st.plan)
        if wrapped and wrapped[0]:  # accumulating kernels: + wrapped sums
            wraps[node.name] = wrapped[0]
        changes.count(node, y, ovf)
        values[node.name] = y
        if not (trace or profile):  # the arrays nothing reads any more go now: their memory is reused warm
            for i in st.last_use:
                del values[i]
    outs = {name: _ints(values, node) for name, node in zip(graph.output_names, graph.outputs)}
    types = {name: graph.node(node).out.fixed for name, node in zip(graph.output_names, graph.outputs)}
    kept = {k: _ints(values, k) for k in list(values)} if trace else {}
    hist = {k: magnitude_histogram(_ints(values, k)) for k in list(values)} if profile else {}
    return SimResult(outs, types, kept, changes.overflows, wraps, changes.clipped, hist)


def simulate(graph: Graph, inputs: dict[str, np.ndarray], trace: bool = False, budget: int = memory.DEFAULT_BUDGET,
             profile: bool = False, steps: list["Step"] | None = None) -> SimResult:
    """quantize_inputs + run (`steps` as there); values outside an input type are counted with the
    layers'. The inputs are checked whole, and quantized a chunk at a time inside `run`."""
    changes = Changes()
    return run(graph, real_inputs(graph, inputs), trace, budget, profile,
               convert=functools.partial(_quantize, graph, changes=changes, as_float=True), steps=steps
               ).add_input_changes(changes)
