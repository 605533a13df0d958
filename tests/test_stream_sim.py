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
from qconv.sim.datasets import ArrayReader, NpyReader, NpyWriter
from qconv.sim.stream import simulate_files

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


def test_a_stream_prepares_its_graph_once(jet, tmp_path, monkeypatch):
    """The kernels' plans (sim.prepare) are made once per stream, not per chunk (5% of a small
    CNN's streaming time), in one process and in a task's span of chunks (simulate_slice); the
    integers are those of `simulate`."""
    import qconv.sim
    import qconv.sim.stream
    made = []

    def counted(graph):
        made.append(graph)
        return real(graph)
    real = qconv.sim.prepare
    monkeypatch.setattr(qconv.sim, "prepare", counted)
    monkeypatch.setattr(qconv.sim.stream, "prepare", counted)
    x = np.random.default_rng(2).normal(0, 2, (530, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (name,) = jet.output_names
    simulate_files(jet, {"global_in": NpyReader(tmp_path / "x.npy")}, {name: tmp_path / "y.npy"}, raw=True, chunk=50)
    assert len(made) == 1
    writer = NpyWriter(tmp_path / "z.npy", (530, *jet.node(jet.outputs[0]).out.shape), np.int64).sized()
    qconv.sim.stream.simulate_slice(jet, {"global_in": NpyReader(tmp_path / "x.npy")}, 20, 530, True, 1 << 30,
                                    writers={name: writer}, chunk=50)
    assert len(made) == 2
    monkeypatch.undo()
    whole = simulate(jet, {"global_in": x}).outputs[name]
    assert np.array_equal(np.load(tmp_path / "y.npy"), whole)
    assert np.array_equal(np.load(tmp_path / "z.npy")[20:], whole[20:])


def test_simulate_counts_add_up_over_its_own_batches(jet):
    """`simulate` quantizes and runs 2048 samples at a time (sim.run): on 5003 samples its
    outputs and counts (the input's overflows included) equal the sums over single-batch runs."""
    x = np.random.default_rng(3).normal(0, 2, (5003, 16)).astype(np.float32)
    whole = simulate(jet, {"global_in": x})
    parts = [simulate(jet, {"global_in": x[i:i + 1000]}) for i in range(0, len(x), 1000)]
    total = parts[0]
    for p in parts[1:]:
        total.add_counts(p)
    (name,) = jet.output_names
    assert np.array_equal(whole.outputs[name], np.concatenate([p.outputs[name] for p in parts]))
    assert whole.overflows == total.overflows and whole.overflows[jet.inputs[0]] > 1000
    assert whole.clipped == total.clipped and sum(c.total for c in whole.clipped.values()) > len(x)


def test_nan_inputs_are_refused_and_huge_finite_ones_are_not(jet):
    """The input check sums the data (NaN/inf propagate); a sum that overflows on finite values
    is looked at value by value, and such values wrap like any other."""
    from qconv.errors import ModelError
    x = np.random.default_rng(4).normal(0, 1, (20, 16))
    x[7, 3] = np.nan
    with pytest.raises(ModelError, match=r"input 'global_in': 1 NaN/Inf values \(first in sample 7\)"):
        simulate(jet, {"global_in": x})
    x[7, 3] = 1e308
    x[9, :] = 1e308  # the sum overflows; each value is a multiple of 2^1000: 0 in the 10 bits kept
    zeros = x.copy()
    zeros[x == 1e308] = 0.0
    got, want = simulate(jet, {"global_in": x}), simulate(jet, {"global_in": zeros})
    assert np.array_equal(got.outputs["global_out"], want.outputs["global_out"])
    assert got.overflows[jet.inputs[0]] == want.overflows.get(jet.inputs[0], 0) + 17


def test_long_doubles_beyond_double_range_are_refused(jet):
    from qconv.errors import ModelError
    x = np.zeros((3, 16), np.longdouble)
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("long double is double on this platform")
    x[2, 5] = np.longdouble("1e400")  # inf as a double, which is what qconv converts from
    with pytest.raises(ModelError, match=r"1 NaN/Inf values \(first in sample 2\)"):
        simulate(jet, {"global_in": x})


def test_inputs_with_different_sample_counts_are_one_error(tmp_path):
    from qconv.errors import ModelError
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 4]) for n in ("a", "b", "y")]
    model = helper.make_model(helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", vi[:2], vi[2:]))
    onnx.save(model, tmp_path / "two.onnx")
    graph = compile_model(tmp_path / "two.onnx", input_type="ap_fixed<8,3>")
    with pytest.raises(ModelError, match="the inputs have different numbers of samples: 'a' 5, 'b' 4"):
        simulate(graph, {"a": np.zeros((5, 4)), "b": np.zeros((4, 4))})
    with pytest.raises(ModelError, match="the inputs have different numbers of samples: 'a' 5, 'b' 4"):
        simulate_files(graph, {"a": ArrayReader(np.zeros((5, 4)), "a"), "b": ArrayReader(np.zeros((4, 4)), "b")},
                       {"y": tmp_path / "y.npy"})


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


@pytest.mark.parametrize("source,target", [("x.h5:/data/x", "y.zarr"), ("x.zarr", "y.h5:/out/y"),
                                           ("x.zarr:/x", "y.zarr:/y"), ("x.npz", "y.h5:/y")])
def test_hdf5_and_zarr_datasets_stream_the_same_integers(tmp_path, source, target):
    """HDF5 datasets (file.h5:/name) and Zarr arrays (store.zarr, store.zarr:/name in a group) in
    and out, chunk by chunk: the integers of the in-memory .npz run."""
    import h5py
    import zarr
    x = np.random.default_rng(5).normal(0, 2, (777, 16)).astype(np.float32)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("data/x", data=x, chunks=(100, 16))
    zarr.save_array(str(tmp_path / "x.zarr"), x) if source == "x.zarr" else zarr.open_group(
        str(tmp_path / "x.zarr"), mode="w").create_array("x", data=x, chunks=(64, 16))
    np.savez(tmp_path / "x.npz", global_in=x)
    model, args = shared_path("models", *JET), ("--raw", "--input-type", "ap_fixed<10,3>")
    assert cli("sim", model, "-i", tmp_path / "x.npz", "-o", tmp_path / "ref.npz", *args).exit_code == 0
    r = cli("sim", model, "-i", f"{tmp_path}/{source}", "-o", f"{tmp_path}/{target}", "--chunk", "100", *args)
    assert r.exit_code == 0, r.output
    path, _, inner = target.partition(":")
    got = h5py.File(tmp_path / path, "r")[inner][...] if path.endswith(".h5") else \
        zarr.open(str(tmp_path / path), mode="r", path=inner.strip("/") or None)[...]
    with np.load(tmp_path / "ref.npz") as ref:
        assert got.dtype == np.int64 and np.array_equal(got, ref["global_out"])


@pytest.mark.parametrize("data,message", [
    ("x.h5", "x.h5: name the HDF5 dataset, e.g. "),
    ("x.h5:/nothing", "x.h5:/nothing: no dataset /nothing in "),
    ("x.h5:/data", "x.h5:/data: /data is a group, not a dataset; name a dataset in it"),
    ("missing.zarr", "missing.zarr: no such file"),
    ("g.zarr", "g.zarr: a Zarr group; name an array in it (store.zarr:/name)"),
    ("w.npy", "w.npy: expected an array of numbers with samples on its first axis, got dtype <U1"),
    ("short.npy", "short.npy: samples of shape (15,) do not fit input 'global_in' of shape (16)"),
    ("cut.npy", "cut.npy: its header says (4, 16) float32 (256 bytes of data), the file holds 206: truncated"),
])
def test_bad_datasets_are_one_error_line(tmp_path, data, message):
    import h5py
    import zarr
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("data/x", data=np.zeros((4, 16), np.float32))
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w").create_array("x", data=np.zeros((4, 16), np.float32))
    np.save(tmp_path / "w.npy", np.array(["a", "b"]))
    np.save(tmp_path / "short.npy", np.zeros((4, 15), np.float32))
    np.save(tmp_path / "cut.npy", np.zeros((4, 16), np.float32))
    whole = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[:-50])  # before: a traceback (a reshape of too few values)
    r = cli("sim", shared_path("models", *JET), "-i", f"{tmp_path}/{data}", "-o", tmp_path / "y.npy",
            "--input-type", "ap_fixed<10,3>")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output


@pytest.mark.parametrize("extra,message", [
    (("--trace",), "--trace keeps every layer's values"),
    (("-i", "x.txt"), "x.txt: expected an .npy file, an HDF5 dataset (file.h5:/name) or a Zarr array"),
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


@pytest.mark.parametrize("source,target,message", [
    ("x.npy", "x.npy", "x.npy: writing it would overwrite the input "),
    ("s.zarr:/x", "s.zarr:/x", "s.zarr:/x: writing it would overwrite the input "),
    ("s.zarr:/x", "s.zarr", "s.zarr: writing it would overwrite the input "),  # the store is replaced whole
    ("d.h5:/x", "d.h5:/y", "d.h5:/y: the inputs are read from "),
])
def test_an_output_that_would_destroy_its_input_is_one_error_line(tmp_path, source, target, message):
    """Before: -i x.npy -o x.npy truncated the input while it was being read (a traceback after the
    first chunk, the input lost), and an HDF5 output in the input's file was 'cannot open it'."""
    import h5py
    import zarr
    x = np.random.default_rng(2).normal(0, 1, (300, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    zarr.open_group(str(tmp_path / "s.zarr"), mode="w").create_array("x", data=x)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = x
    r = cli("sim", shared_path("models", *JET), "-i", f"{tmp_path}/{source}", "-o", f"{tmp_path}/{target}",
            "--input-type", "ap_fixed<10,3>", "--chunk", "100")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output
    assert np.array_equal(np.load(tmp_path / "x.npy"), x)
    assert np.array_equal(zarr.open(str(tmp_path / "s.zarr"), mode="r", path="x")[...], x)
    r = cli("sim", shared_path("models", *JET), "-i", f"{tmp_path}/s.zarr:/x", "-o", f"{tmp_path}/s.zarr:/y",
            "--input-type", "ap_fixed<10,3>", "--chunk", "100")  # another array of the same store: fine
    assert r.exit_code == 0, r.output


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
