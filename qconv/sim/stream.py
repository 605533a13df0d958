"""Simulate datasets chunk by chunk, in one process or on a Dask cluster (issue 17).

`.npy` inputs are read and the outputs written one chunk of samples at a time, with plain file
reads and writes (no memory map, whose touched pages would count as resident memory), so memory
stays bounded by a few chunks whatever the dataset's size. Each chunk is `simulate` on its
samples, and every kernel computes each sample on its own, so the integers are those of
`simulate` on the whole array, whatever the chunking; the overflow and clipping counts add up.

With a `dask.distributed` client the compiled graph is shipped to the workers once (scattered,
broadcast); the main process reads each chunk, a worker simulates it, and the main process
writes the results in order, keeping at most two chunks per worker in flight. The same function
runs on every chunk either way, so the integers are the same with or without workers.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelError
from ..ir import Graph
from . import SimResult, memory, simulate


class NpyReader:
    """Samples of an .npy file (C order, numeric), read `rows` at a time without loading it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                self.shape, fortran, self.dtype = read(f)
                self.offset = f.tell()
        except FileNotFoundError:
            raise ModelError(f"{self.path}: no such file") from None
        except (ValueError, OSError):
            raise ModelError(f"{self.path}: not a readable .npy file") from None
        if fortran or self.dtype.kind not in "biuf" or not self.shape:
            raise ModelError(f"{self.path}: expected a C-order array of numbers with samples on its first axis, "
                             f"got {'Fortran order' if fortran else f'dtype {self.dtype}, shape {self.shape}'}")

    @property
    def samples(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        row = int(np.prod(self.shape[1:], dtype=np.int64))
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * row * self.dtype.itemsize)
            data = np.fromfile(f, self.dtype, (stop - start) * row)
        return data.reshape((stop - start, *self.shape[1:]))


class ArrayReader:
    """An in-memory array with NpyReader's interface."""

    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array)
        self.samples = self.array.shape[0] if self.array.ndim else 0

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]


class NpyWriter:
    """An .npy file of known shape written in order, a chunk of samples at a time."""

    def __init__(self, path: str | Path, shape: tuple[int, ...], dtype):
        self.path, self.shape, self.dtype, self.written = Path(path), tuple(shape), np.dtype(dtype), 0
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        with open(self.path, "wb") as f:
            np.lib.format.write_array_header_2_0(f, header)

    def write(self, rows: np.ndarray) -> None:
        with open(self.path, "ab") as f:
            np.ascontiguousarray(rows, self.dtype).tofile(f)
        self.written += len(rows)


def simulate_chunk(graph: Graph, inputs: dict[str, np.ndarray], raw: bool, budget: int):
    """One chunk (on a worker, or here): its outputs (mantissas if `raw`, else float64 values)
    and its counts (a SimResult without arrays)."""
    part = simulate(graph, inputs, budget=budget)
    values = part.outputs if raw else part.as_float()
    part.outputs = {}
    return values, part


def simulate_chunks(graph: Graph, inputs: dict, sink: Callable[[dict[str, np.ndarray]], None], raw: bool = False,
                    chunk: int = 4096, budget: int = memory.DEFAULT_BUDGET,
                    progress: Callable[[int], None] | None = None, client=None) -> SimResult:
    """Simulate readers (NpyReader/ArrayReader keyed by ONNX input name) `chunk` samples at a
    time, here or on the Dask `client`'s workers; `sink` receives each chunk's outputs in
    order; `progress` the number of samples done. Returns the counts over the whole dataset."""
    sizes = {r.samples for r in inputs.values()}
    if len(sizes) != 1:
        raise ModelError("the inputs have different numbers of samples: "
                         + ", ".join(f"{k} {r.samples}" for k, r in inputs.items()))
    n = sizes.pop()
    bounds = [(start, min(n, start + chunk)) for start in range(0, n, chunk)]

    def read(start, stop):
        return {k: r.read(start, stop) for k, r in inputs.items()}
    if client is None:
        results = (simulate_chunk(graph, read(*b), raw, budget) for b in bounds)
    else:
        results = _on_cluster(client, graph, bounds, read, raw, budget)
    total = None
    for (start, stop), (values, counts) in zip(bounds, results):
        sink(values)
        total = counts if total is None else total.add_counts(counts)
        if progress is not None:
            progress(stop)
    return total


def _on_cluster(client, graph, bounds, read, raw, budget):
    """simulate_chunk of each chunk on the workers, yielded in order, two chunks per worker in flight."""
    import dask
    # once, not with every chunk; a key of its own (hash=False): a second run on the same client
    # must not share, and then lose, the first run's copy when that one is released
    shipped = client.scatter(graph, broadcast=True, hash=False)
    limit = 2 * max(1, len(client.scheduler_info()["workers"]))
    pending: deque = deque()
    # each chunk travels with its task, by design: no "Sending large graph" advice for every chunk
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4 GiB"}):
        for b in bounds:
            pending.append(client.submit(simulate_chunk, shipped, read(*b), raw, budget, pure=False))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def simulate_files(graph: Graph, inputs: dict[str, NpyReader], outputs: dict[str, Path], raw: bool = False,
                   chunk: int = 4096, budget: int = memory.DEFAULT_BUDGET,
                   progress: Callable[[int], None] | None = None, client=None) -> SimResult:
    """simulate_chunks writing each graph output to its .npy path as the chunks arrive."""
    n = next(iter(inputs.values())).samples
    writers: dict[str, NpyWriter] = {}

    def sink(values):
        for name, path in outputs.items():
            if name not in writers:
                writers[name] = NpyWriter(path, (n, *values[name].shape[1:]), values[name].dtype)
            writers[name].write(values[name])
    return simulate_chunks(graph, inputs, sink, raw, chunk, budget, progress, client)
