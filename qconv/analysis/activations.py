"""Type rules and constants of the arithmetic activations (PRelu/LeakyRelu, HardSigmoid, Clip),
the default output types of the table activations, and the Softmax exp table.

Registered into `passes.infer_types.RULES` (types) and called from `passes.build_tables` (Softmax
table); the exact PRelu/HardSigmoid arithmetic they evaluate is `qconv.numeric`'s, which the
simulator runs too.

Constants. ONNX gives slopes, alpha/beta and clip bounds as float32 (attributes) or float32
initializers; every such value is a dyadic rational with at most 24 significant bits, so it has
an exact fixed-point form (`numeric.exact_frac`). A quantized initializer (QONNX Quant) is used as it
is. Where the float constants are not exactly a short fixed-point number we pick their precision:
- with a declared output type (an absorbed quantizer or --default-type), the constants get the
  fewest fraction bits F (rounded to nearest) for which the layer's output equals, on *every*
  input mantissa (checked exhaustively; up to FIT_CHECK_LIMIT evaluations, else the exact
  constant), the output computed with the exact float32 constant: the result is then
  indistinguishable from ONNX's float semantics followed by the output cast;
- without one, the exact float32 constant is used and the output type is lossless.

Ops (all computed exactly on mantissas, then one cast into the output type):
- PRelu (LeakyRelu, PRelu): y = x if x >= 0 else x * slope. A uniform positive power-of-two
  slope 2^k is a shift (attrs shift = k: the mantissa reinterpreted with k more integer bits, no
  multiplier); otherwise the product x * slope is exact in `<Wx+Ws, Ix+Is>`. Slopes broadcast
  along memory axes: slope[(i // inner) % period]. Lossless output: the union of x's type and the
  negative branch's type.
- HardSigmoid: t = x * alpha + beta exactly in `accum` (ap_fixed's exact result types, widened to
  hold 0 and 1), clamped to [0, 1] in that type, then cast. Lossless output: ap_ufixed<F+1, 1>
  with the accumulator's F fraction bits.
- Clip: y = min(max(x, lo), hi) in `clamp` (x's type, widened only if a bound inside x's range is
  not representable in it; bounds outside x's range are dropped as no-ops), then cast. Lossless
  output: the narrowest type holding [max(lo, xmin), min(hi, xmax)].
- Table (Sigmoid, Tanh, Elu, Selu): see build_tables. Default output (no quantizer, no
  --default-type): sigmoid ap_ufixed<16,1,AP_RND,AP_SAT>; tanh ap_fixed<17,2,AP_RND,AP_SAT>;
  elu/selu AP_RND/AP_SAT with max(15, Fx) fraction bits and the integer bits the function's range
  over the input type needs (so 1.0 and every rounded value fit; nothing saturates).
- Softmax: see `softmax_tables`.

Softmax algorithm (per vector of n logits x_k of type X with F fraction bits; output type O with
Fo fraction bits; G = ceil(log2 n); FE = FR = Fo + 3 + G, within 8..26):
 1. m = max_k x_k (exact); d_k = m - x_k >= 0, an exact mantissa difference (< 2^Wx).
 2. e_k = EXP[min(d_k, T-1)]: EXP[j] = ap_ufixed<FE+1,1,AP_RND,AP_SAT>(exp(-j * step)) for j >= 0,
    step = 2^-F (times the scale s of logits carried as integers q with x = q s, attr
    `input_scale`: commute_scales), except that entries j >= 1 are capped at 1 - 2^-FE, so only
    the maximum reads exactly 1.0.
    T is the first j whose entry rounds to 0 (or the whole difference range 2^Wx - 1, if
    smaller): every d_k >= T-1 has entry 0, so the clamp changes nothing; every input bit counts.
 3. S = sum_k e_k, exact in ap_ufixed<FE+1+G, 1+G> (S >= 1: the maximum contributes 1.0).
 4. R = floor(2^(FE+FR) / S_mantissa): 1/S truncated to FR = FE fraction bits, by one exact
    integer division (ap_uint in C++, // in numpy), type ap_ufixed<FR+1, 1>.
 5. p_k = O(e_k * R): the exact product ap_ufixed<FE+FR+2, 2> cast with O's rounding/overflow.
 6. Argmax guard: an element whose logit is below the maximum (d_k > 0) but whose p_k equals the
    maximum's p (the output type is too coarse to tell them apart) is lowered by one output lsb
    (when that p is > 0). So the first-max index of the output is always the first-max index of
    the logits, i.e. numpy's argmax of the float softmax, whatever the output type, as long as
    the maximum's p is > 0 in O (O can represent something <= 1/n) and O does not wrap 1.0.
Error bound: O's rounding (0.5 lsb RND, 1 lsb TRN) + at most about 2^-(Fo+3) from the exp table
and the truncated reciprocal, + 1 lsb on the elements the guard lowered. Measured against float64
softmax of the same fixed-point logits (486k random vectors, half of them near ties; inputs
ap_fixed<6,3>..<16,6>, ap_ufixed<8,3>, <6,6>; n = 2..100), worst |p - softmax(x)|:
    output type                        guard left alone       lowered by the guard   argmax changed
    ap_ufixed<16,1,AP_RND,AP_SAT> (default)  1.62e-5 (0.53 lsb)  3.6e-5 (1.18 lsb)      0
    ap_ufixed<8,0,AP_RND,AP_SAT>       3.9e-3 (1.00 lsb: 1.0 saturates)  5.5e-3 (1.41 lsb)  0
    ap_fixed<16,6> (AP_TRN)            1.0e-3 (1.03 lsb)      1.8e-3 (1.82 lsb)      0
(tests/ops/test_activation.py repeats this on 100k vectors per output type.) Cost: the exp table
has min(2^Wx, about (FE+2) ln2 2^F) entries of FE+1 bits (F: the logits' fraction bits; 16.3k for
ap_fixed<16,6> logits and n = 10, 256 for ap_fixed<8,3>; over 65536 entries are refused), one exact
(FE+FR+1)-bit by (FE+1+G)-bit division per vector and n multiplications.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import TypeOverflowError
from ..fixed import FixedType, product_type, union_type
from ..ir import Const, Node
from ..numeric import (codes_type, exact_frac, hard_sigmoid_accum, hard_sigmoid_exact, po2_exponent, prelu_negative,
                       quantize_at)

FIT_CHECK_LIMIT = 1 << 22      # input mantissas x constants evaluated per candidate precision
TABLE_FRAC = 15                # fraction bits of the default table-activation outputs
SIGMOID_OUTPUT = FixedType(16, 1, signed=False, rounding="RND", overflow="SAT")
TANH_OUTPUT = FixedType(17, 2, signed=True, rounding="RND", overflow="SAT")
SOFTMAX_OUTPUT = SIGMOID_OUTPUT
SOFTMAX_MAX_TABLE = 1 << 16
# the functions of Table activations (build_tables tabulates them; table_output types them)
FUNCTIONS = {
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),  # = 1/(1+exp(-x)), no overflow warnings
    "tanh": np.tanh,
    # ONNX Elu/Selu (attrs params: alpha, gamma); monotone unless alpha < 0 (attrs monotone)
    "elu": lambda x, alpha=1.0: np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875:
        gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
}


def softmax_frac(out_frac: int, n: int) -> int:
    """Fraction bits FE of the exp table (and FR of the reciprocal): 3 + ceil(log2 n) beyond the
    output's, so that the n entries' rounding errors add up to at most 1/8 output lsb; 8..26."""
    return min(max(out_frac + 3 + (n - 1).bit_length(), 8), 26)


# ----- exact constants ------------------------------------------------------------------------
def const_at(values, frac: int) -> Const:
    mant = quantize_at(values, frac)
    lo, hi = (mant.min(), mant.max()) if mant.size else (0, 0)
    return Const(mant, codes_type(lo, hi, frac))


def _all_mantissas(t: FixedType, negative_only=False) -> np.ndarray | None:
    hi = -1 if negative_only else t.max_mantissa
    count = hi - t.min_mantissa + 1
    if count <= 0:
        return np.zeros(0, np.int64)
    if count > FIT_CHECK_LIMIT:
        return None
    return np.arange(t.min_mantissa, hi + 1, dtype=np.int64)


def fit_constants(values: list, evaluate, xs: np.ndarray | None) -> tuple[list[Const], bool]:
    """The fewest common fraction bits F for float constants `values` (a list of arrays) such that
    evaluate(consts, xs) equals evaluate(exact consts, xs) on every input mantissa in xs.
    Returns (consts, exact)."""
    f_exact = max(exact_frac(v) for v in values)
    exact = [const_at(v, f_exact) for v in values]
    if xs is None or xs.size * max(np.size(v) for v in values) > FIT_CHECK_LIMIT:
        return exact, True
    want = evaluate(exact, xs)
    for f in range(min(0, f_exact), f_exact):
        cand = [const_at(v, f) for v in values]
        if all(c.fixed.width <= 40 for c in cand) and np.array_equal(evaluate(cand, xs), want):
            return cand, False
    return exact, True


# ----- PRelu ----------------------------------------------------------------------------------
def _uniform_po2(values) -> int | None:
    """k when every slope is the same positive power of two 2^k (a shift), else None."""
    v = np.unique(np.asarray(values, np.float64))
    return po2_exponent(v[0]) if v.size == 1 else None


def _prelu_rule(graph, node, ins, options):
    x_t = ins[0]
    declared = node.out.fixed or options.default_type
    if "slope" in node.consts:  # a quantized slope constant
        c = node.consts["slope"]
        shift = _uniform_po2(c.as_float())
    else:
        floats = node.attrs.pop("slope_values")
        shift = _uniform_po2(floats)
    if shift is not None:
        node.consts.pop("slope", None)
        node.attrs["shift"] = shift
        neg_t = FixedType(x_t.width, x_t.integer + shift, x_t.signed)
    else:
        node.attrs["shift"] = None
        if "slope" not in node.consts:
            n = node.attrs["period"]
            xs = _all_mantissas(x_t, negative_only=True)

            def evaluate(consts, xv):
                # every input mantissa against every slope value: (len(xv), period)
                grid = np.repeat(xv[:, None], n, axis=1)
                return prelu_negative(grid, x_t, declared, None, consts[0].values, consts[0].fixed, 1, n)[0]

            (c,), _ = fit_constants([floats], evaluate, xs if declared is not None else None)
            node.consts["slope"] = c
        neg_t = product_type(x_t, node.consts["slope"].fixed)
    if declared is not None:
        return declared
    return union_type(x_t, neg_t) if x_t.signed else x_t


# ----- HardSigmoid ----------------------------------------------------------------------------
def _hard_sigmoid_rule(graph, node, ins, options):
    x_t = ins[0]
    declared = node.out.fixed or options.default_type
    alpha, beta = node.attrs.pop("alpha_value"), node.attrs.pop("beta_value")

    def evaluate(consts, xv):
        a, b = consts
        t, acc = hard_sigmoid_exact(xv, x_t, a.values, a.fixed, b.values, b.fixed)
        return declared.cast(t, acc)

    xs = _all_mantissas(x_t) if declared is not None else None
    (a, b), _ = fit_constants([np.array(alpha), np.array(beta)], evaluate, xs)
    node.consts.update(alpha=a, beta=b)
    acc = hard_sigmoid_accum(x_t, a.fixed, b.fixed)
    node.attrs["accum"] = acc
    return declared or FixedType(acc.frac + 1, 1, signed=False)


def _holds(t: FixedType, c: Const) -> bool:
    """Whether type t represents the (scalar) constant c exactly."""
    v = c.values.reshape(-1)[0]
    if c.fixed.frac > t.frac and v % (1 << (c.fixed.frac - t.frac)) != 0:
        return False
    m = v >> (c.fixed.frac - t.frac) if c.fixed.frac >= t.frac else v << (t.frac - c.fixed.frac)
    return t.min_mantissa <= m <= t.max_mantissa


# ----- Clip -----------------------------------------------------------------------------------
def _clip_rule(graph, node, ins, options):
    x_t = ins[0]
    bounds = {}
    for key in ("lo", "hi"):
        c = node.attrs.pop(f"{key}_const", None)
        if c is None:
            continue
        v = float(c.as_float().reshape(-1)[0])
        if (key == "lo" and v <= x_t.min_value) or (key == "hi" and v >= x_t.max_value):
            continue  # never active: no bound, no extra bits
        bounds[key] = c if c.quantized else const_at(np.array(v), exact_frac([v]))
    clamp = x_t
    for c in bounds.values():
        if not clamp.contains(c.fixed) and not _holds(clamp, c):
            clamp = union_type(clamp, c.fixed)
    for key, c in bounds.items():
        node.consts[key] = Const(np.array([int(clamp.cast(c.values.reshape(-1)[0], c.fixed))], np.int64), clamp)
    node.attrs["clamp"] = clamp
    if node.out.fixed or options.default_type:
        return node.out.fixed or options.default_type
    lo = node.consts["lo"].values[0] if "lo" in node.consts else clamp.cast(x_t.min_mantissa, x_t)
    hi = node.consts["hi"].values[0] if "hi" in node.consts else clamp.cast(x_t.max_mantissa, x_t)
    lo, hi = min(lo, hi), hi  # lo > hi: every output is hi
    return codes_type(lo, hi, clamp.frac)


# ----- tables ---------------------------------------------------------------------------------
def table_output(node, x_t: FixedType) -> FixedType:
    """Default output type of a Table activation (no quantizer, no --default-type)."""
    fn = node.attrs["fn"]
    if fn == "sigmoid":
        return SIGMOID_OUTPUT
    if fn == "tanh":
        return TANH_OUTPUT
    f = max(TABLE_FRAC, x_t.frac)
    g = FUNCTIONS[fn]
    params = node.attrs.get("params", {})
    ends = g(x_t.to_float(np.array([x_t.min_mantissa, x_t.max_mantissa])), **params)
    mant = quantize_at(ends, f)
    t = codes_type(min(mant.min(), 0), max(mant.max(), 0), f)
    return FixedType(t.width, t.integer, t.signed, "RND", "SAT")


# ----- Softmax --------------------------------------------------------------------------------
def _softmax_rule(graph, node, ins, options):
    return node.out.fixed or options.default_type or SOFTMAX_OUTPUT


def softmax_tables(node: Node, x_t: FixedType) -> None:
    """Choose the internal types of a Softmax and build its exp table (see the module doc)."""
    out = node.out.fixed
    n = node.attrs["n"]
    g = (n - 1).bit_length()
    fe = softmax_frac(out.frac, n)
    fr = fe
    exp_t = FixedType(fe + 1, 1, signed=False, rounding="RND", overflow="SAT")
    d_max = x_t.max_mantissa - x_t.min_mantissa
    step = math.ldexp(node.attrs.get("input_scale", 1.0), -x_t.frac)  # one lsb of the logits (times a carried scale)
    # exp(-d step) < 2^-(fe+1) rounds to 0: d step > (fe+1) ln 2
    bound = math.ceil((fe + 2) * math.log(2) / step) + 2
    size = min(d_max, bound) + 1
    if size > SOFTMAX_MAX_TABLE:
        raise TypeOverflowError(
            f"{node.describe()}: the softmax exp table for input {x_t.to_cpp()} would need {size} entries "
            f"(limit {SOFTMAX_MAX_TABLE}); quantize the logits to fewer fractional bits "
            f"(at most {int(math.log2(SOFTMAX_MAX_TABLE / ((fe + 2) * math.log(2))))})")
    j = np.arange(size, dtype=np.int64)
    entries = exp_t.from_float(np.exp(-j.astype(np.float64) * step))
    entries[1:] = np.minimum(entries[1:], (1 << fe) - 1)
    zeros = np.flatnonzero(entries == 0)
    if zeros.size:
        entries = entries[: zeros[0] + 1]
    node.consts["exp"] = Const(entries, exp_t)
    node.attrs.update(
        exp_frac=fe, recip_frac=fr,
        sum_t=FixedType(fe + 1 + g, 1 + g, signed=False),
        recip_t=FixedType(fr + 1, 1, signed=False),
        prod_t=FixedType(fe + fr + 2, 2, signed=False),
    )


RULES = {"PRelu": _prelu_rule, "HardSigmoid": _hard_sigmoid_rule, "Clip": _clip_rule, "Softmax": _softmax_rule}
