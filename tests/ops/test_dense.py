"""The dense family (Dense, MatMul): the simulator's Dense kernel on both arithmetic paths (float64
BLAS when provably exact, int64 otherwise) against Python's unbounded integers, and overflow
accounting at casts."""

from __future__ import annotations

import numpy as np
import pytest

from qconv.fixed import FixedType
from qconv.ir import Const, Graph, Node, TensorType
from qconv.passes import Options, infer_types
from qconv.sim import run

from . import random_layers


def _dense_graph(t_in: FixedType, t_w: FixedType, w: np.ndarray, b: np.ndarray | None, t_b=None, t_out=None):
    g = Graph("d")
    g.add(Node("x", "Input", [], TensorType((w.shape[0],), t_in)))
    consts = {"W": Const(w, t_w)}
    if b is not None:
        consts["b"] = Const(b, t_b)
    g.add(Node("fc", "Dense", ["x"], TensorType((w.shape[1],), t_out), consts=consts))
    g.inputs, g.outputs, g.output_names = ["x"], ["fc"], ["y"]
    return infer_types.apply(g, Options())


@pytest.mark.parametrize("w_bits,x_bits", [(6, 8), (28, 28), (20, 32)], ids=["float64-path", "int64-path", "mixed"])
def test_dense_is_exact_against_python_integers(w_bits, x_bits):
    rng = np.random.default_rng(w_bits)
    t_in, t_w, t_b = FixedType(x_bits, 3), FixedType(w_bits, 1), FixedType(12, 6)
    w = rng.integers(t_w.min_mantissa, t_w.max_mantissa, (9, 4), endpoint=True)
    b = rng.integers(t_b.min_mantissa, t_b.max_mantissa, 4, endpoint=True)
    x = rng.integers(t_in.min_mantissa, t_in.max_mantissa, (50, 9), endpoint=True)
    x[0] = t_in.min_mantissa  # the extremes: the worst case for the accumulator
    x[1] = np.where(w[:, 0] > 0, t_in.max_mantissa, t_in.min_mantissa)
    g = _dense_graph(t_in, t_w, w, b, t_b)
    acc_t = g.node("fc").attrs["accum"]
    got = run(g, {"x": x}).outputs["y"]
    shift_p = acc_t.frac - t_in.frac - t_w.frac
    shift_b = acc_t.frac - t_b.frac
    want = [[sum(int(x[s, i]) * int(w[i, j]) for i in range(9)) * 2**shift_p + int(b[j]) * 2**shift_b
             for j in range(4)] for s in range(50)]
    assert got.tolist() == want
    assert acc_t.width <= 63


def test_output_cast_counts_overflow():
    t_in, t_w = FixedType(8, 8), FixedType(8, 8)
    w = np.full((4, 1), 127)
    g = _dense_graph(t_in, t_w, w, None, t_out=FixedType(8, 8, overflow="SAT"))
    x = np.array([[1, 0, 0, 0], [127, 127, 127, 127], [-128, 0, 0, 0]])
    r = run(g, {"x": x})
    assert r.outputs["y"].reshape(-1).tolist() == [127, 127, -128]
    assert r.overflows == {"fc": 2}


@pytest.mark.parametrize("kind,seed", [("matmul", 6)])
def test_random_layers_sim_equals_qonnx_reference(tmp_path, kind, seed):
    random_layers.sim_equals_qonnx_reference(tmp_path, kind, seed)


@pytest.mark.slow
@pytest.mark.parametrize("kind,seed,count", [("matmul", 15, 30)])
def test_random_layers_sim_equals_csim(tmp_path, kind, seed, count):
    random_layers.sim_equals_csim(tmp_path, kind, seed, count)
