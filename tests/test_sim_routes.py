"""The simulator's fast routes equal its general ones, value for value (issue 17's speed work).

Each fast route is taken only when a proof obligation holds (float sums exact, no accumulator
wrap, small input types); these tests draw many random layers, types and inputs, including the
cases at the edges of those obligations, and compare masks and counts as well as values:
- fixed.round_float / FixedType.from_exact against round_shift / the int64 cast;
- arith.Linear (Dense and the whole-layer Conv matrix) against matmul_exact + finish_accumulation
  (the int64 route) and the windowed Conv;
- the Thresholds table against the per-threshold comparison.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qconv.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType, round_float, round_shift
from qconv.ir import Const, Node, TensorType
from qconv.sim import conv as conv_kernels
from qconv.sim import threshold
from qconv.sim.arith import LONG_ROW, add_row, finish_accumulation, long_row, matmul_exact, product_drop
from qconv.sim.conv import conv_plan, row_matrix
from qconv.sim.dense import dense_plan

RNG_SEEDS = range(40)


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_float_equals_round_shift(rounding, dtype):
    rng = np.random.default_rng(1)
    top = 22 if dtype == np.float32 else 50
    for shift in (1, 2, 3, 7, 13, top):
        m = rng.integers(-(2**top) + 1, 2**top, 20000)
        ties = (rng.integers(-1000, 1000, 2000) << shift) + (1 << (shift - 1))  # exact halves
        m = np.concatenate([m, ties, np.arange(-40, 41)]).astype(np.int64)
        v = np.multiply(m, 2.0**-shift, dtype=dtype)
        np.testing.assert_array_equal(round_float(v, rounding).astype(np.int64), round_shift(m, shift, rounding))


@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
@pytest.mark.parametrize("rounding", ROUNDING_MODES)
def test_cast_float_route_equals_int_route(rounding, overflow):
    rng = np.random.default_rng(2)
    for width, integer, signed in [(6, 0, False), (2, 2, True), (1, 1, True), (16, 6, True), (9, -2, True),
                                   (30, 10, False), (40, 3, True)]:
        dst = FixedType(width, integer, signed, rounding, overflow)
        for src in (FixedType(16, 6), FixedType(22, 4), FixedType(28, 8, False), FixedType(50, 20)):
            shift = src.frac - dst.frac
            if shift <= 0:
                continue
            m = rng.integers(src.min_mantissa, src.max_mantissa + 1, 5000, dtype=np.int64)
            got = dst.cast(m, src, return_overflow=True)
            want = dst._convert(m, np.int64(shift), True)  # the general (int64) route
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


# ----- Dense and Conv: the float route against the int64 route -------------------------------

def _types(rng):
    rounding = rng.choice(ROUNDING_MODES)
    overflow = rng.choice(OVERFLOW_MODES)
    xw = int(rng.integers(1, 17))
    x_t = FixedType(xw, int(rng.integers(-2, xw + 3)), bool(rng.integers(2)))
    w_t = FixedType(int(rng.integers(2, 17)), int(rng.integers(-3, 6)))
    b_t = FixedType(int(rng.integers(2, 24)), int(rng.integers(-3, 12)))
    out = FixedType(int(rng.integers(2, 24)), int(rng.integers(-2, 12)), bool(rng.integers(2)), rounding, overflow)
    return x_t, w_t, b_t, out


def _accumulator(rng, x_t, w_t, k):
    """Tight (wide enough), narrow (wraps), or with fewer fraction bits (drops product bits)."""
    frac = x_t.frac + w_t.frac
    kind = rng.integers(3)
    if kind == 0:
        integer = x_t.integer + w_t.integer + int(np.ceil(np.log2(k + 1))) + 2
    elif kind == 1:
        integer = x_t.integer + w_t.integer - int(rng.integers(0, 3))
    else:
        frac -= int(rng.integers(1, 4))
        integer = x_t.integer + w_t.integer + int(np.ceil(np.log2(k + 1))) + 2
    return FixedType(max(integer + frac, 2), integer)


def _node(op, w, w_t, b, b_t, out, accum, attrs=None, shape=()):
    consts = {"W": Const(w, w_t)}
    if b is not None:
        consts["b"] = Const(b, b_t)
    return Node("L", op, ["x"], TensorType(shape, out), {"accum": accum, **(attrs or {})}, consts)


def _int_route(node, x, x_t, w):
    acc = matmul_exact(x, w, x_t, product_drop(node, x_t))
    return finish_accumulation(acc, node, x_t)


def _inputs(rng, x_t, shape):
    m = rng.integers(x_t.min_mantissa, x_t.max_mantissa + 1, shape, dtype=np.int64)
    m[:4] = x_t.max_mantissa      # the corners of the input range: the extremes of every sum
    m[4:8] = x_t.min_mantissa
    return m


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_dense_float_route_equals_int_route(seed):
    rng = np.random.default_rng(seed)
    x_t, w_t, b_t, out = _types(rng)
    k, m = int(rng.integers(1, 200)), int(rng.integers(1, 40))
    w = rng.integers(w_t.min_mantissa, w_t.max_mantissa + 1, (k, m), dtype=np.int64)
    if seed % 4 == 0:
        w &= ~np.int64(3)                  # dropped fraction bits zero in every weight: still exact
    b = rng.integers(b_t.min_mantissa, b_t.max_mantissa + 1, m, dtype=np.int64) if seed % 5 else None
    node = _node("Dense", w, w_t, b, b_t, out, _accumulator(rng, x_t, w_t, k), shape=(m,))
    x = _inputs(rng, x_t, (600, k))
    want = _int_route(node, x, x_t, w)
    plan = dense_plan(node, [x_t])
    got = plan(x) if plan is not None else want
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)


def _within_fits_below(first_seed: int, count: int, make):
    """`count` random layers whose float route may overflow but has a `Linear.fits_below`, from
    seeds first_seed on: make(rng, x_t, w_t, b_t, out) -> (node or None, its plan). Yields (rng,
    x_t, node, plan, its Linear, the input magnitude the tests use: fits_below, at most the
    input type's largest)."""
    found = 0
    for seed in range(first_seed, first_seed + 5000):
        rng = np.random.default_rng(seed)
        x_t, w_t, b_t, out = _types(rng)
        node, plan = make(rng, x_t, w_t, b_t, out)
        lin = getattr(plan, "linear", plan)
        if lin is None or not lin.may_overflow or lin.fits_below < 0:
            continue
        yield rng, x_t, node, plan, lin, int(min(lin.fits_below, max(-x_t.min_mantissa, x_t.max_mantissa)))
        found += 1
        if found == count:
            return


def _dense_with_few_inputs(rng, x_t, w_t, b_t, out):
    k, m = int(rng.integers(1, 6)), int(rng.integers(6, 24))              # fewer inputs than outputs
    w = rng.integers(w_t.min_mantissa, w_t.max_mantissa + 1, (k, m), dtype=np.int64)
    b = rng.integers(b_t.min_mantissa, b_t.max_mantissa + 1, m, dtype=np.int64)
    node = _node("Dense", w, w_t, b, b_t, out, _accumulator(rng, x_t, w_t, k), shape=(m,))
    return node, dense_plan(node, [x_t])


def test_small_inputs_skip_the_overflow_check_only_when_nothing_can_overflow():
    """`Linear.fits_below`: inputs within it skip the overflow comparison (when they are fewer
    than the outputs); at the worst corners of that range (every input +-X with a column's signs)
    the outputs still equal the int64 route's, overflow masks included; just beyond it the check runs."""
    cases = skipped = 0
    for rng, x_t, node, plan, _, limit in _within_fits_below(500, 40, _dense_with_few_inputs):
        w = node.consts["W"].values
        k, m = w.shape
        signs = np.sign(w.T)                                              # (m, k): each column's worst corner
        x = np.concatenate([signs, -signs, rng.integers(-1, 2, (50, k))]) * limit
        x = np.clip(x, x_t.min_mantissa, x_t.max_mantissa).astype(np.int64)
        cases += 1
        skipped += not plan.may_check(x, m)
        for g, e in zip(plan(x), _int_route(node, x, x_t, w)):
            np.testing.assert_array_equal(g, e)
        if plan.fits_below < max(-x_t.min_mantissa, x_t.max_mantissa):
            assert plan.may_check(np.full((1, k), limit + 1), m)
    assert cases == 40 and skipped >= 30, (cases, skipped)


def test_float_route_refuses_powers_of_two_float64_cannot_hold():
    """An output type 1100 integer bits above the accumulator: 2^-1090 underflows float64."""
    x_t, w_t = FixedType(4, 2), FixedType(4, 2)
    node = _node("Dense", np.array([[3], [-5]]), w_t, None, None, FixedType(8, 1100), FixedType(20, 10), shape=(1,))
    assert dense_plan(node, [x_t]) is None
    x = np.array([[-1, -2], [1, 2]], np.int64)
    np.testing.assert_array_equal(_int_route(node, x, x_t, node.consts["W"].values)[0], [[0], [-1]])  # floor(+-7 * 2^-1090)


@pytest.mark.parametrize("m", [1, 3, 10, 128, LONG_ROW - 1, LONG_ROW + 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_row_adds_the_row_to_every_row(m, dtype):
    """The bias add through whole blocks of the repeated row, and the rows left over after them."""
    rng = np.random.default_rng(m)
    row = rng.integers(-1000, 1000, m).astype(dtype)
    long = long_row(row)
    assert long.size >= LONG_ROW and long.size % m == 0
    reps = long.size // m
    for n in sorted({1, reps - 1, reps, reps + 1, 3 * reps + 2} - {0}):
        v = rng.integers(-1000, 1000, (n, m)).astype(dtype)
        want = v + row
        add_row(v, row, long)
        np.testing.assert_array_equal(v, want)


def test_dense_routes_are_both_taken():
    """The random layers above exercise the float route and the int64 route (a narrow
    accumulator, truncated products, sums too wide for float64)."""
    kinds = set()
    for seed in RNG_SEEDS:
        rng = np.random.default_rng(seed)
        x_t, w_t, b_t, out = _types(rng)
        k, m = int(rng.integers(1, 200)), int(rng.integers(1, 40))
        w = rng.integers(w_t.min_mantissa, w_t.max_mantissa + 1, (k, m), dtype=np.int64)
        node = _node("Dense", w, w_t, None, b_t, out, _accumulator(rng, x_t, w_t, k), shape=(m,))
        plan = dense_plan(node, [x_t])
        kinds.add("int64" if plan is None else str(plan.w.dtype))
    assert kinds == {"int64", "float32", "float64"}


def conv_matrix(node) -> np.ndarray:
    """The layer as one (H*W*C, OH*OW*M) matrix of weight mantissas, by definition: the convolution
    is linear, so its matrix is the windowed product applied to the H*W*C unit inputs."""
    h, w, c = node.attrs["in_hwc"]
    eye = np.eye(h * w * c, dtype=np.int64).reshape(h * w * c, h, w, c)
    return conv_kernels._window_products(conv_kernels.windows(eye, node)[0], node, np.matmul).reshape(h * w * c, -1)


def row_node(node):
    """The layer cut to one output row: the span of input rows it reads, no vertical padding or stride."""
    a = node.attrs
    (_, w, c), (_, ow, m), (_, pl, _, pr) = a["in_hwc"], a["out_hwc"], a["pads"]
    span = (a["kernel"][0] - 1) * a["dilations"][0] + 1
    return dataclasses.replace(node, attrs={**a, "in_hwc": (span, w, c), "out_hwc": (1, ow, m),
                                            "pads": (0, pl, 0, pr), "strides": (1, a["strides"][1])})


def _conv_node(rng, x_t, w_t, b_t, out):
    h, wd = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    g = int(rng.choice([1, 1, 2]))
    c, m = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 4))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    (sh, sw), (dh, dw) = rng.integers(1, 3, 2), rng.integers(1, 3, 2)
    pads = tuple(int(p) for p in rng.integers(0, 3, 4))
    oh = (h + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pads[1] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        return None
    w = rng.integers(w_t.min_mantissa, w_t.max_mantissa + 1, (m, c // g, kh, kw), dtype=np.int64)
    b = rng.integers(b_t.min_mantissa, b_t.max_mantissa + 1, m, dtype=np.int64)
    attrs = {"in_hwc": (h, wd, c), "out_hwc": (oh, ow, m), "kernel": (kh, kw), "strides": (int(sh), int(sw)),
             "dilations": (int(dh), int(dw)), "pads": pads, "group": g}
    return _node("Conv", w, w_t, b, b_t, out, _accumulator(rng, x_t, w_t, kh * kw * c), attrs, (oh, ow, m))


@pytest.fixture
def any_band(monkeypatch):
    """Every convolution whose float route is exact takes RowBands, whatever its work ratio."""
    monkeypatch.setattr(conv_kernels, "BAND_WORK", 10**9)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_conv_row_bands_equal_windows(seed, any_band):
    rng = np.random.default_rng(100 + seed)
    x_t, w_t, b_t, out = _types(rng)
    node = None
    while node is None:
        node = _conv_node(rng, x_t, w_t, b_t, out)
    x = _inputs(rng, x_t, (300, *node.attrs["in_hwc"]))
    want = conv_kernels.conv(node, [x], [x_t], None)              # windows, int64 route
    plan = conv_plan(node, [x_t])
    # the layer before hands over int64 or exact float arrays, contiguous or not (read in place)
    for xin in (x, x.astype(np.float64), x.astype(np.float32) if x_t.width <= 24 else x, x[::-1][::-1], x[::2]):
        got = conv_kernels.conv(node, [xin], [x_t], plan)
        ref = want if xin.shape == x.shape else conv_kernels.conv(node, [np.asarray(xin, np.int64)], [x_t], None)
        for g, e in zip(got, ref):
            np.testing.assert_array_equal(g, e)
    # the row matrix, placed weight by weight, is the windowed product's on one row's inputs
    np.testing.assert_array_equal(row_matrix(node), conv_matrix(row_node(node)))
    # the whole-layer matrix is the convolution itself (exact integers, before the accumulator)
    acc = conv_kernels._window_products(conv_kernels.windows(x, node)[0], node, np.matmul)
    np.testing.assert_array_equal(x.reshape(len(x), -1) @ conv_matrix(node), acc.reshape(len(x), -1))


def _conv_and_plan(rng, x_t, w_t, b_t, out):
    node = _conv_node(rng, x_t, w_t, b_t, out)
    return node, None if node is None else conv_plan(node, [x_t])


def test_conv_small_inputs_skip_the_overflow_check_only_when_nothing_can_overflow(any_band):
    """RowBands with inputs within `fits_below` (the comparison skipped): at random corners +-X
    of that range the outputs equal the int64 windows route's, overflow masks included."""
    cases = skipped = 0
    for rng, x_t, node, plan, lin, limit in _within_fits_below(700, 20, _conv_and_plan):
        cases += 1
        x = np.clip(rng.integers(-1, 2, (200, *node.attrs["in_hwc"])) * limit, x_t.min_mantissa, x_t.max_mantissa)
        (oh, ow, m) = node.attrs["out_hwc"]
        skipped += not lin.may_check(x.reshape(200, -1), oh * ow * m)
        for g, e in zip(conv_kernels.conv(node, [x], [x_t], plan), conv_kernels.conv(node, [x], [x_t], None)):
            np.testing.assert_array_equal(g, e)
    assert cases == 20 and skipped >= 5, (cases, skipped)


@pytest.mark.parametrize("kernel, pads, strides", [((1, 3), (2, 1, 3, 0), (1, 1)), ((2, 2), (3, 0, 2, 1), (2, 1)),
                                                    ((3, 1), (0, 2, 4, 0), (1, 2))])
def test_conv_row_bands_rows_only_in_padding(kernel, pads, strides, any_band):
    """Output rows that read nothing but vertical padding get the bias alone (RowBands skips
    their product); the rows beside them read the input partly."""
    rng = np.random.default_rng(7)
    x_t, w_t, b_t, out = FixedType(8, 3), FixedType(6, 1), FixedType(10, 4), FixedType(12, 6, True, "RND", "SAT")
    (h, wd, c, m), (kh, kw) = (4, 5, 2, 3), kernel
    oh = (h + pads[0] + pads[2] - kh) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - kw) // strides[1] + 1
    w = rng.integers(w_t.min_mantissa, w_t.max_mantissa + 1, (m, c, kh, kw), dtype=np.int64)
    b = rng.integers(b_t.min_mantissa, b_t.max_mantissa + 1, m, dtype=np.int64)
    attrs = {"in_hwc": (h, wd, c), "out_hwc": (oh, ow, m), "kernel": kernel, "strides": strides,
             "dilations": (1, 1), "pads": pads, "group": 1}
    integer = x_t.integer + w_t.integer + int(np.ceil(np.log2(kh * kw * c + 1))) + 2   # tight: cannot wrap
    node = _node("Conv", w, w_t, b, b_t, out, FixedType(integer + x_t.frac + w_t.frac, integer), attrs, (oh, ow, m))
    plan = conv_plan(node, [x_t])
    assert plan is not None
    x = _inputs(rng, x_t, (50, h, wd, c))
    got = conv_kernels.conv(node, [x], [x_t], plan)
    for g, e in zip(got, conv_kernels.conv(node, [x], [x_t], None)):
        np.testing.assert_array_equal(g, e)
    padded = [oy for oy in range(oh) if oy * strides[0] - pads[0] + kh <= 0 or oy * strides[0] - pads[0] >= h]
    assert padded and len(padded) < oh
    bias_only = out.cast(b << (node.attrs["accum"].frac - b_t.frac), node.attrs["accum"])
    for oy in padded:
        np.testing.assert_array_equal(np.asarray(got[0])[:, oy], np.broadcast_to(bias_only, (50, ow, m)))


def test_conv_routes_are_both_taken(any_band):
    kinds = []
    for seed in RNG_SEEDS:
        rng = np.random.default_rng(100 + seed)
        x_t, w_t, b_t, out = _types(rng)
        node = None
        while node is None:
            node = _conv_node(rng, x_t, w_t, b_t, out)
        plan = conv_plan(node, [x_t])
        kinds.append("windows" if plan is None else str(plan.linear.w.dtype))
    assert {k: kinds.count(k) for k in set(kinds)} == {"windows": 28, "float64": 5, "float32": 7}


# ----- Thresholds: the table against the comparisons -----------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_thresholds_table_equals_comparisons(seed):
    rng = np.random.default_rng(200 + seed)
    x_t = FixedType(int(rng.integers(1, 11)), int(rng.integers(-2, 8)), bool(rng.integers(2)))
    period, inner, t = int(rng.choice([1, 3, 8])), int(rng.choice([1, 2])), int(rng.integers(1, 8))
    span = (x_t.min_mantissa - 3, x_t.max_mantissa + 4)  # thresholds also beyond the input range
    thr = np.sort(rng.integers(*span, (period, t)), axis=1)
    levels = np.sort(rng.integers(-8, 8, (period, t + 1)), axis=1)
    shape = (period * inner * int(rng.integers(1, 4)),)
    node = Node("T", "Thresholds", ["x"], TensorType(shape, FixedType(5, 5)), {"inner": inner, "period": period},
                {"thresholds": Const(thr, x_t), "levels": Const(levels, FixedType(5, 5))})
    x = _inputs(rng, x_t, (500, *shape))
    plan = threshold.thresholds_plan(node, [x_t])
    assert plan is not None
    np.testing.assert_array_equal(threshold.thresholds(node, [x], [x_t], plan)[0],
                                  threshold.thresholds(node, [x], [x_t], None)[0])
