"""qconv.config: loading and validating a quantization config for float ONNX models."""

from __future__ import annotations

import json

import pytest

from qconv.config import ConfigError, load_config, qkeras_layer_rewrite
from qconv.fixed import FixedType
from qconv.quantizers import get_quantizer, hard_sigmoid

YAML = """
default:
  kernel_quantizer: "quantized_bits(8,0,alpha=1)"
  bias_quantizer: "quantized_bits(8,3,1)"
  activation: "quantized_relu(8,3)"
input_type: "ap_fixed<16,6>"
dense_2:
  kernel_quantizer: "quantized_po2(4)"
  activation: null
Conv:
  activation: hard_sigmoid
layers:
  conv_7:
    kernel_quantizer: "binary"
"""


def test_load_yaml_text_and_lookup(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(YAML)
    cfg = load_config(path)
    assert cfg.input_type == FixedType(16, 6)
    d2 = cfg.for_node("dense_2", "Gemm")
    assert d2.kernel_quantizer == get_quantizer("quantized_po2(4)") and d2.activation is None
    assert d2.bias_quantizer == get_quantizer("quantized_bits(8,3,1)")
    conv = cfg.for_node("conv_1", "Conv")
    assert conv.activation is hard_sigmoid and conv.kernel_quantizer == get_quantizer("quantized_bits(8,0,alpha=1)")
    assert cfg.for_node("conv_7", "Conv").kernel_quantizer == get_quantizer("binary()")
    cfg.validate(["dense_2", "conv_1", "conv_7"], ["Gemm", "Conv"])


def test_json_file_and_dict(tmp_path):
    data = {"default": {"activation": "quantized_relu(6,2)"}, "input_type": "quantized_bits(8,3,1)"}
    path = tmp_path / "q.json"
    path.write_text(json.dumps(data))
    cfg = load_config(path)
    assert cfg.input_type == FixedType(8, 4, True, "RND_CONV", "SAT_SYM") and load_config(data) == cfg


def test_qkeras_layer_semantics_option():
    entry = {"kernel_quantizer": "quantized_bits(6,2,1)", "bias_quantizer": "quantized_bits(6,2,1)"}
    plain = load_config({"default": entry})
    assert plain.for_node("d", "Gemm").kernel_quantizer.alpha is None
    rw = load_config({"default": entry, "qkeras_layer_semantics": True})
    k = rw.for_node("d", "Gemm")
    assert str(k.kernel_quantizer) == "quantized_bits(6,2,1,alpha='auto_po2')" and k.bias_quantizer.alpha is None
    assert qkeras_layer_rewrite(get_quantizer("ternary()")).alpha == "auto_po2"
    assert qkeras_layer_rewrite(get_quantizer("quantized_bits(6,2,1,alpha=1)")).alpha == 1
    assert qkeras_layer_rewrite(get_quantizer("quantized_po2(4)")) == get_quantizer("quantized_po2(4)")


@pytest.mark.parametrize("data, words", [
    ({"dense_1": {"kernel_quantizer": "quantized_bitz(8)"}}, ["dense_1", "kernel_quantizer", "quantized_bitz"]),
    ({"dense_1": {"kernel_quantizer": "quantized_bits(8,0,foo=2)"}}, ["dense_1", "foo"]),
    ({"dense_1": {"kernel": "quantized_bits(8)"}}, ["dense_1", "unknown field 'kernel'"]),
    ({"default": {"activation": 3}}, ["default", "activation"]),
    ({"input_type": "ap_fixd<8,3>"}, ["input_type"]),
    ({"input_type": "quantized_po2(4)"}, ["input_type", "quantized_po2"]),
    ({"qkeras_layer_semantics": "yes"}, ["qkeras_layer_semantics"]),
    ({"dense_1": "quantized_bits(8)"}, ["dense_1", "mapping"]),
    ({"layers": [1]}, ["layers"]),
])
def test_errors_name_the_entry(data, words):
    with pytest.raises(ConfigError) as err:
        load_config(data)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_validate_names_unknown_layers(tmp_path):
    cfg = load_config({"dens_2": {"activation": "quantized_relu(8,3)"}})
    with pytest.raises(ConfigError, match="dens_2"):
        cfg.validate(["dense_2"], ["Gemm", "Relu"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config("default: [\n  oops")
