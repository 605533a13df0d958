"""Float ONNX models quantized by a config (QKeras quantizers per layer): the simulator equals
the QKeras float semantics recomputed directly with the quantizer objects, and the g++ C
simulation equals the simulator bit for bit, for every hardware kind of quantizer."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from qconv.errors import QconvError
from qconv.pipeline import compile_model
from qconv.quantizers import get_quantizer
from qconv.sim import simulate

from .helpers import build_and_csim, cli
from .randmodels import Builder

# (kernel quantizer, activation node, activation quantizer) for each branch
BRANCHES = [
    ("quantized_bits(6,0,alpha=1)", "Relu", "quantized_relu(6,2)"),
    ("quantized_po2(4)", "Relu", "quantized_relu(4,1)"),
    ("binary(alpha=1)", "Tanh", "quantized_tanh(6)"),
    ("ternary(alpha=1)", "Sigmoid", "quantized_sigmoid(6)"),
    ("quantized_bits(8,0,alpha='auto_po2')", "Relu", "quantized_relu_po2(4)"),
    ("quantized_bits(4,0,1,alpha=1)", "Tanh", "binary(alpha=1)"),
    ("quantized_bits(5,1,alpha=1)", "Relu", "ternary(alpha=1)"),
    ("quantized_linear(6,1)", "Relu", "quantized_hswish(6,2)"),
    ("stochastic_ternary(alpha=1)", "Sigmoid", "quantized_relu(5,2,negative_slope=0.25)"),
    ("stochastic_binary(alpha=1)", "Tanh", "quantized_bits(6,2,1,alpha=1)"),
]
BIAS = "quantized_bits(8,3,alpha=1)"
INPUT_TYPE = "ap_fixed<8,3>"


def _model(tmp_path):
    """One input, one float Dense + activation branch per config row, named fc{i} and act{i}."""
    b = Builder(21)
    x = b.input([12])
    names = []
    for i, (_, act, _) in enumerate(BRANCHES):
        w, bias = b.const(b.rng.normal(0, 0.5, (12, 6))), b.const(b.rng.normal(0, 0.5, 6))
        b.nodes.append(onnx.helper.make_node("Gemm", [x, w, bias], [f"fc{i}"], name=f"fc{i}"))
        b.nodes.append(onnx.helper.make_node(act, [f"fc{i}"], [f"act{i}"], name=f"act{i}"))
        b.output(f"act{i}")
        names.append((w, bias))
    path = tmp_path / "float_branches.onnx"
    onnx.save(b.model(), str(path))
    config = {"input_type": INPUT_TYPE, "default": {"bias_quantizer": BIAS}}
    for i, (kq, _, aq) in enumerate(BRANCHES):
        config[f"fc{i}"] = {"kernel_quantizer": kq}
        config[f"act{i}"] = {"activation": aq}
    weights = {i: [onnx.numpy_helper.to_array(t) for t in b.inits if t.name in names[i]] for i in range(len(BRANCHES))}
    return path, config, weights


def test_sim_equals_qkeras_semantics(tmp_path):
    path, config, weights = _model(tmp_path)
    graph = compile_model(path, config=config)
    rng = np.random.default_rng(0)
    t = graph.node(graph.inputs[0]).out.fixed
    x = t.to_float(t.from_float(rng.uniform(-4, 4, (200, 12))))
    got = simulate(graph, {"x1": x}).as_float()
    for i, (kq, _, aq) in enumerate(BRANCHES):
        w, bias = weights[i]
        qw = np.asarray(get_quantizer(kq)(w), np.float64)
        qb = np.asarray(get_quantizer(BIAS)(bias), np.float64)
        pre = x @ qw + qb                      # exact in float64 (short dyadics)
        want = np.asarray(get_quantizer(aq)(pre.astype(np.float32)), np.float64)
        np.testing.assert_array_equal(got[f"act{i}"], want, err_msg=f"branch {i}: {kq} / {aq}")


@pytest.mark.slow
def test_csim_bit_exact_for_every_quantizer_kind(tmp_path):
    path, config, _ = _model(tmp_path)
    import yaml
    cfg = tmp_path / "q.yaml"
    cfg.write_text(yaml.safe_dump(config))
    build_and_csim(path, tmp_path / "prj", "--config", cfg, samples=300)


def test_config_errors_name_the_problem(tmp_path):
    path, config, _ = _model(tmp_path)
    with pytest.raises(QconvError, match="unknown layer"):
        compile_model(path, config={**config, "no_such_layer": {"kernel_quantizer": "quantized_bits(4,0)"}})
    with pytest.raises(QconvError, match="quantized_bitz"):
        compile_model(path, config={"fc0": {"kernel_quantizer": "quantized_bitz(4,0)"}})
    with pytest.raises(QconvError, match="bit-exact"):  # a float 'auto' scale has no exact hardware form
        compile_model(path, config={**config, "fc0": {"kernel_quantizer": "quantized_bits(4,0,alpha='auto')"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: [unclosed\n")
    r = cli("inspect", path, "--config", bad)
    assert r.exit_code == 2 and "cannot parse" in r.output
