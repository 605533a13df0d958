"""The simulator on Dask (issue 17, part 2): a real dask.distributed LocalCluster of two worker
processes on the loopback address gives the integers (and the overflow and clipping counts) of
the single-process simulator, streaming .npy files or on in-memory arrays; a scheduler that
cannot be reached is one error line."""

from __future__ import annotations

import numpy as np
import pytest

from qconv.errors import ModelError
from qconv.pipeline import compile_model
from qconv.sim import memory, simulate
from qconv.sim.cluster import connect
from qconv.sim.datasets import ArrayReader, NpyReader
from qconv.sim.stream import shares_files, simulate_files

from .conftest import shared_path
from .helpers import cli

JET = ("qonnx_model_zoo", "qkeras_jettagging.onnx")
TYPE = ("--input-type", "ap_fixed<10,3>")


@pytest.fixture(scope="module")
def client():
    with connect(workers=2) as c:
        yield c


@pytest.mark.slow
def test_local_workers_keep_their_heap(client):
    """The workers get the malloc thresholds the `qconv` process sets for itself (sim/memory.py),
    not dask's MALLOC_TRIM_THRESHOLD_ alone (which made every large temporary a fresh mmap)."""
    import os
    envs = client.run(lambda: {k: os.environ.get(k) for k in memory.HEAP_ENVIRON})
    assert len(envs) == 2 and all(env == memory.HEAP_ENVIRON for env in envs.values())


def test_task_spans_are_guided():
    """A local cluster's tasks take a quarter (2 workers) of the samples left, at least a chunk,
    at most 32 chunks: large first, small last."""
    from qconv.sim.stream import task_spans
    assert task_spans(5003, 397, 2) == [(0, 1251), (1251, 2189), (2189, 2893), (2893, 3421), (3421, 3818),
                                        (3818, 4215), (4215, 4612), (4612, 5003)]
    assert task_spans(100, 64, 2) == [(0, 64), (64, 100)]  # never below a chunk
    spans = task_spans(10**9, 1000, 2)
    sizes = [b - a for a, b in spans]
    assert spans[0] == (0, 32000) and spans[-1][1] == 10**9 and all(a == b for (_, a), (b, _) in zip(spans, spans[1:]))
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] <= 1000 and sizes.count(32000) == 31247


def test_keep_heap_takes_effect_on_glibc():
    import platform
    assert memory.keep_heap() == (platform.libc_ver()[0] == "glibc")


@pytest.mark.slow
def test_two_dask_workers_give_the_single_process_integers(client, tmp_path):
    graph = compile_model(shared_path("models", *JET), input_type=TYPE[1])
    x = np.random.default_rng(3).normal(0, 2, (5003, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    whole = simulate(graph, {"global_in": x})
    assert len(client.scheduler_info()["workers"]) == 2
    reader = NpyReader(tmp_path / "x.npy")
    assert shares_files(client, {"global_in": reader})  # the workers read and write the .npy files themselves
    assert not shares_files(client, {"global_in": ArrayReader(x)})  # in-memory data travels with the tasks
    # a second run on the same client ships the graph again under its own key
    for chunk, raw, source in ((397, True, reader), (1000, False, reader), (600, True, ArrayReader(x))):
        done = []
        counts = simulate_files(graph, {"global_in": source}, {"global_out": tmp_path / "y.npy"}, raw=raw,
                                chunk=chunk, client=client, progress=done.append)
        assert done[-1] == 5003 and all(a < b for a, b in zip(done, done[1:]))  # samples done, in any task order
        got = np.load(tmp_path / "y.npy")
        want = whole.outputs["global_out"] if raw else whole.as_float()["global_out"]
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert counts.overflows == whole.overflows and sum(whole.overflows.values()) > 0
        assert counts.clipped == whole.clipped


@pytest.mark.slow
def test_workers_leave_the_output_as_it_was_when_the_data_is_refused(client, tmp_path):
    graph = compile_model(shared_path("models", *JET), input_type=TYPE[1])
    np.save(tmp_path / "x.npy", np.zeros((300, 15), np.float32))   # samples of 15, the model takes 16
    np.save(tmp_path / "y.npy", np.full((300, 5), 7.0))           # a previous result
    with pytest.raises(ModelError, match="do not fit input"):
        simulate_files(graph, {"global_in": NpyReader(tmp_path / "x.npy")}, {"global_out": tmp_path / "y.npy"},
                       client=client)
    assert (np.load(tmp_path / "y.npy") == 7.0).all()
    x = np.zeros((3000, 16), np.float32)
    x[2900, 3] = np.nan  # refused by a late task, while the others run or have written their parts
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ModelError, match="NaN"):
        simulate_files(graph, {"global_in": NpyReader(tmp_path / "x.npy")}, {"global_out": tmp_path / "y.npy"},
                       client=client, chunk=64)
    assert (np.load(tmp_path / "y.npy") == 7.0).all() and len(list(tmp_path.iterdir())) == 2
    np.save(tmp_path / "x.npy", np.zeros((300, 16), np.float32))
    simulate_files(graph, {"global_in": NpyReader(tmp_path / "x.npy")}, {"global_out": tmp_path / "y.npy"},
                   client=client, chunk=64)
    assert np.load(tmp_path / "y.npy").shape == (300, 5) and sorted(p.name for p in tmp_path.iterdir()) == [
        "x.npy", "y.npy"]  # the parts were renamed, none left behind


@pytest.mark.slow
@pytest.mark.parametrize("output", ["y.npz", "y.npy"])
def test_sim_cli_workers_equal_one_process(tmp_path, output):
    x = np.random.default_rng(4).normal(0, 1, (3000, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model = shared_path("models", *JET)
    one = cli("sim", model, "-i", tmp_path / "x.npy", "-o", tmp_path / "one.npz", "--raw", *TYPE)
    two = cli("sim", model, "-i", tmp_path / "x.npy", "-o", tmp_path / output, "--raw", "--workers", "2",
              "--chunk", "500", *TYPE)
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    got = np.load(tmp_path / output)
    got = got["global_out"] if output.endswith(".npz") else got
    with np.load(tmp_path / "one.npz") as ref:
        assert got.dtype == np.int64 and np.array_equal(got, ref["global_out"])


@pytest.mark.slow
def test_unreachable_scheduler_is_one_error_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 16), np.float32))
    r = cli("sim", shared_path("models", *JET), "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npz",
            "--scheduler", "tcp://127.0.0.1:9", *TYPE)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in r.output


def test_workers_and_scheduler_together_is_one_error_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 16), np.float32))
    r = cli("sim", shared_path("models", *JET), "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npz",
            "--workers", "2", "--scheduler", "tcp://127.0.0.1:9", *TYPE)
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "error: give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both"], r.output


@pytest.mark.slow
def test_workers_stream_with_any_client_and_no_samples(client, tmp_path):
    """A client that is not the default one (Client(..., set_as_default=False)) drives its own
    tasks, and an empty dataset writes an empty output, as in one process."""
    from distributed import Client
    graph = compile_model(shared_path("models", *JET), input_type=TYPE[1])
    x = np.random.default_rng(5).normal(0, 2, (900, 16)).astype(np.float32)
    for name, data in (("x.npy", x), ("empty.npy", x[:0])):
        np.save(tmp_path / name, data)
    with Client(client.cluster, set_as_default=False) as other:
        default = client.__class__.current(allow_global=True)
        assert default is not other
        simulate_files(graph, {"global_in": NpyReader(tmp_path / "x.npy")}, {"global_out": tmp_path / "y.npy"},
                       raw=True, chunk=100, client=other)
        simulate_files(graph, {"global_in": NpyReader(tmp_path / "empty.npy")}, {"global_out": tmp_path / "e.npy"},
                       raw=True, client=other)
    assert np.array_equal(np.load(tmp_path / "y.npy"), simulate(graph, {"global_in": x}).outputs["global_out"])
    empty = np.load(tmp_path / "e.npy")
    assert empty.shape == (0, 5) and empty.dtype == np.int64
