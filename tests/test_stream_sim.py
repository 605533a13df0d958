"""Datasets larger than memory (issue 17, part 1): `qconv sim -i data.npy -o out.npy` reads and
writes a chunk of samples at a time (sim/stream.py). The integers equal `simulate` on the whole
array whatever the chunk size, the overflow and clipping counts add up, and the resident memory
of a run stays far below the dataset's size."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qconv.pipeline import compile_model
from qconv.sim import simulate
from qconv.sim.stream import NpyReader, simulate_files

from .conftest import shared_path
from .helpers import cli

JET = ("qonnx_model_zoo", "qkeras_jettagging.onnx")


@pytest.fixture(scope="module")
def jet():
    return compile_model(shared_path("models", *JET), input_type="ap_fixed<10,3>")


@pytest.mark.parametrize("chunk", [1, 7, 250, 100000])
def test_streamed_integers_equal_whole_array_simulation(jet, tmp_path, chunk):
    x = np.random.default_rng(1).normal(0, 2, (503, 16)).astype(np.float32)  # clips the input type
    np.save(tmp_path / "x.npy", x)
    whole = simulate(jet, {"global_in": x})
    (name,) = jet.output_names
    counts = simulate_files(jet, {"global_in": NpyReader(tmp_path / "x.npy")}, {name: tmp_path / "y.npy"},
                            raw=True, chunk=chunk)
    assert np.array_equal(np.load(tmp_path / "y.npy"), whole.outputs[name])
    assert counts.overflows == whole.overflows and sum(counts.overflows.values()) > 0
    assert counts.clipped == whole.clipped and counts.accumulator_overflows == whole.accumulator_overflows


def test_sim_cli_streams_npy_to_npy(tmp_path):
    x = np.random.default_rng(2).normal(0, 1, (1000, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model = shared_path("models", *JET)
    args = ("--input-type", "ap_fixed<10,3>")
    r = cli("sim", model, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--chunk", "300", *args)
    assert r.exit_code == 0, r.output
    assert cli("sim", model, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npz", *args).exit_code == 0
    with np.load(tmp_path / "y.npz") as whole:
        assert np.array_equal(np.load(tmp_path / "y.npy"), whole["global_out"])


@pytest.mark.parametrize("extra,message", [
    (("--trace",), "--trace keeps every layer's values"),
    (("-i", "x.npz"), "streaming (.npy output) takes a one-input, one-output model and an .npy input"),
])
def test_streaming_misuse_is_one_error_line(tmp_path, extra, message):
    np.save(tmp_path / "x.npy", np.zeros((4, 16), np.float32))
    np.savez(tmp_path / "x.npz", global_in=np.zeros((4, 16), np.float32))
    args = ["sim", shared_path("models", *JET), "-o", tmp_path / "y.npy", "--input-type", "ap_fixed<10,3>"]
    args += [tmp_path / a if a.startswith("x.") else a for a in extra]
    if "-i" not in extra:
        args += ["-i", tmp_path / "x.npy"]
    r = cli(*args)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output


def _wide_model(path, features: int):
    """x[features] -> Quant(8 bits, 1/16) -> Relu -> y: cheap per sample, so a big file is quick."""
    qd = "qonnx.custom_op.general"
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in {"s": 1 / 16, "z": 0, "b": 8}.items()]
    g = helper.make_graph([helper.make_node("Quant", ["x", "s", "z", "b"], ["q"], domain=qd, signed=1, narrow=0,
                                            rounding_mode="ROUND"), helper.make_node("Relu", ["q"], ["y"])], "wide",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, features])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, features])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(qd, 1)]), str(path))
    return path


@pytest.mark.slow
def test_a_dataset_several_times_larger_than_memory_used(tmp_path):
    """A 768 MB float32 dataset (and 1.5 GB of float64 outputs) through a process whose peak
    resident memory stays under 400 MB: a quarter of the output, a half of the input."""
    features, samples = 1024, 196608
    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float32, (samples, features))
    for i in range(0, samples, 16384):
        x[i:i + 16384] = np.random.default_rng(i).normal(0, 4, (min(16384, samples - i), features))
    x.flush()
    del x
    model = _wide_model(tmp_path / "wide.onnx", features)
    # the peak resident memory of this process image (VmHWM; ru_maxrss would include the forked
    # parent's, which touched the whole file writing it)
    code = ("import sys\nfrom qconv.cli import main\n"
            "try:\n    main(sys.argv[1:], standalone_mode=False)\nfinally:\n"
            "    print('peak_kib', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n")
    run = subprocess.run([sys.executable, "-c", code, "sim", str(model), "-i", str(tmp_path / "x.npy"),
                          "-o", str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    peak_mb = int(run.stdout.split("peak_kib")[1]) / 1024
    assert peak_mb < 400, peak_mb
    y = NpyReader(tmp_path / "y.npy")
    assert y.shape == (samples, features) and y.dtype == np.float64
    last = np.clip(np.round(NpyReader(tmp_path / "x.npy").read(samples - 5, samples).astype(np.float64) * 16),
                   -128, 127) / 16
    assert np.array_equal(y.read(samples - 5, samples), np.maximum(last, 0))
