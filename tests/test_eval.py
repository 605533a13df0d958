"""`qconv eval` (issue 17): accuracy, ROC AUC and agreement over a dataset, a chunk at a time.
The numbers equal those computed directly: the simulator on the whole array, onnxruntime sample
by sample, AUC by counting every positive-negative pair; and they do not depend on the chunking
or on Dask workers."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv.evaluate import FloatModel, dataset_inputs
from qconv.pipeline import compile_model
from qconv.sim import magnitude_histogram, simulate
from qconv.sim.metrics import ExactSum, RocHistogram, fixed_keys, float_keys

from .conftest import shared_path
from .helpers import cli

MODEL = ("example-models", "three_layer_keras.onnx")  # float Keras MLP, 16 -> 5, batch axis declared 1
TYPES = ("--default-type", "ap_fixed<16,6>")
SAMPLES = 3000


def _pairs_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUC by definition: over every (positive, negative) pair, 1 if the positive scores higher,
    1/2 on a tie."""
    p, n = scores[positive][:, None], scores[~positive][None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def test_auc_of_fixed_point_scores_is_exact_and_float_within_its_bound():
    rng = np.random.default_rng(0)
    mantissas = rng.integers(-300, 300, 4000)  # an ap_fixed<10,..>: many ties
    positive = rng.random(4000) < 0.3 + 0.4 * (mantissas > 0)
    roc = RocHistogram(exact=True)
    roc.add(fixed_keys(mantissas, 10, -512), positive)
    auc, bound = roc.auc()
    assert bound == 0 and auc == pytest.approx(_pairs_auc(mantissas, positive), abs=1e-12)
    scores = (rng.normal(0, 1, 4000) + positive).astype(np.float32)
    roc = RocHistogram(exact=False)
    roc.add(float_keys(scores), positive)
    auc, bound = roc.auc()
    assert abs(auc - _pairs_auc(scores, positive)) <= bound + 1e-12 and bound < 1e-3
    assert np.array_equal(np.argsort(float_keys(np.array([-2, -1e-30, -0.0, 0.0, 1e-30, 3], np.float32)),
                                     kind="stable"), np.arange(6))
    roc = RocHistogram(exact=False)  # -0.0 and +0.0 are one value: a tie (before: two bins, AUC 1, bound 0)
    roc.add(float_keys(np.array([0.0, -0.0], np.float32)), np.array([True, False]))
    assert roc.auc() == (0.5, 0.5)


def test_exact_sum_does_not_depend_on_order():
    from fractions import Fraction
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 1, 5000) * 10.0 ** rng.integers(-30, 30, 5000), [5e-324, -1e300, 1e300]])
    exact = sum(Fraction(v) for v in values.tolist()) / len(values)
    forward, backward = ExactSum(), ExactSum()
    for part in np.array_split(values, 7):
        forward.add(part)
    for part in np.array_split(values[::-1], 3):
        backward.add(part)
    assert forward.total == backward.total and forward.mean(len(values)) == float(exact)


def test_magnitude_histogram_is_exact():
    rng = np.random.default_rng(5)
    m = np.concatenate([[0, 1, -1, 2**26 - 1, 2**26, -(2**26), 2**53 + 1, -(2**63), 2**63 - 1],
                        rng.integers(-(2**62), 2**62, 300) >> rng.integers(0, 63, 300)]).astype(np.int64)
    expected = np.zeros(65, np.int64)
    for v in m.tolist():
        expected[abs(v).bit_length()] += 1
    assert np.array_equal(magnitude_histogram(m.reshape(-1, 3)), expected)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Inputs, labels (the float model's class with 20% replaced at random) and the references."""
    tmp = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (SAMPLES, 16)).astype(np.float32)
    session = ort.InferenceSession(str(shared_path("models", *MODEL)), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    ref = np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(SAMPLES)])
    y = np.argmax(ref, 1)
    swap = rng.random(SAMPLES) < 0.2
    y[swap] = rng.integers(0, 5, swap.sum())
    np.save(tmp / "x.npy", x)
    np.save(tmp / "y.npy", y)
    np.save(tmp / "y_onehot.npy", np.eye(5)[y])
    graph = compile_model(shared_path("models", *MODEL), default_type=TYPES[1])
    fixed = simulate(graph, {name: x})
    (out,) = graph.output_names
    return tmp, x, y, ref, fixed.outputs[out], fixed.types[out]


def _eval(tmp, *args):
    r = cli("eval", shared_path("models", *MODEL), "--data", tmp / "x.npy", *TYPES, "--json", tmp / "r.json", *args)
    assert r.exit_code == 0, r.output
    return json.loads((tmp / "r.json").read_text()), r.output


def test_eval_numbers_are_those_computed_directly(data):
    tmp, x, y, ref, mantissas, t = data
    report, text = _eval(tmp, "--labels", tmp / "y.npy", "--chunk", "701")
    (out,) = report["outputs"]
    fixed = t.to_float(mantissas)
    assert report["samples"] == SAMPLES and out["classes"] == 5 and out["type"] == "ap_fixed<16,6>"
    assert out["fixed"]["accuracy"] == np.mean(np.argmax(fixed, 1) == y)
    assert out["float"]["accuracy"] == np.mean(np.argmax(ref, 1) == y)
    for c in range(5):
        assert out["fixed"]["auc"][c] == pytest.approx(_pairs_auc(mantissas[:, c], y == c), abs=1e-12)
        assert out["fixed"]["auc_bound"][c] == 0
        assert abs(out["float"]["auc"][c] - _pairs_auc(ref[:, c], y == c)) <= out["float"]["auc_bound"][c] + 1e-12
    agree = out["fixed_vs_float"]
    err = np.abs(fixed - ref.astype(np.float64))
    assert agree["agreement"] == np.mean(np.argmax(fixed, 1) == np.argmax(ref, 1))
    assert agree["max_abs_error"] == err.max()
    assert agree["mean_abs_error"] == pytest.approx(err.mean(), rel=1e-12)
    overflow = {row["onnx"]: row["overflow"] for row in report["layers"]}
    assert sum(overflow.values()) > 0
    assert f"fixed point  accuracy {out['fixed']['accuracy']:.4f}" in text


def test_eval_does_not_depend_on_chunks_or_label_form(data):
    tmp = data[0]
    a, _ = _eval(tmp, "--labels", tmp / "y.npy", "--chunk", "7")
    b, _ = _eval(tmp, "--labels", tmp / "y_onehot.npy", "--chunk", "3000")
    assert a == b


def test_profile_counts_every_layer_value_whatever_the_chunks(data):
    tmp, x, y, ref, mantissas, t = data
    a, text = _eval(tmp, "--chunk", "7", "--profile", tmp / "p.png")
    b, _ = _eval(tmp, "--chunk", "3000", "--profile", tmp / "p.svg")
    assert a["profile"] == b["profile"] and f"profile: {tmp / 'p.png'}" in text
    assert (tmp / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in (tmp / "p.svg").read_bytes()
    rows = a["profile"]
    assert rows[0]["op"] == "Input" and rows[-1]["type"] == t.to_cpp()
    assert rows[-1]["histogram"] == magnitude_histogram(mantissas).tolist()
    assert all(sum(r["histogram"]) % SAMPLES == 0 for r in rows)
    overflow = {row["layer"]: row["overflow"] for row in a["layers"]}
    assert all(r["overflow"] == overflow.get(r["layer"], 0) for r in rows)


@pytest.mark.slow
def test_eval_on_two_dask_workers_equals_one_process(data):
    tmp = data[0]
    a, _ = _eval(tmp, "--labels", tmp / "y.npy", "--chunk", "500", "--profile", tmp / "w1.png")
    b, _ = _eval(tmp, "--labels", tmp / "y.npy", "--chunk", "500", "--workers", "2", "--profile", tmp / "w2.png")
    assert a == b and "profile" in a


def test_eval_without_labels_or_float_reference(data):
    tmp = data[0]
    report, text = _eval(tmp, "--no-float")
    assert report["float_model"] is None and set(report["outputs"][0]) == {"name", "type", "classes"}
    r = cli("eval", shared_path("models", "qonnx_model_zoo", "qkeras_jettagging.onnx"), "--data", tmp / "x.npy",
            "--input-type", "ap_fixed<10,3>")
    assert r.exit_code == 0 and "note: no float reference: " in r.output and "--float-model" in r.output


@pytest.mark.parametrize("args,message", [
    (("--labels", "short.npy"), "short.npy: 10 labels for 3000 samples"),
    (("--labels", "bad.npy"), "bad.npy: sample 5 is 5.0, not a class index 0..4"),  # was "from 0.0 to 7.0"
    (("--labels", "half.npy"), "half.npy: sample 2500 is 1.5, not a class index 0..4"),
    (("--labels", "nan.npy"), "nan.npy: sample 2999 is nan, not a class index 0..4"),  # was "from nan to nan"
    (("--labels", "wide.npy"), "wide.npy: shape (3000, 2) is neither class indices (N,) nor one-hot (N, 5)"),
    (("--threshold", "nan"), "--threshold nan: give a number"),  # was accepted: every prediction 0
    (("--data", "other=x.npy"), "--data: give NAME=DATA for each model input (input_1_0)"),
    (("--float-model", "x.npy"), "x.npy: onnxruntime cannot run it as the float reference"),
    (("--profile", "p.pdf"), "p.pdf: plots are written as .png or .svg"),  # before evaluating: one line
    (("--labels", "hot0.npy"), "hot0.npy: sample 202 ([0. 0. 0. 0. 0.]) names no single class"),  # was class 0
    (("--labels", "hot2.npy"), "hot2.npy: sample 201 ([0. 1. 0. 1. 0.]) names no single class"),
])
def test_eval_bad_input_is_one_error_line(data, args, message):
    args = (*args, "--chunk", "100")  # errors name the sample, not the row within its chunk
    tmp = data[0]
    np.save(tmp / "short.npy", np.zeros(10, np.int64))
    np.save(tmp / "bad.npy", np.arange(SAMPLES) % 8.0)
    for name, at, value in (("half", 2500, 1.5), ("nan", 2999, np.nan)):
        y = np.arange(SAMPLES) % 5.0
        y[at] = value
        np.save(tmp / f"{name}.npy", y)
    np.save(tmp / "wide.npy", np.zeros((SAMPLES, 2)))  # (was described as its chunk's shape: (100, 2))
    hot = np.eye(5)[np.arange(SAMPLES) % 5]
    hot[202] = 0
    np.save(tmp / "hot0.npy", hot)
    hot[202, 0], hot[201, 3] = 1, 1
    np.save(tmp / "hot2.npy", hot)
    args = [tmp / a if str(a).endswith(".npy") and "=" not in str(a) else a for a in args]
    args = [f"other={tmp / 'x.npy'}" if a == "other=x.npy" else a for a in args]
    data_args = [] if "--data" in args else ["--data", tmp / "x.npy"]
    r = cli("eval", shared_path("models", *MODEL), *data_args, *args, *TYPES)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output


def test_an_undefined_auc_is_reported_as_such(data):
    """A class without positive samples has no ROC AUC: 'n/a' and a note in the text, null in the
    JSON (before: NaN, which strict JSON readers refuse)."""
    tmp = data[0]
    np.save(tmp / "y_no4.npy", np.arange(SAMPLES) % 4)
    r = cli("eval", shared_path("models", *MODEL), "--data", tmp / "x.npy", "--labels", tmp / "y_no4.npy", *TYPES,
            "--json", tmp / "r4.json")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp / "r4.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    out = report["outputs"][0]
    assert out["fixed"]["auc"][4] is None and out["float"]["auc"][4] is None
    assert all(0 < a < 1 for a in out["fixed"]["auc"][:4])
    assert "n/a\n" in r.output and "n/a: ROC AUC is undefined for a class with no positive or no negative" in r.output


def _save(path, nodes, inputs: dict, outputs: dict, inits=()):
    """A float ONNX model (opset 13) of `nodes`, inputs and outputs {name: shape}, saved at `path`."""
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in outputs.items()],
                              list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_a_fixed_batch_runs_the_last_samples_in_a_filled_batch(tmp_path):
    """A float model declaring a batch of 4 on 10 samples: the last two go in a batch filled up
    with copies (before: onnxruntime's shape error, a traceback)."""
    path = _save(tmp_path / "b4.onnx", [helper.make_node("Mul", ["x", "two"], ["y"])], {"x": [4, 3]}, {"y": [4, 3]},
                 [numpy_helper.from_array(np.array(2.0, np.float32), "two")])
    x = np.random.default_rng(3).normal(0, 1, (10, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    got = FloatModel(path, compile_model(path, default_type="ap_fixed<16,6>")).run({"x": x})["y"]
    np.testing.assert_array_equal(got, 2 * x)
    r = cli("eval", path, "--data", tmp_path / "x.npy", "--default-type", "ap_fixed<16,6>", "--chunk", "7")
    assert r.exit_code == 0 and "same prediction on 1.0000 of samples" in r.output, r.output


def test_a_one_score_output_predicts_above_the_threshold(tmp_path):
    """A binary classifier with one sigmoid score: accuracy is score > --threshold against 0/1
    labels or one-hot (N, 2) labels, the AUC that of the score for class 1."""
    rng = np.random.default_rng(4)
    w = rng.normal(0, 1, (4, 1)).astype(np.float32)
    path = _save(tmp_path / "binary.onnx", [helper.make_node("MatMul", ["x", "w"], ["z"]),
                                            helper.make_node("Sigmoid", ["z"], ["y"])],
                 {"x": ["N", 4]}, {"y": ["N", 1]}, [numpy_helper.from_array(w, "w")])
    x = rng.normal(0, 1, (2000, 4)).astype(np.float32)
    y = ((x @ w)[:, 0] + rng.normal(0, 1, 2000) > 0).astype(np.int64)  # class 1 more likely at high scores
    for name, v in (("x", x), ("y", y), ("y2", np.eye(2)[y])):
        np.save(tmp_path / f"{name}.npy", v)
    g = compile_model(path, default_type="ap_fixed<16,6>")
    result = simulate(g, {"x": x})
    mantissas = result.outputs["y"][:, 0]
    score = result.types["y"].to_float(mantissas)
    reports = []
    for labels, threshold in (("y", "0.5"), ("y2", "0.5"), ("y", "0.7")):
        r = cli("eval", path, "--data", tmp_path / "x.npy", "--labels", tmp_path / f"{labels}.npy", "--no-float",
                "--threshold", threshold, "--default-type", "ap_fixed<16,6>", "--json", tmp_path / "r.json")
        assert r.exit_code == 0, r.output
        reports.append(json.loads((tmp_path / "r.json").read_text())["outputs"][0]["fixed"])
    assert reports[0] == reports[1]
    assert reports[0]["accuracy"] == np.mean((score > 0.5) == y)
    assert reports[2]["accuracy"] == np.mean((score > 0.7) == y)
    assert reports[0]["accuracy"] != reports[2]["accuracy"]
    assert reports[0]["auc"] == [pytest.approx(_pairs_auc(mantissas, y == 1), abs=1e-12)]


@pytest.mark.parametrize("features,scores,message", [
    (16, 3, "output 'y' has 3 values per sample, the fixed-point model's 'output_softmax_Softmax_01' 5: not the float"),
    (7, 5, "onnxruntime cannot run the float reference on this data ([ONNXRuntimeError]"),
])
def test_a_float_model_of_another_shape_is_one_error_line(data, features, scores, message):
    """--float-model naming a model with other inputs or outputs (before: a numpy broadcast error or
    onnxruntime's shape error, as tracebacks)."""
    tmp = data[0]
    _save(tmp / "other.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": ["N", features]},
          {"y": ["N", scores]}, [numpy_helper.from_array(np.ones((features, scores), np.float32), "w")])
    r = cli("eval", shared_path("models", *MODEL), "--data", tmp / "x.npy", "--float-model", tmp / "other.onnx", *TYPES)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output


def test_a_multi_input_model_reads_its_inputs_from_one_npz_by_name(tmp_path):
    """Every input from one .npz by name, or NAME=file.npz each; an .npz of several arrays none of
    which is named after the input is one error line (before: its first array, for every input)."""
    path = _save(tmp_path / "add.onnx", [helper.make_node("Add", ["x1", "x2"], ["y"])],
                 {"x1": ["N", 3], "x2": ["N", 3]}, {"y": ["N", 3]})
    rng = np.random.default_rng(6)
    x1, x2 = (rng.integers(-64, 64, (20, 3)) / 16 for _ in range(2))
    np.savez(tmp_path / "x.npz", x1=x1, x2=x2)
    np.savez(tmp_path / "ab.npz", a=x1, b=x2)
    types = ("--default-type", "ap_fixed<16,6>", "--json", tmp_path / "r.json")
    reports = []
    by_name = ["--data", f"x1={tmp_path / 'x.npz'}", "--data", f"x2={tmp_path / 'x.npz'}"]
    for data in (["--data", tmp_path / "x.npz"], by_name):
        r = cli("eval", path, *data, *types)
        assert r.exit_code == 0, r.output
        reports.append(json.loads((tmp_path / "r.json").read_text()))
    assert reports[0] == reports[1] and reports[0]["outputs"][0]["fixed_vs_float"]["max_abs_error"] == 0
    readers = dataset_inputs(compile_model(path, default_type="ap_fixed<16,6>"), [str(tmp_path / "x.npz")])
    assert np.array_equal(readers["x1"].read(0, 20), x1) and np.array_equal(readers["x2"].read(0, 20), x2)
    r = cli("eval", path, "--data", f"x1={tmp_path / 'ab.npz'}", "--data", f"x2={tmp_path / 'ab.npz'}", *types)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "ab.npz: no array named 'x1' (it holds a, b)" in r.output


@pytest.mark.parametrize("op,message", [("Exp", "is NaN/Inf on 1 samples (first: sample 1)"),
                                        (None, "x0.npy: no samples to evaluate")])
def test_a_nonfinite_float_reference_or_no_samples_is_one_error_line(tmp_path, op, message):
    """Before: inf/NaN float outputs gave a negative mean error and NaN rms (exit 0); no samples, a traceback."""
    shapes = {"x": ["N", 3]}, {"y": ["N", 3]}
    _save(tmp_path / "m.onnx", [helper.make_node("Mul", ["x", "two"], ["y"])], *shapes,
          [numpy_helper.from_array(np.array(2.0, np.float32), "two")])
    _save(tmp_path / "exp.onnx", [helper.make_node("Exp", ["x"], ["y"])], *shapes)
    np.save(tmp_path / "x.npy", np.array([[0, 0, 1], [100, 0, 0], [0.5, 0, 0]], np.float32))
    np.save(tmp_path / "x0.npy", np.zeros((0, 3), np.float32))
    data = tmp_path / ("x.npy" if op else "x0.npy")
    r = cli("eval", tmp_path / "m.onnx", "--data", data, "--float-model", tmp_path / "exp.onnx",
            "--default-type", "ap_fixed<16,6>")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output


def test_labels_are_checked_before_anything_is_simulated(data, monkeypatch):
    """A bad label late in the file ends the run before the simulation (before: after simulating
    every sample up to its chunk)."""
    import qconv.evaluate as ev
    from qconv.errors import ModelError
    from qconv.sim.datasets import open_reader
    tmp = data[0]
    y = np.arange(SAMPLES) % 5
    y[-1] = 9
    np.save(tmp / "late.npy", y)
    graph = compile_model(shared_path("models", *MODEL), default_type=TYPES[1])
    monkeypatch.setattr(ev, "simulate_chunks", lambda *a, **k: pytest.fail("simulated before the labels were checked"))
    with pytest.raises(ModelError, match="late.npy: sample 2999 is 9, not a class index 0..4"):
        ev.evaluate(graph, dataset_inputs(graph, [str(tmp / "x.npy")]), open_reader(tmp / "late.npy"), chunk=100)


def test_roc_histograms_exist_only_with_labels_and_fit_the_memory_budget(tmp_path):
    """Without labels no ROC histogram is built (before: 2 x 16 MiB per output value and model,
    whatever was asked: 4.56 GB for an 8192-output model); with labels for many classes their keys
    are cut so that they take at most a quarter of --max-memory (before: 16 MiB per class, 3.4 GB for
    100 classes), still exact for outputs narrower than the keys."""
    import tracemalloc
    from qconv.evaluate import evaluate
    from qconv.sim.datasets import ArrayReader
    from qconv.sim.metrics import key_bits
    assert [key_bits(c, m, 4 << 30) for c, m in ((5, 2), (100, 1), (1000, 2), (10**6, 2))] == [20, 19, 15, 5]
    classes = 300
    path = _save(tmp_path / "wide.onnx", [helper.make_node("Mul", ["x", "two"], ["y"])], {"x": ["N", classes]},
                 {"y": ["N", classes]}, [numpy_helper.from_array(np.array(2.0, np.float32), "two")])
    graph = compile_model(path, input_type="ap_fixed<8,4>")
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (400, classes)) / 16
    y = rng.permutation(np.arange(400) % classes)  # every class has a positive sample
    budget = 256 << 20
    tracemalloc.start()
    try:
        evaluate(graph, {"x": ArrayReader(x)}, budget=budget)
        no_labels = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        report = evaluate(graph, {"x": ArrayReader(x)}, ArrayReader(y), budget=budget)
        labelled = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert no_labels < 16 << 20 and labelled < budget // 4 + (16 << 20), (no_labels, labelled)
    fixed = report["outputs"][0]["fixed"]
    mantissas = simulate(graph, {"x": x}).outputs["y"]
    assert key_bits(classes, 1, budget) == 13 and fixed["auc_bound"] == [0] * classes  # 9-bit outputs: exact
    for c in (0, 17, classes - 1):
        assert fixed["auc"][c] == pytest.approx(_pairs_auc(mantissas[:, c], y == c), abs=1e-12)


def test_a_double_float_model_is_run_on_doubles(tmp_path):
    """A float reference with DOUBLE inputs is fed doubles and its outputs compared in double
    (before: always fed float32, onnxruntime's type error)."""
    graph = helper.make_graph([helper.make_node("Mul", ["x", "c"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 3])],
                              [numpy_helper.from_array(np.array(0.1, np.float64), "c")])
    path = tmp_path / "double.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    x = np.random.default_rng(8).normal(0, 1, (50, 3))
    np.save(tmp_path / "x.npy", x)
    r = cli("eval", path, "--data", tmp_path / "x.npy", "--default-type", "ap_fixed<24,8>", "--json",
            tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    compiled = compile_model(path, default_type="ap_fixed<24,8>")
    fixed = compiled.node(compiled.outputs[0]).out.fixed
    got = fixed.to_float(simulate(compiled, {"x": x}).outputs["y"])
    agree = json.loads((tmp_path / "r.json").read_text())["outputs"][0]["fixed_vs_float"]
    assert agree["max_abs_error"] == np.abs(got - x * 0.1).max() > 0


def test_layer_lines_give_each_count_its_share():
    """Accumulator wraps count in the layer's percentage (before: '343 accumulator sums wrapped of
    2,500 values (0.00%)')."""
    from qconv.cli import eval_lines
    report = {"model": "m.onnx", "samples": 100, "float_model": None, "outputs": [], "layers": [
        {"layer": "d", "onnx": "dense", "op": "MatMul", "type": "ap_fixed<8,3>", "values": 2500,
         "accumulator_wraps": 343, "overflow": 25, "type_source": "chosen by qconv"},
        {"layer": "q", "onnx": "quant", "op": "Quant", "type": "ap_fixed<4,1>", "values": 400,
         "clipped_low": 1, "clipped_high": 3}]}
    lines = eval_lines(report)
    assert lines[-2:] == [
        "  dense (MatMul, ap_fixed<8,3>): 25 overflowed (1.00%; type: chosen by qconv); "
        "343 accumulator sums wrapped (13.72%) of 2,500 values",
        "  quant (Quant, ap_fixed<4,1>): clipped 4 (1.00%; 1 low, 3 high) of 400 values"]


@pytest.mark.parametrize("command", ["eval --json", "eval --profile", "sweep -o", "sweep --plot", "report --html",
                                     "conform --json"])
def test_an_output_in_a_missing_folder_is_refused_before_any_work(data, command):
    """Before: the whole evaluation (or sweep, or report, printed first) ran, then the write failed."""
    tmp = data[0]
    (tmp / "grid.yaml").write_text("default_type: ['ap_fixed<16,6>']\n")
    name, option = command.split()
    out = tmp / "missing" / {"--profile": "p.png", "--plot": "p.png", "--html": "r.html"}.get(option, "out.json")
    model = shared_path("models", *MODEL)
    args = {"eval": ["--data", tmp / "x.npy", *TYPES],
            "sweep": ["--grid", tmp / "grid.yaml", "--data", tmp / "x.npy", "-o", tmp / "s.csv"],
            "report": [*TYPES, "--data", tmp / "x.npy"], "conform": []}[name]
    r = cli(name, tmp if name == "conform" else model, *args, option, out)
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {out}: the folder {out.parent} does not exist; create it or give another path"], r.output


def test_report_data_that_does_not_fit_fails_before_the_report(data):
    tmp = data[0]
    np.save(tmp / "x7.npy", np.zeros((5, 7), np.float32))
    r = cli("report", shared_path("models", *MODEL), *TYPES, "--html", tmp / "r.html", "--data", tmp / "x7.npy")
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {tmp / 'x7.npy'}: samples of shape (7,) do not fit input 'input_1_0' of shape (16)"], r.output


def test_an_integer_input_float_model_gets_integers_or_an_error(tmp_path):
    """--float-model declaring int8 inputs: integer data is fed as int8; data it cannot hold
    (5.5, 300) is one error line naming the sample (before: float32 fed, onnxruntime's type error;
    a plain cast would truncate and wrap silently)."""
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
                               helper.make_node("Mul", ["xf", "c"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.INT8, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                              [numpy_helper.from_array(np.array(0.5, np.float32), "c")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "int8.onnx"))
    _save(tmp_path / "half.onnx", [helper.make_node("Mul", ["x", "c"], ["y"])], {"x": ["N", 3]}, {"y": ["N", 3]},
          [numpy_helper.from_array(np.array(0.5, np.float32), "c")])
    np.save(tmp_path / "xi.npy", np.array([[1, 2, 3], [4, 5, -6], [7, 8, 9]], np.float32))
    np.save(tmp_path / "xf.npy", np.array([[1, 2, 3], [4, 5, -6], [7, 8, 300]], np.float32))
    args = ("--float-model", tmp_path / "int8.onnx", "--input-type", "ap_fixed<10,10>", "--chunk", "2")
    r = cli("eval", tmp_path / "half.onnx", "--data", tmp_path / "xi.npy", *args)
    assert r.exit_code == 0 and "error max 0, mean 0, rms 0" in r.output, r.output
    r = cli("eval", tmp_path / "half.onnx", "--data", tmp_path / "xf.npy", *args)
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {tmp_path / 'int8.onnx'}: input 'x': the float model declares int8 but sample 2 holds 300.0; "
        "give data it can hold (integers -128..127) or another --float-model"], r.output


@pytest.mark.parametrize("data,message", [
    (np.array([[1, 2, 3], [4, 5, -6], [7, 8, 172]], np.int16), "sample 2 holds 172; give data it can hold (integers "
     "-128..127)"),  # was fed as -84, silently
    (np.array([[1, 2, 3], [4, 5, -6], [7, 8, 2.0**63]]), "sample 2 holds 9.223372036854776e+18"),  # became -2^63
])
def test_integer_data_outside_an_integer_float_model_is_refused(tmp_path, data, message):
    from qconv.evaluate import _cast
    from qconv.errors import ModelError
    with pytest.raises(ModelError, match=re.escape(message)):
        _cast(np.dtype(np.int8 if data.dtype == np.int16 else np.int64), data, "m")


def test_data_a_float16_model_cannot_hold_is_one_error_line(tmp_path):
    """Before: numpy's overflow warning, then 'output is NaN/Inf ... fix the float model'."""
    graph = helper.make_graph([helper.make_node("Mul", ["x", "c"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["N", 3])],
                              [numpy_helper.from_array(np.array(0.5, np.float16), "c")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "h.onnx"))
    x = np.ones((8, 3), np.float32)
    x[5, 1] = 70000
    np.save(tmp_path / "x.npy", x)
    r = cli("eval", tmp_path / "h.onnx", "--data", tmp_path / "x.npy", "--default-type", "ap_fixed<24,20>")
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {tmp_path / 'h.onnx'}: input 'x': the float model declares float16 but sample 5 holds 70000.0; "
        "give data it can hold (magnitudes up to 65504) or another --float-model"], r.output


@pytest.mark.parametrize("command,option", [("eval", "--json"), ("eval", "--profile"), ("report", "--html"),
                                            ("sweep", "-o"), ("sweep", "--plot")])
def test_an_output_that_is_an_input_is_refused(data, tmp_path, command, option):
    """Before: the model, the data or the table was overwritten, exit 0."""
    tmp = data[0]
    model = tmp_path / ("m.html" if command == "report" else "m.onnx")  # (--html refuses other suffixes)
    model.write_bytes(shared_path("models", *MODEL).read_bytes())
    (tmp_path / "grid.yaml").write_text("default_type: ['ap_fixed<16,6>']\n")
    x = tmp_path / ("x.png" if option in ("--profile", "--plot") else "x.npy")
    x.write_bytes((tmp / "x.npy").read_bytes())
    target = x if command != "report" else model
    args = {"eval": ["--data", x, *TYPES], "report": [*TYPES],
            "sweep": ["--grid", tmp_path / "grid.yaml", "--data", x, "-o", tmp_path / "s.csv"]}[command]
    before = target.read_bytes()
    r = cli(command, model, *args, option, target)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "writing it would destroy it" in r.output, r.output
    assert target.read_bytes() == before
