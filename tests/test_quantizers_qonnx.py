"""QONNX Quant/IntQuant, BipolarQuant, Trunc v1/v2 and ONNX QuantizeLinear/DequantizeLinear:
our objects against qonnx 1.0.0's and onnx's own reference functions, and their hardware forms
against the float references."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.custom_op.general.bipolar_quant import binary_quant
from qonnx.custom_op.general.intquant import int_quant
from qonnx.custom_op.general.trunc import trunc_v1, trunc_v2

from qconv.errors import UnsupportedError
from qconv.fixed import FixedType
from qconv.quantizers import BipolarQuant, DequantizeLinear, IntQuant, QuantizeLinear, Trunc

MODES = ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]
EXACT_MODES = ["ROUND", "HALF_EVEN", "FLOOR", "DOWN", "HALF_UP", "HALF_DOWN"]
X = (np.arange(-4000, 4001, dtype=np.float32) / 256).reshape(1, 8001, 1)
X4 = np.random.default_rng(0).normal(scale=3, size=(2, 3, 5, 5)).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bits, signed, narrow", [(4, 1, 0), (4, 1, 1), (3, 0, 0), (3, 0, 1), (8, 1, 0), (1, 1, 1)])
def test_intquant_matches_qonnx(mode, bits, signed, narrow):
    for scale in (np.float32(0.25), np.float32(0.3), np.array([0.5, 0.125, 2.0], np.float32).reshape(1, 3, 1, 1)):
        x = X4 if np.ndim(scale) else X
        q = IntQuant.from_inputs(scale, 0.0, bits, signed, narrow, mode.lower().encode())
        ref = int_quant(x, scale, np.float32(0), np.float32(bits), signed, narrow, mode)
        assert np.array_equal(q(x), ref)


@pytest.mark.parametrize("mode", EXACT_MODES)
@pytest.mark.parametrize("bits, signed, narrow", [(4, 1, 0), (4, 1, 1), (3, 0, 0), (6, 1, 0)])
def test_intquant_hardware(mode, bits, signed, narrow):
    scale = np.array([0.5, 0.125, 2.0], np.float32).reshape(1, 3, 1, 1)
    q = IntQuant.from_inputs(scale, 0.0, bits, signed, narrow, mode)
    hw = q.hardware().require_exact()
    assert np.array_equal(hw.apply(X4), q(X4))  # saturation included: QONNX clamps, no STE residue
    per_tensor = IntQuant.from_inputs(np.float32(0.25), 0.0, bits, signed, narrow, mode)
    t = per_tensor.fixed_type()
    assert t.width == bits and t.frac == 2 + 0 and np.array_equal(t.to_float(t.from_float(X)), per_tensor(X))


@pytest.mark.parametrize("what, kwargs", [("not a power of two", dict(scale=np.float32(0.3))),
                                          ("zero point", dict(zeropt=1.0)),
                                          ("no ap_fixed equivalent", dict(rounding_mode="CEIL")),
                                          ("narrow", dict(signed=0, narrow=1))])
def test_intquant_inexact_forms_refused(what, kwargs):
    args = dict(scale=np.float32(0.25), zeropt=0.0, bitwidth=4, signed=1, narrow=0, rounding_mode="ROUND")
    args.update(kwargs)
    with pytest.raises(UnsupportedError, match=what):
        IntQuant.from_inputs(**args).hardware().require_exact()


def test_bipolar_quant():
    for scale in (np.float32(1.0), np.float32(0.5), np.array([1, 2, 4], np.float32).reshape(1, 3, 1, 1)):
        x = X4 if np.ndim(scale) else X
        q = BipolarQuant(scale)
        assert np.array_equal(q(x), binary_quant(x, scale))
        assert np.array_equal(q.hardware().require_exact().apply(x), q(x))
    legacy = IntQuant.from_inputs(np.float32(1.0), 0.0, 1, 1, 1)  # old exports: 1-bit signed Quant
    assert np.array_equal(legacy(X), BipolarQuant(np.float32(1.0))(X))
    assert legacy.hardware().kind == "binary"


@pytest.mark.parametrize("mode", ["FLOOR", "ROUND", "HALF_UP", "DOWN"])
def test_trunc_v1_and_v2_match_qonnx(mode):
    scale = np.float32(0.125)
    x = (np.arange(-32, 32, dtype=np.float32) * scale).reshape(1, 64)  # 6-bit signed input grid
    v1 = Trunc.from_inputs((scale, 0.0, 6.0, 4.0), rounding_mode=mode.lower(), version=1)
    assert np.array_equal(v1(x), trunc_v1(x, scale, np.float32(0), np.float32(6), np.float32(4), mode))
    assert np.array_equal(v1.hardware().require_exact().apply(x), v1(x))
    for out_scale, signed, narrow in ((0.5, 1, 0), (0.5, 1, 1), (0.0625, 1, 0), (0.25, 0, 0)):
        v2 = Trunc.from_inputs((scale, 0.0, 6.0, np.float32(out_scale), 4.0), rounding_mode=mode, signed=signed,
                               narrow=narrow)
        ref = trunc_v2(x, scale, np.float32(0), np.float32(6), narrow, signed, np.float32(out_scale),
                       np.float32(4), mode)
        assert np.array_equal(v2(x), ref)
        assert np.array_equal(v2.hardware().require_exact().apply(x), v2(x))


def test_trunc_rejects_non_po2_ratio():
    with pytest.raises(UnsupportedError, match="power of two"):
        Trunc.from_inputs((np.float32(0.125), 0.0, 6.0, np.float32(0.3), 4.0))


def test_quantize_dequantize_linear():
    for dtype, zp in (("uint8", 128), ("int8", 0), ("int4", -2), ("uint4", 3)):
        scale = np.array([0.25, 0.5, 0.125], np.float32)
        q = QuantizeLinear(scale, np.array([zp] * 3), dtype=dtype, axis=1)
        ints = q(X4)
        bits = q.bits
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if q.signed else (0, 2 ** bits - 1)
        expect = np.clip(np.rint(X4 / scale.reshape(1, 3, 1, 1)) + zp, lo, hi)
        assert np.array_equal(ints, expect)
        dq = DequantizeLinear(scale, np.array([zp] * 3), axis=1)
        y = dq(ints)
        assert np.array_equal(y, q.as_intquant(4)(X4))  # Q -> DQ is IntQuant
    q = QuantizeLinear(np.float32(0.25), None, dtype="int8")
    hw = q.hardware(X4).require_exact()
    assert hw.fixed == FixedType(8, 8, True, "RND_CONV", "SAT")
    assert np.array_equal(hw.apply(X4), DequantizeLinear(np.float32(0.25))(q(X4)))
    with pytest.raises(UnsupportedError, match="float8"):
        QuantizeLinear(np.float32(1), dtype="float8e4m3fn")
