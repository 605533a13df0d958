"""Simulate datasets chunk by chunk, in one process or on a Dask cluster (issue 17).

Inputs are read and the outputs written one chunk of samples at a time (sim/datasets.py: .npy,
HDF5, Zarr), so memory stays bounded by a few chunks whatever the dataset's size. Each chunk is `simulate` on its
samples, and every kernel computes each sample on its own, so the integers are those of
`simulate` on the whole array, whatever the chunking; the overflow and clipping counts add up.

With a `dask.distributed` client the compiled graph and its kernels' plans (sim.prepare) are
shipped to the workers once (scattered, broadcast); the main process reads each chunk, a worker
simulates it, and the main process writes the results in order, keeping at most two chunks per
worker in flight. On a local cluster (`--workers N`) with .npy files the workers read and write
their slices themselves, in tasks of several chunks (`task_spans`). The same function runs on
every chunk either way, so the integers are the same with or without workers.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelError
from ..ir import Graph
from . import SimResult, memory, prepare, same_samples, simulate
from .datasets import NpyReader, NpyWriter, check_outputs_apart, open_writer, split_spec


STREAM_MEMORY = 128 << 20  # bytes of working memory per chunk when streaming (qconv sim -o out.npy)


def default_chunk(graph: Graph) -> int:
    """Samples per chunk when streaming without --chunk: what fits in STREAM_MEMORY of working
    memory, at most 65536. A chunk's inputs are read whole (with its reads, 16 bytes per value
    are allowed for them: cautious since the conversion to mantissas runs per `sim.run` batch)."""
    per_sample = 16 * 8 * sum(graph.node(n).out.size for n in graph.inputs)
    return max(1, min(memory.chunk_samples(graph, 65536, STREAM_MEMORY), STREAM_MEMORY // per_sample))


def simulate_chunk(graph: Graph, inputs: dict[str, np.ndarray], raw: bool, budget: int, profile: bool = False,
                   steps: list | None = None):
    """One chunk (on a worker, or here): its outputs (mantissas if `raw`, else float64 values)
    and its counts (a SimResult without arrays; with `profile`, the magnitude histograms).
    `steps`: sim.prepare(graph), made once for the chunks of a stream (5% of a small CNN's time
    when made per chunk)."""
    part = simulate(graph, inputs, budget=budget, profile=profile, steps=steps)
    values = part.outputs if raw else part.as_float()
    part.outputs = {}
    return values, part


def simulate_slice(graph: Graph, readers: dict, start: int, stop: int, raw: bool, budget: int, profile: bool = False,
                   writers: dict | None = None, chunk: int | None = None, steps: list | None = None):
    """simulate_chunk of samples start:stop, read here, `chunk` samples at a time: on a worker of
    a local cluster, which sees the files the readers name (the main process then does not read
    and send them). With `writers` (sized NpyWriters by output name) the outputs are written here
    too (values: None; else start:stop is one chunk). `steps`: as simulate_chunk's (made here if
    not given)."""
    total = values = None
    step = chunk if writers and chunk else stop - start
    steps = prepare(graph) if steps is None else steps
    for first in range(start, stop, step):
        last = min(stop, first + step)
        values, part = simulate_chunk(graph, {k: r.read(first, last) for k, r in readers.items()}, raw, budget,
                                      profile, steps)
        if writers:
            for name, w in writers.items():
                w.write_at(first, values[name])
            values = None
        total = part if total is None else total.add_counts(part)
    return values, total


GUIDED = 2        # a local cluster's task takes 1/(GUIDED * workers) of the samples left ...
TASK_CHUNKS = 32  # ... at least one chunk and at most this many (progress on long runs)


def task_spans(n: int, chunk: int, workers: int) -> list[tuple[int, int]]:
    """The sample ranges of a local cluster's tasks when its workers read and write the files
    themselves (`simulate_slice` streams each in chunks), largest first: each takes 1/(GUIDED *
    workers) of the samples left, from one to TASK_CHUNKS chunks (OpenMP's guided schedule). Dask's
    cost per task (a few ms in the scheduler, the client and the worker, on the same cores) is
    then paid a few times per worker, not once per chunk, and the last tasks are small, so the
    workers finish together."""
    spans, start = [], 0
    while start < n:
        size = max(chunk, min(-(-(n - start) // (GUIDED * max(1, workers))), TASK_CHUNKS * chunk))
        spans.append((start, min(n, start + size)))
        start += size
    return spans


def check_inputs(graph: Graph, inputs: dict) -> int:
    """The number of samples of readers keyed by ONNX input name, after checking that they agree
    and that each sample fits its model input."""
    n = same_samples({k: r.samples for k, r in inputs.items()})
    for name in graph.inputs:
        node, key = graph.node(name), graph.node(name).attrs.get("onnx_name", name)
        if key in inputs and int(np.prod(inputs[key].shape[1:], dtype=np.int64)) != node.out.size:
            raise ModelError(f"{inputs[key].spec}: samples of shape {tuple(inputs[key].shape[1:])} do not fit input "
                             f"'{key}' of shape ({', '.join(map(str, node.out.shape))})")
    return n


def simulate_chunks(graph: Graph, inputs: dict, sink: Callable[[dict[str, np.ndarray]], None], raw: bool = False,
                    chunk: int = 4096, budget: int = memory.DEFAULT_BUDGET,
                    progress: Callable[[int], None] | None = None, client=None, profile: bool = False,
                    writers: dict | None = None) -> SimResult:
    """Simulate readers (sim/datasets.py, keyed by ONNX input name) `chunk` samples at a
    time, here or on the Dask `client`'s workers; `sink` receives each chunk's outputs in
    order; `progress` the number of samples done. Returns the counts over the whole dataset
    (and with `profile` every node's magnitude histogram). `writers`: sized NpyWriters by output
    name that the workers of a local cluster write themselves (`sink` then gets None)."""
    n = check_inputs(graph, inputs)
    bounds = [(start, min(n, start + chunk)) for start in range(0, n, chunk)]

    def read(start, stop):
        return {k: r.read(start, stop) for k, r in inputs.items()}
    if client is None:
        steps = prepare(graph)
        results = ((stop - start, simulate_chunk(graph, read(start, stop), raw, budget, profile, steps))
                   for start, stop in bounds)
    else:
        local = shares_files(client, inputs)
        if local and writers:
            bounds = task_spans(n, chunk, len(client.scheduler_info()["workers"]))
        results = _on_cluster(client, graph, bounds, read, raw, budget, profile, inputs, writers, local, chunk)
    total, done = None, 0
    with contextlib.closing(results):  # a sink or progress that raises cancels the cluster's tasks now
        for samples, part in results:
            if part is not None:
                values, counts = part
                sink(values)
                total = counts if total is None else total.add_counts(counts)
            done += samples
            if progress is not None and samples:
                progress(done)
    return total


def shares_files(client, readers: dict) -> bool:
    """True when the client's workers run on this machine (a LocalCluster, `--workers N`) and
    every input is an .npy file: they read their slices themselves (and may write .npy outputs)."""
    from distributed import LocalCluster
    return isinstance(getattr(client, "cluster", None), LocalCluster) and all(isinstance(r, NpyReader)
                                                                             for r in readers.values())


@contextlib.contextmanager
def _cancelled_on_error(futures: Callable[[], list]):
    """The `futures()` cancelled when the run stops early (a chunk the model refuses, Ctrl-C): no
    task goes on writing into part files already removed (a finished one ignores it)."""
    try:
        yield
    except BaseException:
        for future in futures():
            future.cancel()
        raise


def _on_cluster(client, graph, bounds, read, raw, budget, profile, readers, writers, local: bool, chunk: int):
    """simulate_chunk of each range of `bounds` on the workers, as (samples done, result or None)
    pairs (`simulate_chunks`). The workers of a local cluster read their .npy slices themselves
    (`shares_files`) and, given `writers`, write the outputs, `chunk` samples at a time: then the
    ranges are `task_spans`, all submitted at once, and the scheduler hands each to the next
    worker free; their results are counts only, fetched together at the end (each fetch is a
    round trip through the scheduler, ~2 ms of this process's CPU, which the workers share the
    cores with). Otherwise each result holds a chunk's outputs, yielded in order, with two
    chunks per worker in flight."""
    import dask
    from distributed import as_completed
    if not bounds:
        return  # no samples: nothing to ship
    # once, not with every chunk; a key of its own (hash=False): a second run on the same client
    # must not share, and then lose, the first run's copy when that one is released
    shipped = client.scatter(graph, broadcast=True, hash=False)
    (plans,) = client.scatter([prepare(graph)], broadcast=True, hash=False)  # the kernels' plans, made here once
    if local and writers:
        starts, stops = zip(*bounds)
        futures = client.map(simulate_slice, [shipped] * len(bounds), [readers] * len(bounds), starts, stops, raw=raw,
                             budget=budget, profile=profile, writers=writers, chunk=chunk, steps=plans, pure=False)
        size = {f.key: stop - start for f, (start, stop) in zip(futures, bounds)}
        with _cancelled_on_error(lambda: futures):
            for future in as_completed(futures, loop=client.loop):  # this client's, not the default one
                if future.status != "finished":
                    future.result()  # raises the task's error now, not after the other tasks
                yield size[future.key], None
            yield from ((0, part) for part in client.gather(futures))
        return
    limit = 2 * max(1, len(client.scheduler_info()["workers"]))
    pending: deque = deque()
    # each chunk travels with its task, by design: no "Sending large graph" advice for every chunk
    quiet = dask.config.set({"distributed.admin.large-graph-warning-threshold": "4 GiB"})
    with quiet, _cancelled_on_error(lambda: [f for _, f in pending]):
        for start, stop in bounds:
            task = (simulate_slice, shipped, readers, start, stop, raw, budget, profile) if local else \
                   (simulate_chunk, shipped, read(start, stop), raw, budget, profile)
            pending.append((stop - start, client.submit(*task, steps=plans, pure=False)))
            if len(pending) >= limit:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def simulate_files(graph: Graph, inputs: dict, outputs: dict[str, str | Path], raw: bool = False,
                   chunk: int = 4096, budget: int = memory.DEFAULT_BUDGET,
                   progress: Callable[[int], None] | None = None, client=None) -> SimResult:
    """simulate_chunks writing each graph output (by ONNX name) to its dataset (an .npy path, an
    HDF5 `file.h5:/name` or a Zarr store: datasets.open_writer) as the chunks arrive."""
    n = next(iter(inputs.values())).samples
    check_outputs_apart(outputs, inputs)
    writers: dict = {}
    if client is not None and shares_files(client, inputs) and all(split_spec(s)[1] == "npy" for s in outputs.values()):
        return _workers_write(graph, inputs, outputs, raw, chunk, budget, progress, client)

    def sink(values):
        for name, spec in outputs.items():
            if name not in writers:
                writers[name] = open_writer(spec, (n, *values[name].shape[1:]), values[name].dtype, chunk)
            writers[name].write(values[name])
    try:
        return simulate_chunks(graph, inputs, sink, raw, chunk, budget, progress, client)
    finally:
        for w in writers.values():
            if hasattr(w, "close"):
                w.close()


def _workers_write(graph, inputs, outputs, raw, chunk, budget, progress, client) -> SimResult:
    """simulate_files on a local cluster whose workers write the .npy outputs themselves: into
    full-size files beside the outputs, renamed to them only once every chunk is written (a run
    that fails, or data the model refuses, leaves the outputs as they were)."""
    n = check_inputs(graph, inputs)
    shapes = {graph.output_names[i]: graph.node(o).out.shape for i, o in enumerate(graph.outputs)}
    dtype = np.int64 if raw else np.float64  # SimResult.outputs / as_float
    run = uuid.uuid4().hex[:8]  # a run of its own: tasks of a failed run that still write never reach it
    parts = {name: Path(f"{spec}.part{os.getpid()}-{run}") for name, spec in outputs.items()}
    try:
        remote = {name: NpyWriter(parts[name], (n, *shapes[name]), dtype).sized() for name in outputs}
        counts = simulate_chunks(graph, inputs, lambda values: None, raw, chunk, budget, progress, client,
                                 writers=remote)
        for name, spec in outputs.items():
            os.replace(parts[name], spec)
        return counts
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
