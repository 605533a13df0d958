"""Seeded random activation branches for tests/ops/test_activation.py, on top of randmodels.Builder:
one input, an input quantizer, one activation (sometimes after a layout-changing Transpose),
sometimes an output quantizer, one output each; many branches go into one model so one g++
build checks dozens of configurations."""

from __future__ import annotations

import numpy as np

from .randmodels import Builder

SLOPES = [0.01, 0.1, 0.2, 0.3, 1 / 3, 0.125, 0.25, 0.5, 2.0, 1.0, 0.0, -0.5, -0.3, 1.5]


def _input(b: Builder, shape, bits=(3, 10), frac=(0, 6), signed=None):
    r = b.rng
    x = b.input(shape)
    s = bool(r.integers(0, 2)) if signed is None else signed
    return b.quant(x, int(r.integers(*bits)), int(r.integers(*frac)), signed=s)


def _maybe_out_quant(b: Builder, y: str, signed=True, p=0.5, bits=(3, 12), frac=(0, 8)) -> str:
    r = b.rng
    if r.random() < p:
        y = b.quant(y, int(r.integers(*bits)), int(r.integers(*frac)), signed=signed)
    return y


def _maybe_transpose(b: Builder, x: str, rank: int) -> str:
    """Half the time, a Transpose of the per-sample axes (memory order differs from ONNX's)."""
    if rank > 1 and b.rng.random() < 0.5:
        perm = [0] + [int(p) + 1 for p in b.rng.permutation(rank)]
        return b.node("Transpose", [x], perm=perm)
    return x


def leaky_relu_branch(b: Builder):
    r = b.rng
    x = _input(b, [int(r.integers(1, 6))])
    y = b.node("LeakyRelu", [x], alpha=float(r.choice(SLOPES)))
    b.output(_maybe_out_quant(b, y))


def prelu_branch(b: Builder):
    r = b.rng
    c, h, w = (int(v) for v in r.integers(1, 4, 3))
    x = _maybe_transpose(b, _input(b, [c, h, w]), 3)
    # the slope's ONNX shape broadcasts against the (possibly transposed) tensor
    shape = [c, h, w] if "transpose" not in x else None
    kind = int(r.integers(0, 4))
    if shape is None:
        slope_shape = [1]
    else:
        slope_shape = [[c, 1, 1], [1], [h, w], [c, h, w]][kind]
    if r.random() < 0.4:
        values = r.choice([0.125, 0.25, 0.5, -0.25, 1.0], slope_shape)
    else:
        values = r.uniform(-0.6, 0.6, slope_shape)
    slope = b.const(np.asarray(values))
    if r.random() < 0.3:
        slope = b.quant(slope, int(r.integers(3, 7)), int(r.integers(2, 5)))
    y = b.node("PRelu", [x, slope])
    b.output(_maybe_out_quant(b, y))


def hard_sigmoid_branch(b: Builder):
    r = b.rng
    alpha, beta = [(0.2, 0.5), (0.25, 0.5), (1 / 6, 0.5), (0.5, 0.25), (-0.3, 0.6)][int(r.integers(0, 5))]
    x = _input(b, [int(r.integers(1, 5))])
    y = b.node("HardSigmoid", [x], alpha=alpha, beta=beta)
    b.output(_maybe_out_quant(b, y, signed=bool(r.integers(0, 2))))


def clip_branch(b: Builder):
    r = b.rng
    x = _input(b, [int(r.integers(1, 5))])
    bounds = [(0.0, 6.0), (-1.0, 1.0), (-1.3, 0.7), (0.1, None), (None, 2.5), (0.0, 0.0), (-100.0, 100.0)]
    lo, hi = bounds[int(r.integers(0, len(bounds)))]
    ins = [x, b.const(np.array(lo)) if lo is not None else "", b.const(np.array(hi)) if hi is not None else ""]
    if r.random() < 0.3 and lo is not None:
        ins[1] = b.quant(ins[1], 8, 3)
    while ins[-1] == "":
        ins.pop()
    y = b.node("Clip", ins)
    b.output(_maybe_out_quant(b, y))


def table_branch(b: Builder, op: str):
    r = b.rng
    x = _input(b, [int(r.integers(1, 5))], bits=(3, 11))
    attrs = {}
    if op == "Elu":
        attrs["alpha"] = float(r.choice([1.0, 0.5, 1.7]))
    y = b.node(op, [x], **attrs)
    b.output(_maybe_out_quant(b, y, bits=(4, 14), frac=(2, 10)))


def softmax_branch(b: Builder):
    r = b.rng
    kind = int(r.integers(0, 3))
    n = int(r.integers(2, 12))
    shape = [[n], [int(r.integers(2, 4)), n], [n, int(r.integers(2, 4))]][kind]
    x = _input(b, shape, bits=(3, 12), frac=(0, 5))
    x = _maybe_transpose(b, x, len(shape))
    axis = int(r.choice([-1, 1])) if len(shape) > 1 else -1
    y = b.node("Softmax", [x], axis=axis)
    b.output(_maybe_out_quant(b, y, signed=False, p=0.4, bits=(4, 12), frac=(3, 11)))


FAMILIES = {
    "leaky_relu": leaky_relu_branch, "prelu": prelu_branch, "hard_sigmoid": hard_sigmoid_branch,
    "clip": clip_branch, "tanh": lambda b: table_branch(b, "Tanh"), "elu": lambda b: table_branch(b, "Elu"),
    "selu": lambda b: table_branch(b, "Selu"), "softmax": softmax_branch,
}


def branches(families: str | tuple[str, ...], seed: int, count: int) -> Builder:
    """One model with `count` random branches of each family."""
    b = Builder(seed)
    for family in ((families,) if isinstance(families, str) else families):
        for _ in range(count):
            FAMILIES[family](b)
    return b
