"""Randomized layer configurations (was tests/test_ops_random.py; the tests are in
tests/ops/test_<family>.py, one kind a family): the numpy simulator against qonnx's reference
executor (exact: every value here is a short dyadic), and against the g++ C simulation, integer
for integer, with dozens of configurations per op compiled into one g++ build."""

from __future__ import annotations

import numpy as np
import onnx

from qconv.pipeline import compile_model
from qconv.sim import simulate

from ..helpers import build_and_csim, qonnx_reference_runs
from ..randmodels import Builder, conv_branch, eltwise_branch, matmul_branch, pool_branch, shape_branch

BRANCHES = {"conv": conv_branch, "pool": pool_branch, "eltwise": eltwise_branch, "shape": shape_branch,
            "matmul": matmul_branch}


def _branches(kind: str, seed: int, count: int, **kw) -> Builder:
    b = Builder(seed)
    for i in range(count):
        BRANCHES[kind](b, dims=1 + i % 2, **kw)
    return b


def sim_equals_qonnx_reference(tmp_path, kind, seed):
    exact = {"pool": {"only_exact_avg": True}, "shape": {"exact_only": True}}  # BatchNorm's float s, t are not
    b = _branches(kind, seed, 12, **exact.get(kind, {}))
    path = tmp_path / "m.onnx"
    onnx.save(b.model(), str(path))
    rng = np.random.default_rng(seed)
    inputs = {vi.name: rng.uniform(-9, 9, (4, *[d.dim_value for d in vi.type.tensor_type.shape.dim][1:]))
              for vi in b.inputs}
    graph = compile_model(path)
    got = simulate(graph, inputs).as_float()
    want = qonnx_reference_runs(path, inputs)
    for name, ref in zip(graph.output_names, want):
        np.testing.assert_array_equal(got[name], ref.reshape(got[name].shape), err_msg=name)


def sim_equals_csim(tmp_path, kind, seed, count):
    path = tmp_path / "m.onnx"
    onnx.save(_branches(kind, seed, count).model(), str(path))
    build_and_csim(path, tmp_path / "prj", "--default-type", "ap_fixed<18,8,AP_RND,AP_SAT>", samples=40)
