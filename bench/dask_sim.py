"""Dataset-scale simulation (issue 17): samples/s of `qconv sim`'s chunked simulator
(qconv/sim/stream.py) on the QKeras jet tagger and a CNN, in one process and on a local Dask
cluster of 2 worker processes (ratio to one process; the goal on a 2-core machine is >= 1.7x),
streaming .npy to .npy. Beside them, the same task spans on two plain processes (a
ProcessPoolExecutor, no scheduler): what this machine gives two processes at that moment, whose
two cores share cache and memory and, on a VM, whatever the host gives its vCPUs. The integers of
all three are checked equal. Then the largest dataset of the run, with the peak resident memory of
a separate `qconv sim` process streaming it.

    python bench/dask_sim.py [--samples-jet 8000000] [--samples-cnn 4000000] [--big-gb 2] [--rounds 3]

The datasets are large enough (8 M jet, 4 M CNN samples: 10-20 s in one process) that the
cluster's cost per run (task round trips through the scheduler, which shares the 2 cores with
the workers: 0.04 s for a small run, plus ~2 ms per task) is a small part of each run, as on the
10^7-10^9 events the cluster is for; the "per run" column shows that cost (a run of SMALL_RUN
samples). Each model is run once on the cluster and on the plain processes first (not timed: the
processes import qconv and compile the model, once), then one process, the plain pair and the
cluster take turns `--rounds` times (medians shown; "cluster / plain" is the median of each round's
ratio, the two measured a few seconds apart). The one process is a child process with no
cluster in it, as `qconv sim` without --workers runs (the cluster puts its scheduler, nannies and
client in the main process; they idle while the plain processes run). All run at `qconv sim`'s
default chunk size with the `qconv` command's malloc settings (sim/memory.py `keep_heap`). On a
local cluster the workers read their .npy slices and write their outputs themselves
(sim/stream.py `shares_files`), in tasks of several chunks (`task_spans`); the main process only
hands out the tasks.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qconv.pipeline import compile_model  # noqa: E402
from qconv.sim.cluster import connect  # noqa: E402
from qconv.sim.datasets import NpyReader, NpyWriter  # noqa: E402
from qconv.sim.memory import DEFAULT_BUDGET, keep_heap  # noqa: E402
from qconv.sim.stream import default_chunk, simulate_files, simulate_slice, task_spans  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
# (model, input type, default type for float weights and layers (as bench/run.py), input shape)
MODELS = {"jet tagger": ("qonnx_model_zoo/qkeras_jettagging.onnx", "ap_fixed<10,3>", None, (16,)),
          "conv2d_small_keras (CNN)": ("example-models/conv2d_small_keras.onnx", "ap_fixed<16,6>", "ap_fixed<16,6>",
                                       None)}


def _timed(graph, x_path, y_path, chunk, client=None) -> float:
    name = graph.node(graph.inputs[0]).attrs.get("onnx_name", graph.inputs[0])
    t0 = time.perf_counter()
    simulate_files(graph, {name: NpyReader(x_path)}, {graph.output_names[0]: y_path}, raw=True, chunk=chunk,
                   client=client)
    return time.perf_counter() - t0


SMALL_RUN = 1000  # samples of the run that shows the cluster's cost per run

_GRAPHS: dict = {}  # in each plain child process: compiled once per model


def _graph(rel: str, input_type: str, default_type):
    keep_heap()  # as the `qconv` command does at its start (sim/memory.py)
    key = (rel, input_type, default_type)
    if key not in _GRAPHS:
        _GRAPHS[key] = compile_model(SHARED / rel, input_type=input_type, default_type=default_type)
    return _GRAPHS[key]


def _timed_alone(rel: str, input_type: str, default_type, x_path, y_path, chunk) -> float:
    """_timed in the child process of a ProcessPoolExecutor: one process as `qconv sim` without
    --workers runs, with no cluster (scheduler, nannies, client) in it."""
    return _timed(_graph(rel, input_type, default_type), x_path, y_path, chunk)


def _span(rel: str, input_type: str, default_type, x_path, writer, chunk, start: int, stop: int) -> int:
    """Samples start:stop streamed into `writer` (an NpyWriter the parent sized) by a plain child
    process, as a cluster worker runs a task (sim/stream.py `simulate_slice`); returns the process id."""
    graph = _graph(rel, input_type, default_type)
    name = graph.node(graph.inputs[0]).attrs.get("onnx_name", graph.inputs[0])
    simulate_slice(graph, {name: NpyReader(x_path)}, start, stop, True, DEFAULT_BUDGET,
                   writers={graph.output_names[0]: writer}, chunk=chunk)
    return os.getpid()


def _plain(pool: ProcessPoolExecutor, model: tuple, x_path: Path, y_path: Path, out: tuple, chunk: int):
    """(seconds, process ids) of the cluster's task spans on the two processes of `pool`, all
    submitted at once: each process takes the next span when it is free, as a worker does."""
    y_path.unlink(missing_ok=True)
    writer = NpyWriter(y_path, out, np.int64).sized()
    t0 = time.perf_counter()
    tasks = [pool.submit(_span, *model, x_path, writer, chunk, a, b) for a, b in task_spans(out[0], chunk, 2)]
    pids = {t.result() for t in tasks}
    return time.perf_counter() - t0, pids


def _peak_rss_mb(model: Path, input_type: str, x_path: Path, y_path: Path) -> float:
    code = ("import sys\nfrom qconv.cli import main\ntry:\n    main(sys.argv[1:], standalone_mode=False)\nfinally:\n"
            "    print('peak_kib', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n")
    run = subprocess.run([sys.executable, "-c", code, "sim", str(model), "-i", str(x_path), "-o", str(y_path),
                          "--input-type", input_type], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(run.stdout.split("peak_kib")[1]) / 1024


def _listed(seconds: list[float]) -> str:
    return " ".join(f"{s:.2f}" for s in seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # dataset scale (issue 17: 10^7-10^9 events): 10-20 s in one process each
    ap.add_argument("--samples-jet", type=int, default=8_000_000)
    ap.add_argument("--samples-cnn", type=int, default=4_000_000)
    ap.add_argument("--big-gb", type=float, default=2.0, help="size of the largest (jet tagger) input file")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs of each (median)")
    args = ap.parse_args()
    rows = []
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(2, spawn) as plain, connect(workers=2) as client:
        tmp = Path(tmp)
        for label, (rel, input_type, default_type, shape) in MODELS.items():
            graph = compile_model(SHARED / rel, input_type=input_type, default_type=default_type)
            shape = shape or graph.node(graph.inputs[0]).out.shape
            n = args.samples_jet if shape == (16,) else args.samples_cnn
            x = np.random.default_rng(0).normal(0, 1, (n, *shape)).astype(np.float32)
            np.save(tmp / "x.npy", x)
            chunk = default_chunk(graph)  # as `qconv sim` without --chunk
            # warm-up, not timed: the workers import qconv and receive the graph (about a second, once)
            _timed(graph, tmp / "x.npy", tmp / "y2.npy", chunk, client)
            model = (rel, input_type, default_type)
            out = (n, *graph.node(graph.outputs[0]).out.shape)
            warm: set = set()
            for _ in range(5):  # its warm-up: imports and compile_model in both plain processes
                warm |= _plain(plain, model, tmp / "x.npy", tmp / "yp.npy", out, chunk)[1]
                if len(warm) == 2:
                    break
            else:
                raise RuntimeError(f"the plain pool ran every task in one process: {warm}")
            np.save(tmp / "few.npy", x[:SMALL_RUN])
            ones, pairs, twos, fixed = [], [], [], []
            def one_process():
                ones.append(plain.submit(_timed_alone, *model, tmp / "x.npy", tmp / "y1.npy", chunk).result())

            def plain_pair():
                seconds, pids = _plain(plain, model, tmp / "x.npy", tmp / "yp.npy", out, chunk)
                assert len(pids) == 2, f"the plain spans ran in one process ({pids})"
                pairs.append(seconds)

            def cluster():
                twos.append(_timed(graph, tmp / "x.npy", tmp / "y2.npy", chunk, client))
            runs = [one_process, plain_pair, cluster]
            for r in range(args.rounds):  # taking turns, median of each: the ratios of one moment
                for y in ("y1.npy", "y2.npy", "few_y.npy"):  # new files (freeing the last run's took up to 0.3 s)
                    (tmp / y).unlink(missing_ok=True)
                for run in runs[r % 3:] + runs[:r % 3]:  # each in each place of the turn
                    os.sync()  # no run pays for writing back another's output
                    run()
                os.sync()
                fixed.append(_timed(graph, tmp / "few.npy", tmp / "few_y.npy", chunk, client))
            one, two, pair = statistics.median(ones), statistics.median(twos), statistics.median(pairs)
            print(f"{label}: seconds per round: one process {_listed(ones)}, 2 plain {_listed(pairs)}, "
                  f"2 workers {_listed(twos)}", flush=True)
            follows = statistics.median(p / t for p, t in zip(pairs, twos))
            y1 = np.load(tmp / "y1.npy")
            same = [np.array_equal(y1, np.load(tmp / y)) for y in ("y2.npy", "yp.npy")]
            rows.append((label, n, n / one, one / pair, n / two, one / two, follows, statistics.median(fixed), same))
        print(f"{'model':28} {'samples':>10} {'1 process/s':>12} {'2 plain':>8} {'2 workers/s':>12} {'ratio':>6} "
              f"{'cluster/plain':>13} {'per run':>8}  integers")
        for label, n, r1, pair_ratio, r2, ratio, follows, per_run, same in rows:
            print(f"{label:28} {n:10,} {r1:12,.0f} {pair_ratio:7.2f}x {r2:12,.0f} {ratio:6.2f} {follows:13.2f} "
                  f"{per_run:7.2f}s  {'identical' if all(same) else f'DIFFER (cluster, plain equal: {same})'}")
        print(f"2 plain: the ratio of two plain processes running the same task spans (no Dask); cluster/plain: "
              f"the median of each round's ratio of the two; per run: the cluster's time for {SMALL_RUN:,} samples, "
              "what each run costs on top of its samples")
        rel, input_type, _, _ = MODELS["jet tagger"]
        big = int(args.big_gb * 2**30 / (16 * 4))
        x = np.lib.format.open_memmap(tmp / "big.npy", "w+", np.float32, (big, 16))
        for i in range(0, big, 1 << 20):
            x[i:i + (1 << 20)] = np.random.default_rng(i).normal(0, 1, (min(1 << 20, big - i), 16))
        x.flush()
        del x
        t0 = time.perf_counter()
        peak = _peak_rss_mb(SHARED / rel, input_type, tmp / "big.npy", tmp / "big_y.npy")
        print(f"largest: jet tagger, {big:,} samples ({args.big_gb:g} GiB float32 in, "
              f"{(tmp / 'big_y.npy').stat().st_size / 2**30:.1f} GiB float64 out) streamed by one `qconv sim` "
              f"process in {time.perf_counter() - t0:.0f} s, peak resident memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
