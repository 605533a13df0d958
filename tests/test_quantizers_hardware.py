"""Each quantizer's hardware form agrees with its float32 reference.

For `fixed` forms: ``hw.fixed.to_float(hw.fixed.from_float(v))`` (times the scale, with
``v = x / scale`` for scaled grids) equals ``q(x)`` exactly on every input the cast does not
saturate; QKeras differs from ap_fixed only in saturation (the STE residue of SEMANTICS.md
rule 0.3). `po2`, `binary`, `ternary` and `table` forms are checked on the whole grid. Forms
flagged not exact (float auto scales, ulaw) must be refused by `require_exact`.
"""

from __future__ import annotations

import numpy as np
import pytest

from qconv.errors import QconvError, UnsupportedError
from qconv.fixed import FixedType
from qconv.quantizers import get_quantizer
from qconv.numeric import constant_fixed, po2_exponents
from qconv.quantizers.hardware import Hardware

_G = np.arange(-2**14, 2**14 + 1, dtype=np.float64) / 2**9  # [-32, 32] in steps of 2^-9
GRID = np.concatenate([_G, _G / 64 + 2.0**-17]).astype(np.float32)  # plus a fine grid near 0

FIXED = {
    "quantized_bits(8,0,1)": "ap_fixed<8,1,AP_RND_CONV,AP_SAT_SYM>",
    "quantized_bits(8,3,0)": "ap_fixed<8,4,AP_RND_CONV,AP_SAT>",
    "quantized_bits(4,2,0,keep_negative=False)": "ap_ufixed<4,2,AP_RND_CONV,AP_SAT>",
    "quantized_bits(6,-2,1)": "ap_fixed<6,-1,AP_RND_CONV,AP_SAT_SYM>",
    "quantized_bits(8,8,0)": "ap_fixed<8,9,AP_RND_CONV,AP_SAT>",
    "quantized_bits(1,0,0,keep_negative=False)": "ap_ufixed<1,0,AP_RND_CONV,AP_SAT>",
    "quantized_bits(16,6,0)": "ap_fixed<16,7,AP_RND_CONV,AP_SAT>",
    "quantized_bits(8,2,0,alpha=0.5)": "ap_fixed<8,3,AP_RND_CONV,AP_SAT>",
    "quantized_linear(8,3)": "ap_fixed<8,4,AP_RND_CONV,AP_SAT_SYM>",
    "quantized_linear(4,2,0)": "ap_fixed<4,3,AP_RND_CONV,AP_SAT>",
    "quantized_linear(4,2,1,keep_negative=False)": "ap_ufixed<4,2,AP_RND_CONV,AP_SAT>",
    "quantized_linear(4,0,1,alpha=0.25)": "ap_fixed<4,1,AP_RND_CONV,AP_SAT_SYM>",
    "quantized_relu(8,3)": "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>",
    "quantized_relu(4,0)": "ap_ufixed<4,0,AP_RND_CONV,AP_SAT>",
    "quantized_relu(1,0)": "ap_ufixed<1,0,AP_RND_CONV,AP_SAT>",
    "quantized_relu(16,6)": "ap_ufixed<16,6,AP_RND_CONV,AP_SAT>",
}
OTHER = ["quantized_bits(1,0,0)", "quantized_linear(1,0)", "quantized_relu(8,3,negative_slope=0.25)",
         "quantized_relu(8,0,1)", "quantized_tanh(8)", "quantized_tanh(4,symmetric=1)",
         "quantized_tanh(4,use_real_tanh=1)",
         "quantized_sigmoid(8)", "quantized_sigmoid(4,symmetric=1)", "quantized_hswish(8,2)",
         "quantized_po2(4)", "quantized_po2(5,4.0)", "quantized_po2(5,log2_rounding='floor')", "quantized_relu_po2(4)",
         "quantized_relu_po2(5,4.0)", "quantized_relu_po2(3,1.0)", "binary()", "binary(use_01=1)", "binary(alpha=0.5)",
         "ternary()", "ternary(threshold=0.5)", "ternary(alpha=0.5,threshold=0.2)"]


def _non_saturating(hw: Hardware, x: np.ndarray) -> np.ndarray:
    v = x / hw.scale if (hw.scale is not None and hw.scale_input) else x
    return ~hw.fixed.from_float(np.asarray(v, np.float64), return_overflow=True)[1]


@pytest.mark.parametrize("text", list(FIXED))
def test_fixed_forms_agree_where_not_saturating(text):
    q = get_quantizer(text)
    hw = q.hardware().require_exact()
    assert hw.kind == "fixed" and hw.fixed == FixedType.parse(FIXED[text])
    ok = _non_saturating(hw, GRID)
    assert ok.sum() > 10000
    via_type = hw.fixed.to_float(hw.fixed.from_float(np.asarray(GRID, np.float64)
                                                     / (hw.scale if hw.scale_input and hw.scale is not None else 1)))
    if hw.scale is not None:
        via_type = via_type * hw.scale
    assert np.array_equal(via_type[ok], q(GRID)[ok])
    assert np.array_equal(hw.apply(GRID)[ok], q(GRID)[ok])


@pytest.mark.parametrize("text", OTHER)
def test_other_forms_agree_everywhere(text):
    q = get_quantizer(text)
    hw = q.hardware().require_exact()
    assert np.array_equal(hw.apply(GRID), q(GRID)), hw.describe()


def test_hard_activations_are_fixed_casts():
    """Hard tanh/sigmoid are ap_fixed casts of x and x/2 + 1/2 (on inputs float32 adds exactly)."""
    for bits, sym in ((8, 0), (4, 1), (2, 0)):
        t = get_quantizer(f"quantized_tanh({bits},symmetric={sym})")
        ft = t.fixed_type()
        assert np.array_equal(ft.to_float(ft.from_float(GRID.astype(np.float64))), t(GRID))
        s = get_quantizer(f"quantized_sigmoid({bits})")
        fs = s.fixed_type()
        assert np.array_equal(fs.to_float(fs.from_float(GRID.astype(np.float64) / 2 + 0.5)), s(GRID))


KERNELS = [np.random.default_rng(s).normal(size=shape).astype(np.float32) * np.float32(2.0 ** (s - 3))
           for s, shape in enumerate([(16, 6), (3, 3, 4, 8), (10,), (5, 7)])]


@pytest.mark.parametrize("text", [
    "quantized_bits(8,0,1,alpha='auto_po2')", "quantized_bits(4,2,1,alpha='auto_po2')",
    "quantized_bits(3,0,1,keep_negative=False,alpha='auto_po2')", "quantized_linear(4,0,1,alpha='auto_po2')",
    "quantized_linear(4,0,1,keep_negative=False,alpha='auto_po2')", "quantized_linear(1,0,1,alpha='auto_po2')",
    "binary(alpha='auto_po2')", "binary(use_01=1,alpha='auto_po2')", "ternary(alpha='auto_po2')"])
def test_auto_po2_scales_are_shifts(text):
    for w in KERNELS:
        q = get_quantizer(text)
        y = q(w)
        hw = q.hardware().require_exact()
        assert hw.scale_exponents is not None
        assert np.array_equal(hw.apply(w), y)
        assert np.array_equal(q.hardware(w).apply(w), y)


@pytest.mark.parametrize("text", ["quantized_bits(6,0,1,alpha='auto')", "quantized_linear(8,2,1,alpha='auto')",
                                  "binary(alpha='auto')", "ternary(alpha='auto')", "quantized_ulaw(8,0)",
                                  "quantized_bits(8,0,alpha=0.3)", "bernoulli()",
                                  "quantized_po2(5,4,quadratic_approximation=1)",
                                  "quantized_relu_po2(4,3.0)"])
def test_inexact_forms_are_refused_but_work_in_python(text):
    q = get_quantizer(text)
    y = q(KERNELS[0]) if "bernoulli" not in text else q(KERNELS[0], seed=0)
    assert y.shape == KERNELS[0].shape
    with pytest.raises(UnsupportedError, match="bit-exact"):
        q.hardware().require_exact()


def test_constant_weights_are_always_exact():
    """Any quantizer's output on constant weights is float32, hence held exactly by some type."""
    for text in ("binary(alpha='auto')", "ternary(alpha='auto')", "quantized_bits(6,0,1,alpha='auto')"):
        y = get_quantizer(text)(KERNELS[1])
        mant, t = constant_fixed(y)
        assert np.array_equal(t.to_float(mant), y.astype(np.float64))
    mant, t = constant_fixed([0.5, -0.25, 3.0, 0.0])
    assert t == FixedType(5, 3, True) and mant.tolist() == [2, -1, 12, 0]


def test_auto_scale_needs_the_weights():
    with pytest.raises(QconvError, match="call the quantizer"):
        get_quantizer("quantized_bits(8,0,1,alpha='auto_po2')").hardware()


def test_po2_exponents_and_describe():
    assert po2_exponents([0.25, 4.0]).tolist() == [-2, 2]
    assert po2_exponents([0.3]) is None
    hw = get_quantizer("quantized_relu_po2(4)").hardware()
    assert hw.exponents == (-8, 7) and not hw.signed and "exponents -8..7" in hw.describe()
    assert get_quantizer("quantized_po2(5,4.0)").hardware().exponents == (-8, 2)
