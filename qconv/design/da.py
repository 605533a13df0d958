"""Distributed arithmetic (strategy `da`): a Dense layer's constant matrix product x @ W as an
adder graph of shifts, additions and subtractions (no multiplier), solved by da4ml's CMVM solver
(`da4ml.cmvm.solve`, the HGQ authors' library; hls4ml's `distributed_arithmetic` strategy calls
it), then rebuilt here as exact integer arithmetic that qconv owns:

- every node holds an integer mantissa m at a fixed power-of-two exponent e (value m * 2^e), in
  units of the input's and weights' least significant bits (x and W are integer mantissas), so
  the graph computes the integer sums x_int @ W_int: the same integers as the simulator's exact
  products, before the layer's bias and its one cast (qconv's, not da4ml's);
- each node's range comes from interval arithmetic over the input type's mantissa range, which
  sizes its two's-complement width (the C++ `ap_int<W>` of every node), so nothing overflows;
- the graph is checked to be exactly W: it is linear (only shifts, additions and subtractions),
  so evaluating it on the unit vectors must give W's rows, integer for integer; a solution that
  does not is refused (`DAError`), never emitted.

da4ml's `Op` semantics (da4ml/types.py CombLogic.__call__): opcode -1 copies input id0 scaled by
2^inp_shifts[id0]; opcodes 0/1 compute buf[id0] +/- buf[id1] * 2^data; a stage's outputs are
buf[out_idxs[j]] * 2^out_shifts[j], negated where out_negs[j], zero where out_idxs[j] < 0; a
Pipeline's stages run one after another, each stage's outputs the next one's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import QconvError

MAX_WEIGHT_BITS = 24  # da4ml takes the kernel as float32: integers up to 2^24 are exact
# da4ml's search over every delay-constraint decomposition (search_all_decompose_dc) is for small
# matrices only: it saved up to 7% of the adders on the jet tagger's and a Brevitas MLP's layers
# (<= 2,048 weights, 0.01-0.45 s), but took 60 s instead of 5.8 s for the same 5,676 adders on a
# TFC's 553x64 layer, and more than 4 minutes on a 490x256 one
SEARCH_ALL_MAX_WEIGHTS = 4096


class DAError(QconvError):
    """A layer that the distributed-arithmetic strategy cannot build exactly."""


@dataclass(frozen=True)
class Node:
    """value = m * 2^exp with m in [lo, hi]. kind "in": m = x[a]; "copy": m = +/-(node a's m),
    exponent moved; "add": m = m_a * 2^(exp_a - exp) + sign * m_b * 2^(exp_b + shift - exp)."""

    kind: str
    a: int
    b: int
    sub: bool
    shift: int
    exp: int
    lo: int
    hi: int
    stage: int

    @property
    def width(self) -> int:
        """Two's-complement bits holding [lo, hi] (and the terms an add sums)."""
        return signed_bits(self.lo, self.hi)


def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement bits holding every integer in [lo, hi]."""
    return max(1, (-int(lo) - 1).bit_length() + 1 if lo < 0 else 1, int(hi).bit_length() + 1 if hi > 0 else 1)


@dataclass(frozen=True)
class AdderGraph:
    """The layer's products as adder-graph nodes; outputs[j] = (node, exp) with y_j = m_node *
    2^(exp_node - exp)... precisely: y_j = sign_j * m_node * 2^shift_j (an integer), or 0 for
    node -1 (a zero column)."""

    n_in: int
    nodes: tuple[Node, ...]
    outputs: tuple[tuple[int, int, bool], ...]  # (node or -1, left shift (may be negative), negate)
    stages: int
    weight_shift: int = 0  # the graph computes x @ (W / 2^weight_shift): W's common zero low bits, left out

    @property
    def adders(self) -> int:
        return sum(n.kind == "add" for n in self.nodes)

    @property
    def adder_bits(self) -> int:
        """The bits of every adder: what its LUTs and carry chains cost (one LUT per bit)."""
        return sum(n.width for n in self.nodes if n.kind == "add")

    @property
    def levels(self) -> list[int]:
        """Each node's adder depth from the inputs (a copy: its source's)."""
        d: list[int] = []
        for n in self.nodes:
            d.append(0 if n.kind == "in" or n.a < 0 else d[n.a] if n.kind == "copy" else 1 + max(d[n.a], d[n.b]))
        return d

    @property
    def depth(self) -> int:
        """The longest chain of adders from an input to an output (the combinational depth)."""
        d = self.levels
        return max((d[i] for i, _, _ in self.outputs if i >= 0), default=0)

    @property
    def stage_bits(self) -> int:
        """The bits registered between da4ml's pipeline stages (each later stage's inputs)."""
        return sum(n.width for n in self.nodes if n.kind == "copy" and n.stage > 0 and n.a >= 0)

    def output_bounds(self) -> list[tuple[int, int]]:
        out = []
        for idx, shift, neg in self.outputs:
            if idx < 0:
                out.append((0, 0))
                continue
            n = self.nodes[idx]
            lo, hi = _scale(n.lo, shift), _scale(n.hi, shift)
            out.append((-hi, -lo) if neg else (lo, hi))
        return out


def _scale(m: int, shift: int) -> int:
    return m << shift if shift >= 0 else m >> -shift


def _term(lo: int, hi: int, k: int) -> tuple[int, int]:
    return lo << k, hi << k


def build(pipeline, n_in: int, x_lo: int, x_hi: int) -> AdderGraph:
    """Rebuild a da4ml Pipeline (or a single CombLogic) as exact integer nodes with their ranges."""
    stages = list(getattr(pipeline, "solutions", None) or [pipeline])
    nodes: list[Node] = []
    inputs: list = [("x", i) for i in range(n_in)]  # a stage's input i: x[i], a node, or None (zero)
    outputs: list[tuple[int, int, bool]] = []
    for stage, comb in enumerate(stages):
        local: list[int] = []
        for op in comb.ops:
            if op.opcode == -1:
                src = inputs[op.id0]
                shift = int(comb.inp_shifts[op.id0])
                if src is None:  # a zero input (the previous stage's zero column)
                    nodes.append(Node("copy", -1, -1, False, 0, 0, 0, 0, stage))
                elif src[0] == "x":
                    nodes.append(Node("in", src[1], -1, False, 0, shift, x_lo, x_hi, stage))
                else:
                    _, idx, exp, neg = src
                    n = nodes[idx]
                    lo, hi = (-n.hi, -n.lo) if neg else (n.lo, n.hi)
                    nodes.append(Node("copy", idx, -1, neg, 0, n.exp + exp + shift, lo, hi, stage))
            elif op.opcode in (0, 1):
                a, b = nodes[local[op.id0]], nodes[local[op.id1]]
                shift = int(op.data)
                exp = min(a.exp, b.exp + shift)
                alo, ahi = _term(a.lo, a.hi, a.exp - exp)
                blo, bhi = _term(b.lo, b.hi, b.exp + shift - exp)
                if op.opcode == 1:
                    blo, bhi = -bhi, -blo
                lo, hi = alo + blo, ahi + bhi
                # the width must also hold each aligned term (the C++ casts both into it first)
                wide = min(lo, alo, blo), max(hi, ahi, bhi)
                nodes.append(Node("add", local[op.id0], local[op.id1], op.opcode == 1, shift, exp, wide[0], wide[1],
                                  stage))
            else:
                raise DAError(f"da4ml produced operation {op.opcode}, which qconv's DA strategy does not build "
                              "(only shifts, additions and subtractions)")
            local.append(len(nodes) - 1)
        outs = []
        for idx, shift, neg in zip(comb.out_idxs, comb.out_shifts, comb.out_negs):
            outs.append(None if idx < 0 else ("node", local[idx], int(shift), bool(neg)))
        inputs = outs
        outputs = [(-1, 0, False) if o is None else (o[1], nodes[o[1]].exp + o[2], o[3]) for o in outs]
    return AdderGraph(n_in, tuple(nodes), tuple(outputs), len(stages))


def node_values(g: AdderGraph, x: np.ndarray) -> list[np.ndarray]:
    """Every node's mantissa on integer inputs x (batch, n_in), as Python integers (exact)."""
    x = np.asarray(x, dtype=object)
    vals: list = []
    for n in g.nodes:
        if n.kind == "in":
            vals.append(x[:, n.a])
        elif n.kind == "copy":
            v = 0 * x[:, 0] if n.a < 0 else vals[n.a]
            vals.append(-v if n.sub else v)
        else:
            a, b = g.nodes[n.a], g.nodes[n.b]
            va = vals[n.a] * (1 << (a.exp - n.exp))
            vb = vals[n.b] * (1 << (b.exp + n.shift - n.exp))
            vals.append(va - vb if n.sub else va + vb)
    return vals


def evaluate(g: AdderGraph, x: np.ndarray) -> np.ndarray:
    """The graph's outputs on integer inputs x (batch, n_in) -> (batch, n_out), exact integers
    (a negative output shift is an arithmetic right shift: exact for a graph solve_dense accepted)."""
    vals, zero = node_values(g, x), 0 * np.asarray(x, dtype=object)[:, 0]
    out = []
    for idx, shift, neg in g.outputs:
        v = zero if idx < 0 else (vals[idx] * (1 << shift) if shift >= 0 else
                                  np.array([int(e) >> -shift for e in vals[idx]], dtype=object))
        out.append(-v if neg else v)
    return np.stack(out, axis=1) if out else np.zeros((len(zero), 0), dtype=object)


def filter_bank(w: np.ndarray, n_chan: int, groups: int) -> np.ndarray:
    """A Conv's filter bank as one constant matrix: W (O, C/g, kh, kw), ONNX's order -> M (kh * kw *
    C, O) with M[(ky * kw + kx) * C + c, f] = W[f, c - g(f) * C/g, ky, kx] for the channels c of
    filter f's group g(f), else 0: one output pixel is window @ M, the window its kh x kw x C
    inputs in that order (padding: zeros, which add nothing to a linear graph)."""
    o, cpg, kh, kw = w.shape
    m = np.zeros((kh, kw, n_chan, o), dtype=np.int64)
    fpg = o // groups
    for f in range(o):
        g = f // fpg
        m[:, :, g * cpg:(g + 1) * cpg, f] = w[f].transpose(1, 2, 0)
    return m.reshape(kh * kw * n_chan, o)


def solve_dense(weights: np.ndarray, x_lo: int, x_hi: int, where: str) -> AdderGraph:
    """The adder graph of x @ weights for integer weights (n_in, n_out) and integer inputs in
    [x_lo, x_hi], checked exact (module docstring)."""
    w = np.asarray(weights, dtype=np.int64)
    if w.size and int(np.abs(w).max()).bit_length() > MAX_WEIGHT_BITS:
        raise DAError(f"{where}: weights wider than {MAX_WEIGHT_BITS} bits; da4ml takes float32 kernels: use "
                      "strategy latency or resource for this layer")
    try:
        from da4ml.cmvm import solve
    except ImportError:
        raise DAError("strategy da needs the da4ml package: pip install da4ml (the project's dependencies "
                      "list it; `make venv` installs it)") from None
    # only the inputs with a nonzero weight go to da4ml: with all-zero rows in the matrix (a TFC's
    # border pixels) da4ml 0.6 gave the input 2^127 and outputs that were not x @ W (measured)
    keep = np.flatnonzero(w.any(axis=1))
    if keep.size == 0:
        return AdderGraph(w.shape[0], (), tuple((-1, 0, False) for _ in range(w.shape[1])), 0)
    try:
        pipeline = solve(w[keep].astype(np.float32), qintervals=[(float(x_lo), float(x_hi), 1.0)] * keep.size,
                         search_all_decompose_dc=keep.size * w.shape[1] <= SEARCH_ALL_MAX_WEIGHTS)
    except (MemoryError, RuntimeError) as exc:  # (da4ml's C++ solver: std::bad_alloc on a 16384x4 matrix)
        raise DAError(f"{where}: da4ml could not solve its {keep.size}x{w.shape[1]} matrix ({type(exc).__name__}: "
                      f"{exc}); use strategy latency or resource for this layer") from None
    g = build(pipeline, keep.size, x_lo, x_hi)
    g = replace(g, n_in=w.shape[0], nodes=tuple(replace(n, a=int(keep[n.a])) if n.kind == "in" else n
                                                for n in g.nodes))
    # linear in x: exact on every input iff exact on the unit vectors, and a right-shifted output
    # node is divisible for every input iff its unit-vector values (its coefficients) are
    eye = np.eye(w.shape[0], dtype=np.int64)
    vals = node_values(g, eye)
    inexact = [j for j, (idx, shift, _) in enumerate(g.outputs)
               if idx >= 0 and shift < 0 and any(int(v) % (1 << -shift) for v in vals[idx])]
    if inexact or not np.array_equal(evaluate(g, eye).astype(np.int64), w):
        raise DAError(f"{where}: da4ml's adder graph does not compute the weights exactly; use strategy latency "
                      "or resource for this layer (please report the model)")
    return g
