"""HGQ (v1) quantizer: per-element fraction bits, rounding strategies, exact bit counts and the
ap_fixed types they imply, cross-checked with ap_fixed (`FixedType`) and the `quantizers`
package's numpy fixed-point quantizer (HGQ2's reference)."""

from __future__ import annotations

import numpy as np
import pytest

from qconv.errors import QconvError
from qconv.fixed import FixedType
from qconv.quantizers import HGQ
from qconv.quantizers.hgq import apf_to_tuple, get_arr_bits, tuple_to_apf

X = (np.arange(-4096, 4097, dtype=np.float32) / 64).reshape(-1, 1)


def test_standard_round_is_ap_rnd_per_element():
    fbw = np.array([0.0, 2.0, 3.4, -1.0], np.float32)  # RNE(3.4) = 3
    q = HGQ(fbw, rnd_strategy="standard_round")
    y = q(np.broadcast_to(X, (X.shape[0], 4)))
    for j, f in enumerate([0, 2, 3, -1]):
        t = FixedType(40, 40 - f, True, "RND", "WRAP")  # wide: HGQ v1 never saturates
        assert np.array_equal(y[:, j], t.to_float(t.from_float(X[:, 0])))
    assert HGQ(0.0, rnd_strategy="standard_round")(np.float32([-0.5, 0.5, 1.5, -1.5])).tolist() == [0, 1, 2, -1]


def test_floor_and_other_strategies_at_inference():
    floor = HGQ(1.0, rnd_strategy="floor")
    assert floor(np.float32([0.74, -0.1])).tolist() == [0.5, -0.5]
    for strategy in ("stochastic_round", "fast_uniform_noise_injection", 1, 2, "auto"):
        assert np.array_equal(HGQ(1.0, rnd_strategy=strategy)(X), HGQ(1.0, rnd_strategy=0)(X))
    with pytest.raises(QconvError, match="seed"):
        HGQ(1.0, rnd_strategy=1)(X, training=True)
    sampled = HGQ(1.0, rnd_strategy=1)(X, training=True, seed=0)
    assert np.all(np.abs(sampled - X) < 0.5)


def test_matches_quantizers_package():
    from quantizers.fixed_point.fixed_point_ops_np import get_fixed_quantizer_np
    ref = get_fixed_quantizer_np("RND", "WRAP")
    for f in (0, 1, 3, 5):
        ours = HGQ(float(f), rnd_strategy=0)(X)
        theirs = ref(X.astype(np.float64), np.float64(1), np.float64(30), np.float64(f))
        assert np.array_equal(ours, theirs)


def test_bits_exact_and_types():
    q = HGQ(np.array([2.0, 0.0, 3.0], np.float32), rnd_strategy=0)
    q(np.array([[1.3, -5.0, 0.0], [-0.6, 2.0, 0.0]], np.float32), record=True)
    k, i, f = q.get_bits_exact()
    assert k.tolist() == [1, 1, 0] and f.tolist() == [2, 0, 0] and i.tolist() == [1, 3, 0]
    types = q.fixed_types()
    assert types[0] == FixedType(4, 2, True, "RND", "WRAP") and types[1] == FixedType(4, 4, True, "RND", "WRAP")
    assert types[2] == FixedType(1, 0, False, "RND", "WRAP")  # pruned element: 0 bits -> width 1
    with pytest.raises(QconvError, match="per-element"):
        q.hardware()
    uniform = HGQ(np.float32(2.0), rnd_strategy=0)
    hw = uniform.hardware(np.float32([[0.3], [-1.2]]))
    assert hw.fixed == tuple_to_apf(1, 1, 2) and apf_to_tuple(hw.fixed) == (1, 1, 2)


def test_pos_only_bits():
    q = HGQ(np.float32([4.0]), rnd_strategy=0)
    q(np.float32([[0.0], [2.5]]), record=True)
    k, i, f = q.get_bits_exact(pos_only=True)
    assert (k.tolist(), i.tolist(), f.tolist()) == ([0], [2], [4])


def test_weight_bits():
    k, i, f = get_arr_bits(np.array([0.75, -3.0, 0.0, 1.0, 0.1015625]))
    assert k.tolist() == [0, 1, 0, 0, 0]
    assert i.tolist() == [0, 2, 0, 1, -3]
    assert f.tolist() == [2, 0, 0, 0, 7]
