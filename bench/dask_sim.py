"""Dataset-scale simulation (issue 17): samples/s of `qconv sim`'s chunked simulator
(qconv/sim/stream.py) on the QKeras jet tagger and a CNN, in one process and on a local Dask
cluster of 2 worker processes (ratio to one process; the goal on a 2-core machine is >= 1.7x),
streaming .npy to .npy; the integers are checked equal. Then the largest dataset of the run, with
the peak resident memory of a separate `qconv sim` process streaming it.

    python bench/dask_sim.py [--samples-jet 8000000] [--samples-cnn 4000000] [--big-gb 2] [--rounds 3]

The datasets are large enough (8 M jet, 4 M CNN samples: 10-15 s in one process) that the
cluster's cost per run (task round trips through the scheduler, which shares the 2 cores with
the workers: 0.04 s for a small run, plus ~2 ms per task) is a small part of each run, as on the
10^7-10^9 events the cluster is for; the "per run" column shows that cost (a run of SMALL_RUN
samples). Each model is run once on the cluster first (not timed: the workers import qconv, about a
second, paid once per cluster), then one process and the cluster alternate `--rounds` times
(medians shown). The one process is a child process with no cluster in it, as `qconv sim`
without --workers runs (the cluster puts its scheduler, nannies and client in the main process).
Both models run at `qconv sim`'s default chunk size, one process with the `qconv` command's
malloc settings (sim/memory.py `keep_heap`). On a local cluster the workers
read their .npy slices and write their outputs themselves (sim/stream.py `shares_files`), in
tasks of several chunks (`task_spans`); the main process only hands out the tasks.
"""

from __future__ import annotations

import argparse
import multiprocessing
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
from qconv.sim.datasets import NpyReader  # noqa: E402
from qconv.sim.memory import keep_heap  # noqa: E402
from qconv.sim.stream import default_chunk, simulate_files  # noqa: E402

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

_GRAPHS: dict = {}  # in the one-process child: compiled once per model


def _timed_alone(rel: str, input_type: str, default_type, x_path, y_path, chunk) -> float:
    """_timed in the child process of a ProcessPoolExecutor: one process as `qconv sim` without
    --workers runs, with no cluster (scheduler, nannies, client) in it."""
    keep_heap()  # as the `qconv` command does at its start (sim/memory.py)
    key = (rel, input_type, default_type)
    if key not in _GRAPHS:
        _GRAPHS[key] = compile_model(SHARED / rel, input_type=input_type, default_type=default_type)
    return _timed(_GRAPHS[key], x_path, y_path, chunk)


def _peak_rss_mb(model: Path, input_type: str, x_path: Path, y_path: Path) -> float:
    code = ("import sys\nfrom qconv.cli import main\ntry:\n    main(sys.argv[1:], standalone_mode=False)\nfinally:\n"
            "    print('peak_kib', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n")
    run = subprocess.run([sys.executable, "-c", code, "sim", str(model), "-i", str(x_path), "-o", str(y_path),
                          "--input-type", input_type], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(run.stdout.split("peak_kib")[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # dataset scale (issue 17: 10^7-10^9 events): 10-15 s in one process each
    ap.add_argument("--samples-jet", type=int, default=8_000_000)
    ap.add_argument("--samples-cnn", type=int, default=4_000_000)
    ap.add_argument("--big-gb", type=float, default=2.0, help="size of the largest (jet tagger) input file")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs of each (median)")
    args = ap.parse_args()
    rows = []
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(1, spawn) as alone, connect(workers=2) as client:
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
            one_process = (rel, input_type, default_type, tmp / "x.npy", tmp / "y1.npy", chunk)
            alone.submit(_timed_alone, *one_process).result()  # its warm-up: imports, compile_model
            np.save(tmp / "few.npy", x[:SMALL_RUN])
            ones, twos, fixed = [], [], []
            for _ in range(args.rounds):  # alternating, median of each: the ratio of one moment
                for y in ("y1.npy", "y2.npy", "few_y.npy"):  # new files (freeing the last run's took up to 0.3 s)
                    (tmp / y).unlink(missing_ok=True)
                ones.append(alone.submit(_timed_alone, *one_process).result())
                twos.append(_timed(graph, tmp / "x.npy", tmp / "y2.npy", chunk, client))
                fixed.append(_timed(graph, tmp / "few.npy", tmp / "few_y.npy", chunk, client))
            one, two = statistics.median(ones), statistics.median(twos)
            same = np.array_equal(np.load(tmp / "y1.npy"), np.load(tmp / "y2.npy"))
            rows.append((label, n, n / one, n / two, one / two, statistics.median(fixed), same))
        print(f"{'model':28} {'samples':>10} {'1 process/s':>12} {'2 workers/s':>12} {'ratio':>6} {'per run':>8}"
              "  integers")
        for label, n, r1, r2, ratio, per_run, same in rows:
            print(f"{label:28} {n:10,} {r1:12,.0f} {r2:12,.0f} {ratio:6.2f} {per_run:7.2f}s  "
                  f"{'identical' if same else 'DIFFER'}")
        print(f"per run: the cluster's time for {SMALL_RUN:,} samples, what each run costs on top of its samples "
              "(task round trips through the scheduler, on the same 2 cores)")
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
