"""qtools type inference (qconv/qtools.py) against QKeras' own output, golden/qkeras/qtools_types.json.

The golden holds six Keras models Input -> QActivation(qa) -> QConv2D 3x3x3->4 -> QActivation
quantized_relu(8,4) -> Flatten -> QDense(5) with various kernel/bias quantizers, and the qtools
data type map QKeras printed for each. It is reproduced twice, character for character:
from the layer descriptions with qtools' rules, and from a float ONNX model + quantization config
compiled by qconv (weights chosen so that the auto_po2 scales equal the golden model's, which
the golden's fused_accumulator entries reveal: 2^-3 for quantized_bits(6,2,1), 2^-1 for
quantized_bits(4,0,1))."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv import qtools
from qconv.config import qkeras_layer_rewrite
from qconv.pipeline import compile_model
from qconv.quantizers import get_quantizer

from .conftest import shared_path

SOURCE = "quantized_bits(8,3,1)"
QA2 = "quantized_relu(8,4)"
# auto_po2 scale of the golden models' kernels (from their fused_accumulator entries)
GOLDEN_SHIFT = {"quantized_bits(6,2,1)": -3, "quantized_bits(4,0,1)": -1, "quantized_bits(4,0,1,alpha='auto_po2')": -1}


def _golden():
    return json.loads(shared_path("golden", "qkeras", "qtools_types.json").read_text())


CASES = ["bits_x_bits", "bits_x_po2", "bits_x_binary", "bits_x_ternary", "relu_x_bits", "bits_x_autopo2"]


def _dumps(d) -> str:
    return json.dumps(d, indent=1)


# ----- 1. the rules on the layer descriptions --------------------------------------------------------
def golden_layers(case: dict) -> list[qtools.Layer]:
    """The golden Keras model as qtools layers (QKeras rewrites layer kernels to auto_po2)."""
    kq = qkeras_layer_rewrite(get_quantizer(case["kernel_quantizer"]))
    bq = get_quantizer(case["bias_quantizer"]) if case["bias_quantizer"] else None
    shift = GOLDEN_SHIFT.get(case["kernel_quantizer"])
    scale = (lambda shape: None) if shift is None else (lambda shape: np.full(shape, 2.0 ** shift))
    L = qtools.Layer
    return [
        L("qa", "QActivation", [""], (None, 6, 6, 3), (None, 6, 6, 3), activation=get_quantizer(case["source"])),
        L("conv", "QConv2D", ["qa"], (None, 4, 4, 4), (None, 6, 6, 3), kernel_quantizer=kq, bias_quantizer=bq,
          use_bias=bq is not None, kernel_shape=(3, 3, 3, 4), kernel_scale=scale((1, 1, 1, 4))),
        L("qa2", "QActivation", ["conv"], (None, 4, 4, 4), (None, 4, 4, 4), activation=get_quantizer(QA2)),
        L("flat", "Flatten", ["qa2"], (None, 64), (None, 4, 4, 4)),
        L("dense", "QDense", ["flat"], (None, 5), (None, 64), kernel_quantizer=kq, bias_quantizer=bq,
          use_bias=bq is not None, kernel_shape=(64, 5), kernel_scale=scale((1, 5))),
    ]


@pytest.mark.parametrize("name", CASES)
def test_golden_reproduced_from_layer_descriptions(name):
    case = _golden()[name]
    got = qtools.to_json(qtools.infer(golden_layers(case), [get_quantizer(SOURCE)]))
    assert _dumps(got) == _dumps(case["stats"])


def test_golden_file_is_covered():
    assert sorted(_golden()) == sorted(CASES)


# ----- 2. the same from an ONNX model + config compiled by qconv ----------------------------------------
def _golden_weights(kq: str, shape, rng, weights_scale=None):
    """Weights whose auto_po2 scale (per output channel, last axis) is the golden model's: on the
    quantizer's grid, with the largest code in every channel."""
    if kq.startswith("quantized_bits(6,2,1)"):
        top, lsb = 31, 1 / 64
    elif kq.startswith("quantized_bits(4,0,1"):
        top, lsb = 7, 1 / 16
    else:
        return rng.normal(0, weights_scale or 0.3, shape)
    z = rng.integers(-top, top + 1, shape)
    z[..., 0, :] = top  # (keras layout: last axis = output channel)
    z = z.reshape(-1, shape[-1])
    z[0, :] = top * np.where(rng.integers(0, 2, shape[-1]) > 0, 1, -1)
    return (z * lsb).reshape(shape)


def golden_case_model(tmp_path, name: str, weights_scale=None):
    """(ONNX path, config) of the golden model `name`: NHWC input 6x6x3, Relu 'qa' (replaced by the
    case's source quantizer), Conv 'conv' between Transposes, Relu 'qa2', Flatten 'flat', Gemm 'dense'."""
    case = _golden()[name]
    rng = np.random.default_rng(5)
    bias = case["bias_quantizer"] is not None
    inits, nodes = [], []

    def const(n, v):
        inits.append(numpy_helper.from_array(np.asarray(v, np.float32), n))
        return n

    wk = _golden_weights(case["kernel_quantizer"], (3, 3, 3, 4), rng, weights_scale)    # keras layout
    wd = _golden_weights(case["kernel_quantizer"], (64, 5), rng, weights_scale)
    nodes.append(helper.make_node("Relu", ["x"], ["qa_out"], name="qa"))
    nodes.append(helper.make_node("Transpose", ["qa_out"], ["t1"], name="t1", perm=[0, 3, 1, 2]))
    ins = ["t1", const("W", wk.transpose(3, 2, 0, 1))] + ([const("B", rng.normal(0, 0.5, 4))] if bias else [])
    nodes.append(helper.make_node("Conv", ins, ["conv_out"], name="conv", kernel_shape=[3, 3]))
    nodes.append(helper.make_node("Transpose", ["conv_out"], ["t2"], name="t2", perm=[0, 2, 3, 1]))
    nodes.append(helper.make_node("Relu", ["t2"], ["qa2_out"], name="qa2"))
    nodes.append(helper.make_node("Flatten", ["qa2_out"], ["flat_out"], name="flat"))
    ins = ["flat_out", const("Wd", wd)] + ([const("Bd", rng.normal(0, 0.5, 5))] if bias else [])
    nodes.append(helper.make_node("Gemm", ins, ["y"], name="dense"))
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 6, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    layer = {"kernel_quantizer": case["kernel_quantizer"], "bias_quantizer": case["bias_quantizer"]}
    config = {"input_type": SOURCE, "qkeras_layer_semantics": True, "qa": {"activation": case["source"]},
              "qa2": {"activation": QA2}, "conv": dict(layer), "dense": dict(layer)}
    return path, config


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("accumulator", ["tight", "qtools"])
def test_golden_reproduced_from_a_compiled_onnx_model(tmp_path, name, accumulator):
    path, config = golden_case_model(tmp_path, name)
    graph = compile_model(path, config=config, accumulator=accumulator)
    got = qtools.to_json(qtools.analyze(graph))
    assert _dumps(got) == _dumps(_golden()[name]["stats"])


# ----- 3. auto_po2 adjustments on a per-channel po2-scaled folded conv (golden QConv2DBatchnorm) -------
BN_AUTO = "QConv2DBatchnorm__kq=quantized_bits_8_0_1_alpha=auto_po2__bq=quantized_bits_10_3_1__bias=True.npz"
BN_NONE = "QConv2DBatchnorm__kq=quantized_bits_6_2_1__bq=None__bias=False.npz"


def _bn_model(tmp_path, g, bias: bool):
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in (
        ("W", g["kernel"].transpose(3, 2, 0, 1)), ("gamma", g["gamma"]), ("beta", g["beta"]),
        ("mean", g["moving_mean"]), ("var", g["moving_variance"]))]
    conv_in = ["t1", "W"]
    if bias:
        inits.append(numpy_helper.from_array(g["bias"].astype(np.float32), "B"))
        conv_in.append("B")
    nodes = [helper.make_node("Transpose", ["x"], ["t1"], name="t1", perm=[0, 3, 1, 2]),
             helper.make_node("Conv", conv_in, ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"], name="bn",
                              epsilon=float(g["epsilon"])),
             helper.make_node("Transpose", ["bn"], ["y"], name="t2", perm=[0, 2, 3, 1])]
    graph = helper.make_graph(nodes, "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 6, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])], inits)
    path = tmp_path / "bn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_auto_po2_adjustments_on_the_golden_folded_conv(tmp_path):
    g = np.load(shared_path("golden", "qkeras", BN_AUTO))
    kq = get_quantizer("quantized_bits(8,0,1,alpha='auto_po2')")
    np.testing.assert_array_equal(kq(g["folded_kernel"]), g["q_folded_kernel"])  # QKeras' quantized kernel
    scale = np.log2(np.squeeze(kq.scale))
    assert scale.tolist() == [0.0, -2.0, 0.0, 0.0]  # per output channel: max_shift 0, min_shift -2
    config = {"input_type": SOURCE, "conv": {"kernel_quantizer": str(kq), "bias_quantizer": "quantized_bits(10,3,1)"}}
    graph = compile_model(_bn_model(tmp_path, g, bias=True), config=config, accumulator="qtools")
    conv = graph.node("conv")
    assert conv.attrs["folded_bn"] == "bn"
    entry = qtools.analyze(graph)["layer_data_type_map"]["conv"]
    assert entry["layer_type"] == "QConv2DBatchnorm"
    # x qb(8,3,1) * w qb(8,0,1): int 3, frac 4 + 7 = 11 -> 15 bits; auto_po2: frac 15-3-(-2) = 14,
    # int 3+0 = 3 -> 17 bits; fan-in 27 + 1 bias -> +5: (22, 8), the bias counted, no extra adder
    assert str(entry["multiplier"].output) == "quantized_bits<17,3s>"
    assert str(entry["accumulator"].output) == "quantized_bits<22,8s>"
    assert conv.attrs["accum"].to_cpp() == "ap_fixed<22,9>"
    # unadjusted, the same layer would have the 15-bit multiplier: qtools' adjustment is what
    # makes room for the two extra fraction bits of the scale-2^-2 channel
    unadjusted = qtools.make_accumulator((3, 3, 3, 4), qtools.make_multiplier(
        qtools.from_quantizer(kq), qtools.from_quantizer(get_quantizer(SOURCE))))
    assert str(unadjusted.output) == "quantized_bits<20,8s>"


def test_populate_bias_quantizer_from_accumulator_on_the_golden_folded_conv(tmp_path):
    g = np.load(shared_path("golden", "qkeras", BN_NONE))
    kq = qkeras_layer_rewrite(get_quantizer("quantized_bits(6,2,1)"))  # QConv2DBatchnorm: auto_po2
    np.testing.assert_array_equal(kq(g["folded_kernel"]), g["q_folded_kernel"])
    assert np.log2(np.squeeze(kq.scale)).tolist() == [-2.0, -2.0, -3.0, -3.0]  # max_shift -2, min_shift -3
    config = {"input_type": SOURCE, "conv": {"kernel_quantizer": str(kq)}}
    path = _bn_model(tmp_path, g, bias=False)
    graph = compile_model(path, config=config, accumulator="qtools")
    conv = graph.node("conv")
    entry = qtools.analyze(graph)["layer_data_type_map"]["conv"]
    # mult: int 3+2 = 5, frac 4+3 = 7 -> 13 bits; auto_po2: frac 13-5+3 = 11, int 5-2 = 3 -> 14 bits;
    # no bias quantizer: fan-in 27 -> (19, 8) becomes the bias type, the accumulator grows to (20, 9)
    assert str(entry["bias_quantizer"]) == "quantized_bits<19,8s>"
    assert str(entry["accumulator"].output) == "quantized_bits<20,9s>"
    q = qtools.populate_bias_quantizer_from_accumulator(entry["bias_quantizer"])
    assert str(q) == "quantized_bits(19,8,1)"
    assert conv.consts["b"].fixed == q.fixed_type()  # the folded bias, quantized as QKeras then does
    assert conv.attrs["accum"].to_cpp() == "ap_fixed<20,10>"
    # other modes keep the float32 folded bias exactly (QKeras' fold is float32: it fits 40 bits)
    b = compile_model(path, config=config).node("conv").consts["b"]
    np.testing.assert_array_equal(b.fixed.to_float(b.values), g["folded_bias"].astype(np.float64))


# ----- 4. single rules ---------------------------------------------------------------------------------
def _q(text):
    return qtools.from_quantizer(get_quantizer(text))


@pytest.mark.parametrize("w, x, impl, want", [
    ("quantized_bits(6,2,1)", "quantized_bits(8,3,1)", "mul", "quantized_bits<13,5s>"),
    ("quantized_bits(4,0,1)", "quantized_relu(6,2)", "mul", "quantized_bits<10,2s>"),
    ("quantized_relu(4,2)", "quantized_relu(6,2)", "mul", "quantized_bits<10,4u>"),
    ("quantized_po2(5,1)", "quantized_bits(8,3,1)", "shifter", "quantized_bits<16,3s>"),
    ("quantized_po2(4)", "quantized_relu(8,4)", "shifter", "quantized_bits<16,7s>"),
    ("quantized_bits(8,3,1)", "quantized_relu_po2(4,4)", "shifter", "quantized_bits<18,5s>"),
    ("binary()", "quantized_relu(8,4)", "mux", "quantized_bits<9,4s>"),
    ("ternary()", "quantized_bits(8,3,1)", "mux", "quantized_bits<8,3s>"),
    ("quantized_bits(6,2,1)", "binary()", "mux", "quantized_bits<6,2s>"),
    ("binary()", "binary()", "xor", "binary<1,1s>"),
    ("binary(use_01=True)", "quantized_bits(8,3,1)", "and", "quantized_bits<8,3s>"),
    ("quantized_bits(8,3,1)", "binary(use_01=True)", "and", "quantized_bits<8,3s>"),
    ("quantized_po2(4,2)", "quantized_po2(5,1)", "add", "quantized_po2(bits=6, max=2)"),
])
def test_multiplier_table(w, x, impl, want):
    m = qtools.make_multiplier(_q(w), _q(x))
    assert (m.implemented_as, str(m.output)) == (impl, want)


def test_po2_exponent_ranges_and_accumulators():
    assert qtools.get_exp(_q("quantized_po2(5,1)")) == (8, 0)      # qtools: 2^(nsb-1) fraction bits
    assert qtools.get_exp(_q("quantized_po2(4)")) == (4, 3)
    assert qtools.get_exp(_q("quantized_relu_po2(4,4)")) == (8, 2)
    assert qtools.po2_to_qbits(_q("quantized_po2(4)")) == (8, 3)
    po2 = qtools.make_multiplier(_q("quantized_po2(4,2)"), _q("quantized_po2(5,1)"))
    acc = qtools.make_accumulator((3, 3, 8, 16), po2, use_bias=False)      # po2 -> qbits first
    assert str(acc.output) == "quantized_bits<25,8s>"                     # po2(6, max 2): (1+16+1, 1) + 7 (n=72)
    dense = qtools.make_accumulator((100, 10), qtools.make_multiplier(_q("quantized_bits(4,0,1)"),
                                                                          _q("quantized_bits(4,0,1)")))
    assert str(dense.output) == "quantized_bits<14,7s>"                   # 7 + ceil(log2 101)
    assert str(qtools.make_adder(_q("quantized_bits(12,2,1)"), _q("quantized_bits(10,8,1)")).output) == \
        "quantized_bits<19,9s>"                                           # aligned: int 9, frac 9


def test_merges_pooling_and_operation_counts():
    a, b = _q("quantized_bits(8,3,1)"), _q("quantized_relu(6,4)")
    assert str(qtools.merge("Add", [a, b]).output) == "quantized_bits<9,5s>"      # no fractional alignment
    assert str(qtools.merge("Concatenate", [a, b]).output) == "quantized_bits<8,4s>"
    assert str(qtools.merge("Maximum", [a, a]).output) == str(a)
    assert str(qtools.merge("Multiply", [a, b]).output) == "quantized_bits<14,7s>"
    layer = qtools.Layer("pool", "AveragePooling2D", [""], (None, 2, 2, 3), (None, 6, 6, 3), pool_size=(3, 3))
    entry = qtools.infer([layer], [a])["layer_data_type_map"]["pool"]
    assert str(entry["pool_sum_accumulator"].output) == "quantized_bits<12,7s>" and entry["operation_count"] == 27
    oc = qtools.operation_count
    assert oc("QConv2D", (None, 6, 6, 3), (None, 4, 4, 4), (3, 3, 3, 4)) == 1728
    assert oc("QConv1D", (None, 10, 4), (None, 8, 5), (3, 4, 5)) == 480
    assert oc("QDepthwiseConv2D", (None, 6, 6, 3), (None, 4, 4, 3), (3, 3, 3, 1)) == 432
    assert oc("QDense", (None, 64), (None, 5), (64, 5)) == 320
    assert oc("Flatten", (None, 4, 4, 4)) == 64 and oc("Add", (None, 7, 3)) == 21
    assert oc("GlobalAveragePooling2D", (None, 6, 6, 3), (None, 3)) == 108


def test_depthwise_accumulator_counts_the_window_only():
    layer = qtools.Layer("dw", "QDepthwiseConv2D", [""], (None, 4, 4, 8), (None, 6, 6, 8),
                         kernel_quantizer=get_quantizer("quantized_bits(4,0,1)"), kernel_shape=(3, 3, 8, 1))
    entry = qtools.infer([layer], [get_quantizer(SOURCE)])["layer_data_type_map"]["dw"]
    assert str(entry["accumulator"].output) == "quantized_bits<15,7s>"  # mult (11, 3) + ceil(log2 9)
