"""The qconv intermediate representation: a small dataflow graph on top of networkx.

A `Graph` holds `Node`s keyed by name in a `networkx.DiGraph`; an edge `a -> b` means `b` reads
the output of `a`. Every node has exactly one output tensor, typed by a `TensorType` (per-sample
shape without the batch dimension, plus a `FixedType` once type inference has run). Constant
operands (weights, biases) live on the node that uses them as `Const` values: integer mantissas
plus their fixed-point type, or float values before quantizer absorption has quantized them.

The canonical ops (what passes, simulator and backend understand), with their attributes,
constants and traits, are the op table in `qconv/ops.py`.

Every typed node records who chose its output type in ``attrs["type_source"]`` (TYPE_SOURCES):
a declared quantizer saturates by design (the simulator counts that as *clipping*), while a
value that does not fit a type qconv or an option chose is an *overflow*, a real loss.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Iterator

import networkx as nx
import numpy as np

from .fixed import FixedType
from .names import CppNames, printable


# node.attrs["type_source"] -> how messages name it. "quantizer": QONNX Quant/IntQuant/BipolarQuant/
# Trunc, QuantizeLinear, a config activation, FINN MultiThreshold (absorb_quantizers, apply_config,
# fuse_requantizer, infer_types); the others are set by infer_types.
TYPE_SOURCES = {
    "quantizer": "a declared quantizer",
    "option": "--input-type/--default-type",
    "annotation": "the model's FINN datatype annotation",
    "inferred": "inferred by qconv",
    "accumulator_cap": "the --accumulator cap",
}


@dataclass
class TensorType:
    """Per-sample shape (batch dimension excluded) and fixed-point type of a tensor."""

    shape: tuple[int, ...]
    fixed: FixedType | None = None

    @property
    def size(self) -> int:
        return math.prod(int(d) for d in self.shape)

    def __str__(self) -> str:
        dims = "x".join(str(d) for d in self.shape) or "scalar"
        return f"{dims} {self.fixed.to_cpp() if self.fixed else '<untyped>'}"


@dataclass
class Const:
    """A constant operand. `fixed` is None while `values` still holds floats (before
    quantization); afterwards `values` holds int64 mantissas of type `fixed`."""

    values: np.ndarray
    fixed: FixedType | None = None
    # integers q of a quantizer with a non-power-of-two scale: the value is q * scale (float32,
    # same shape as values); the scale is applied after the layer, in float (see fuse_requantizer)
    scale: np.ndarray | None = None

    @property
    def quantized(self) -> bool:
        return self.fixed is not None

    def as_float(self) -> np.ndarray:
        return self.fixed.to_float(self.values) if self.fixed else np.asarray(self.values, np.float64)

    def dequantized(self) -> np.ndarray:
        """The float32 value a reference computes with, float32(codes * scale) for a scaled
        constant (codes: integers, or minifloat values with fraction bits), as float64."""
        if self.scale is None:
            return self.as_float()
        return (self.as_float() * self.scale).astype(np.float32).astype(np.float64)

    def __str__(self) -> str:
        shape = "x".join(str(d) for d in self.values.shape) or "scalar"
        return f"{shape} {self.fixed.to_cpp() if self.fixed else 'float'}"


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    out: TensorType = field(default_factory=lambda: TensorType(()))
    attrs: dict = field(default_factory=dict)
    consts: dict[str, Const] = field(default_factory=dict)
    origin: str = ""  # where it came from, for error messages: "ONNX node 'fc1' (Gemm)"
    source: tuple[str, str] = ("", "")  # (ONNX node name, ONNX op type), for configs and reports

    def describe(self) -> str:
        return self.origin or f"node '{self.name}' ({self.op})"


class Graph:
    """A DAG of `Node`s; `inputs`/`outputs` list the graph's input and output node names in order."""

    def __init__(self, name: str = "model"):
        self.names = CppNames(name)  # C++ names of the nodes (qconv/names.py): fresh_name()
        self.name = self.names.function
        self.g = nx.DiGraph()
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        # ONNX tensor names of the graph outputs, parallel to `outputs` (for out.npz keys)
        self.output_names: list[str] = []
        self.notes: list[str] = []  # how the model was read (e.g. "no batch axis"), for the user

    # -- building ---------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        if node.name in self.g:
            raise ValueError(f"duplicate node name {node.name!r}")
        self.g.add_node(node.name, node=node)
        for src in node.inputs:
            self.g.add_edge(src, node.name)
        return node

    def fresh_name(self, base: str, is_input: bool = False) -> str:
        """A legal C++ name made from `base` that no node (or generated identifier) uses yet."""
        return self.names.unique(base, is_input)

    def node(self, name: str) -> Node:
        return self.g.nodes[name]["node"]

    def __contains__(self, name: str) -> bool:
        return name in self.g

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    # -- walking ----------------------------------------------------------------------------
    def topo(self) -> Iterator[Node]:
        """Nodes in a deterministic topological order (ties broken by insertion order)."""
        order = {n: i for i, n in enumerate(self.g.nodes)}
        for name in nx.lexicographical_topological_sort(self.g, key=order.__getitem__):
            yield self.node(name)

    def consumers(self, name: str) -> list[Node]:
        return [self.node(s) for s in self.g.successors(name)]

    def producers(self, node: Node) -> list[Node]:
        return [self.node(i) for i in node.inputs]

    # -- rewriting --------------------------------------------------------------------------
    def redirect(self, old: str, new: str, readers: list[Node] | None = None) -> None:
        """The readers of `old` (default: all of them now) and the graph output slots holding it
        read `new` instead."""
        for c in self.consumers(old) if readers is None else readers:
            c.inputs = [new if i == old else i for i in c.inputs]
            self.g.remove_edge(old, c.name)
            self.g.add_edge(new, c.name)
        self.outputs = [new if o == old else o for o in self.outputs]

    def set_inputs(self, node: Node, inputs: list[str]) -> None:
        """`node` reads `inputs` (in that order) instead of what it read; the edges follow."""
        for i in set(node.inputs):
            self.g.remove_edge(i, node.name)
        node.inputs = list(inputs)
        for i in node.inputs:
            self.g.add_edge(i, node.name)

    def replace(self, old: list[Node], new: Node) -> None:
        """Replace the nodes `old` (nothing outside them reads any but the last) by `new`, which
        reads its own `inputs` and takes over the readers and graph output slots of old[-1] (it
        may reuse that node's name)."""
        last, gone = old[-1].name, {n.name for n in old}
        readers = [c for c in self.consumers(last) if c.name not in gone]
        was_output = [o == last for o in self.outputs]
        for n in old:
            self.g.remove_node(n.name)
        self.add(new)
        for c in readers:
            c.inputs = [new.name if i == last else i for i in c.inputs]
            self.g.add_edge(new.name, c.name)
        self.outputs = [new.name if w else o for w, o in zip(was_output, self.outputs)]

    def bypass(self, node: Node) -> None:
        """Remove a single-input node, wiring its consumers (and graph outputs) to its input."""
        (src,) = node.inputs
        self.redirect(node.name, src)
        self.g.remove_node(node.name)

    def remove(self, node: Node) -> None:
        """Remove a node that nothing reads any more."""
        if any(True for _ in self.g.successors(node.name)) or node.name in self.outputs:
            raise ValueError(f"cannot remove {node.name!r}: it is still read")
        self.g.remove_node(node.name)

    # -- printing ---------------------------------------------------------------------------
    def dump(self) -> str:
        """A readable, one line per node text form (what `qconv inspect` prints); ONNX names with
        newlines or other control characters are shown escaped (names.printable)."""
        def names(values) -> str:
            return ", ".join(printable(v) for v in values)
        lines = [f"graph {printable(self.name)}: inputs {names(self.inputs)} -> outputs {names(self.outputs)}"]
        lines += [f"  # {printable(note)}" for note in self.notes]
        for n in self.topo():
            lines.append(f"  {printable(n.name)} = {n.op}({names(n.inputs)}) -> {n.out}")
            for k, c in n.consts.items():
                lines.append(f"      {k}: {c}")
            for k, v in n.attrs.items():
                shown = v.to_cpp() if isinstance(v, FixedType) else printable(v) if isinstance(v, str) else v
                lines.append(f"      {k} = {shown}")
        return "\n".join(lines)
