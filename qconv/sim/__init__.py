"""The bit-exact numpy simulator: `simulate(graph, inputs)`.

Inputs are float arrays (batch first), quantized to each graph input's fixed type exactly as
constructing that `ap_fixed` from a double does; every op then computes on int64 mantissas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from ..fixed import FixedType
from ..ir import Graph
from . import activation, arith, conv, eltwise, kernels  # noqa: F401  (register the kernels)
from .registry import KERNELS


@dataclass
class SimResult:
    outputs: dict[str, np.ndarray]            # output name -> int64 mantissas (N, *shape)
    types: dict[str, FixedType]               # output name -> its type
    trace: dict[str, np.ndarray] = field(default_factory=dict)   # node -> mantissas (trace=True)
    overflows: dict[str, int] = field(default_factory=dict)      # node -> values changed by overflow
    accumulator_overflows: dict[str, int] = field(default_factory=dict)  # node -> wrapped accumulator sums

    def as_float(self) -> dict[str, np.ndarray]:
        return {k: self.types[k].to_float(v) for k, v in self.outputs.items()}


def quantize_inputs(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Float inputs keyed by ONNX input name -> int64 mantissas keyed by IR input node."""
    out = {}
    for name in graph.inputs:
        node = graph.node(name)
        key = node.attrs.get("onnx_name", name)
        if key not in inputs:
            raise ModelError(f"no data for graph input '{key}' (given: {', '.join(inputs) or 'nothing'})")
        x = np.asarray(inputs[key], dtype=np.float64)
        if x.shape[1:] != node.out.shape:
            if x.ndim >= 1 and x[0].size == node.out.size:
                x = x.reshape((x.shape[0],) + node.out.shape)
            else:
                raise ModelError(f"input '{key}': expected shape (N, {', '.join(map(str, node.out.shape))}), "
                                 f"got {x.shape}")
        if "input_quant" in node.attrs:  # a float-scale Quant on the input: q = round(x / s), on the host
            out[name] = np.asarray(node.attrs["input_quant"].integers(x), np.int64)
        else:
            out[name] = node.out.fixed.from_float(x)
    return out


CHUNK = 1024  # samples per pass: keeps the int64 temporaries in cache (2x faster on big layers)


def run(graph: Graph, mantissas: dict[str, np.ndarray], trace: bool = False) -> SimResult:
    """Evaluate the graph on input mantissas (keyed by input node name), CHUNK samples at a time."""
    n = next(iter(mantissas.values())).shape[0] if mantissas else 0
    if trace or n <= CHUNK:
        return _run_batch(graph, mantissas, trace)
    parts = [_run_batch(graph, {k: v[i:i + CHUNK] for k, v in mantissas.items()}, False)
             for i in range(0, n, CHUNK)]
    merged = SimResult({k: np.concatenate([p.outputs[k] for p in parts]) for k in parts[0].outputs},
                       parts[0].types)
    for p in parts:
        for k, v in p.overflows.items():
            merged.overflows[k] = merged.overflows.get(k, 0) + v
        for k, v in p.accumulator_overflows.items():
            merged.accumulator_overflows[k] = merged.accumulator_overflows.get(k, 0) + v
    return merged


def _run_batch(graph: Graph, mantissas: dict[str, np.ndarray], trace: bool) -> SimResult:
    values: dict[str, np.ndarray] = dict(mantissas)
    overflows: dict[str, int] = {}
    arith.start_log()  # Dense/Conv accumulators that wrap (narrow --accumulator choices)
    for node in graph.topo():
        if node.op == "Input":
            continue
        xs = [values[i] for i in node.inputs]
        xts = [graph.node(i).out.fixed for i in node.inputs]
        y, ovf = KERNELS[node.op](node, xs, xts)
        if ovf is not None and ovf.any():
            overflows[node.name] = int(ovf.sum())
        values[node.name] = y
    outs = {name: values[node] for name, node in zip(graph.output_names, graph.outputs)}
    types = {name: graph.node(node).out.fixed for name, node in zip(graph.output_names, graph.outputs)}
    kept = {k: v for k, v in values.items()} if trace else {}
    return SimResult(outs, types, kept, overflows, arith.stop_log())


def simulate(graph: Graph, inputs: dict[str, np.ndarray], trace: bool = False) -> SimResult:
    return run(graph, quantize_inputs(graph, inputs), trace)
