"""get_quantizer: strings, dicts and objects; __str__ / get_config round trips; QKeras' configs,
strings and min()/max() from the goldens; error messages that name the bad thing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qconv.errors import QconvError
from qconv.quantizers import (HGQ, binary, get_quantizer, hard_sigmoid, quantized_bits, quantized_relu,
                              set_internal_sigmoid, stochastic_round)
from qconv.quantizers.registry import CLASSES, FUNCTIONS

from .conftest import SHARED, shared_path

INDEX = SHARED / "golden" / "qkeras" / "index.json"
QUANTIZER_CASES = [c for c in json.loads(INDEX.read_text())["cases"] if c["kind"] == "quantizer"] \
    if INDEX.exists() else []

EXAMPLES = [
    "quantized_bits(6,2,1,alpha=1)", "quantized_bits(8, 3, 1)", "quantized_bits(bits=4, integer=0)",
    "quantized_bits(8,0,1,alpha='auto_po2')", "quantized_bits(8,0,1,alpha=auto_po2)",
    "quantized_bits(4,0,1,alpha='auto_po2',scale_axis=3,elements_per_scale=2)",
    "quantized_bits(4,0,1,alpha='auto_po2',min_po2_exponent=-3,max_po2_exponent=0)",
    "quantized_bits(8,0,0,keep_negative=False,use_ste=False,qnoise_factor=0.5)",
    "quantized_linear(8,3,0)", "quantized_linear(4,0,1,keep_negative=False,alpha='auto')",
    "quantized_relu(6,2)", "quantized_relu(8,0,1)", "quantized_relu(8,3,negative_slope=0.25)",
    "quantized_relu(8,3,relu_upper_bound=6.0,is_quantized_clip=False)",
    "quantized_po2(4)", "quantized_po2(5,4,quadratic_approximation=True)", "quantized_po2(5,log2_rounding='floor')",
    "quantized_relu_po2(4,negative_slope=0.25)", "quantized_relu_po2(5,4.0)",
    "binary", "binary()", "binary(use_01=1,alpha='auto_po2')", "binary(alpha=0.5)",
    "ternary(alpha=0.5,threshold=0.2)", "ternary(alpha='auto')", "stochastic_binary(alpha='auto_po2')",
    "stochastic_ternary(alpha='auto_po2')", "bernoulli(alpha='auto',temperature=4.0)",
    "quantized_tanh(8)", "quantized_tanh(4,symmetric=1,use_real_tanh=1)", "quantized_sigmoid(4,symmetric=True)",
    "quantized_ulaw(6,1,1,100.0)", "quantized_hswish(8,2,relu_shift=2,relu_upper_bound=4)",
    "HGQ(6.0)", "HGQ([3.0,4.0],rnd_strategy='standard_round')",
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_str_round_trip(text):
    q = get_quantizer(text)
    again = get_quantizer(str(q))
    assert again == q and str(again) == str(q)
    assert type(q).from_config(q.get_config()) == q
    assert get_quantizer({"class_name": q.name, "config": q.get_config()}) == q
    assert json.loads(json.dumps(q.get_config())) == q.get_config()  # JSON-friendly


def test_positional_and_keyword_forms_agree():
    assert get_quantizer("quantized_bits(6,2,1,alpha=1)") == quantized_bits(bits=6, integer=2, symmetric=1, alpha=1)
    assert str(get_quantizer("quantized_bits(8,0,1,alpha=auto_po2)")) == "quantized_bits(8,0,1,alpha='auto_po2')"
    assert str(quantized_relu(8, 0, 1)) == "quantized_relu(8,0,1)"  # QKeras' own spelling


def test_objects_functions_and_none():
    q = binary()
    assert get_quantizer(q) is q
    assert get_quantizer(None) is None
    assert get_quantizer("hard_sigmoid") is hard_sigmoid
    assert get_quantizer({"class_name": "hard_sigmoid", "config": {}}) is hard_sigmoid
    assert set(FUNCTIONS) >= {"hard_sigmoid", "hard_tanh", "smooth_sigmoid", "smooth_tanh", "binary_sigmoid",
                              "binary_tanh", "stochastic_round", "stochastic_round_po2", "set_internal_sigmoid"}


def test_readme_example():
    x = np.linspace(-3, 3, 97, dtype=np.float32)
    y = get_quantizer("quantized_bits(8,3,1)")(x)
    assert y.dtype == np.float32 and np.all(np.abs(y) <= 8) and np.all(y * 16 == np.round(y * 16))


@pytest.mark.parametrize("text, words", [
    ("quantized_bitz(8,0)", ["quantized_bitz", "known"]),
    ("quantized_bits(8,0,foo=1)", ["quantized_bits", "foo"]),
    ("quantized_bits(8,0,1,1,None,0,None,1,None,1,0,None,None,None,None,9)", ["too many positional"]),
    ("quantized_bits(8,0,bits=3)", ["bits", "twice"]),
    ("quantized_bits(8,0", ["cannot parse", "quantized_bits(8,0"]),
    ("quantized_bits(8,0,alpha='autopo2')", ["alpha", "autopo2"]),
    ("quantized_bits(x+1)", ["x+1", "not a literal"]),
    ("quantized_bits(8.5,0)", ["bits", "8.5"]),
    ("quantized_relu(8,3,negative_slope=0.3)", ["negative_slope", "power of two"]),
    ("quantized_po2(4,log2_rounding='ceil')", ["log2_rounding", "ceil"]),
    ("quantized_bits(8,0,elements_per_scale=2)", ["elements_per_scale", "auto_po2"]),
    ("ternary(alpha='auto',threshold=0.3)", ["threshold"]),
    ("hard_sigmoid(1)", ["hard_sigmoid", "function"]),
    ("HGQ(4.0,rnd_strategy='nearest')", ["nearest"]),
])
def test_errors_name_the_bad_thing(text, words):
    with pytest.raises(QconvError) as err:
        get_quantizer(text)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_bad_identifiers():
    with pytest.raises(QconvError, match="class_name"):
        get_quantizer({"config": {}})
    with pytest.raises(QconvError, match="nope"):
        get_quantizer({"class_name": "nope", "config": {}})
    with pytest.raises(QconvError, match="cannot interpret"):
        get_quantizer(3)
    with pytest.raises(QconvError, match="seed"):
        stochastic_round(np.zeros(3, np.float32))
    with pytest.raises(QconvError, match="seed"):
        get_quantizer("bernoulli()")(np.zeros(3, np.float32))
    with pytest.raises(QconvError, match="mode"):
        set_internal_sigmoid("fast")


def test_stochastic_functions_are_seeded():
    x = np.linspace(-2, 2, 41, dtype=np.float32)
    a, b = stochastic_round(x, seed=3), stochastic_round(x, seed=3)
    assert np.array_equal(a, b) and np.all(np.abs(a - x) <= 0.5)
    assert np.array_equal(get_quantizer("stochastic_binary()")(x), get_quantizer("binary()")(x))
    s = get_quantizer("stochastic_binary(alpha='auto_po2')").sample(x.reshape(41, 1), seed=1)
    assert set(np.unique(np.abs(s))) <= {np.float32(2.0 ** e) for e in range(-30, 30)}


def test_internal_sigmoid_switch():
    x = np.linspace(-4, 4, 33, dtype=np.float32)
    hard = get_quantizer("quantized_tanh(8)")(x)
    try:
        set_internal_sigmoid("smooth")
        smooth = get_quantizer("quantized_tanh(8)")(x)
        assert get_quantizer("quantized_tanh(8)").hardware().exact
        set_internal_sigmoid("real")
        assert not get_quantizer("quantized_sigmoid(8)").hardware().exact
    finally:
        set_internal_sigmoid("hard")
    assert not np.array_equal(hard, smooth)


@pytest.mark.parametrize("case", QUANTIZER_CASES, ids=[c["name"] for c in QUANTIZER_CASES])
def test_golden_config_str_and_bounds(case):
    data = np.load(shared_path("golden", "qkeras", case["file"]))
    q = CLASSES[case["class_name"]](**case["kwargs"])
    q(data["x"])  # min()/max() of auto quantizers depend on the last call, as in QKeras
    config = q.get_config()
    for key, value in case["config"].items():  # ours is a superset of QKeras' get_config()
        assert key in config and config[key] == value, key
    assert get_quantizer(str(q)) == q
    if not case["str"].startswith("error"):
        qkeras_str = get_quantizer(case["str"])  # QKeras' own strings parse (some lose arguments)
        if qkeras_str == q:
            assert str(q) == case["str"] or get_quantizer(str(q)) == qkeras_str
    for bound in ("min", "max"):
        expected = case.get(bound)
        if expected is None or isinstance(expected, str):
            continue  # QKeras' own method raised (quantized_hswish.min)
        assert np.array_equal(np.asarray(getattr(q, bound)(), np.float64), np.asarray(expected, np.float64)), bound


def test_range_methods():
    assert quantized_bits(3, 0).range().tolist() == [0, 0.25, 0.5, 0.75, -1, -0.75, -0.5, -0.25]
    assert quantized_relu(2, 1).range().tolist() == [0, 0.5, 1.0, 1.5]
    assert get_quantizer("quantized_linear(2,0,0)").range().tolist() == [0, 0.5, -1.0, -0.5]
    with pytest.raises(QconvError, match="range"):
        quantized_bits(3, 0, 1).range()
    assert str(HGQ(4.0)) == "HGQ(4.0)"
