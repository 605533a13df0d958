"""Simulate datasets that do not fit in memory (issue 17, part 1): `.npy` inputs are read and the
outputs written one chunk of samples at a time, with plain file reads and writes (no memory
map, whose touched pages would count as resident memory), so memory stays bounded by a chunk
whatever the dataset's size. Each chunk is `simulate` on its samples, and every kernel computes
each sample on its own, so the integers are those of `simulate` on the whole array, whatever the
chunking; the overflow and clipping counts add up over the chunks.
"""

from __future__ import annotations

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


def simulate_files(graph: Graph, inputs: dict[str, NpyReader], outputs: dict[str, Path], raw: bool = False,
                   chunk: int = 65536, budget: int = memory.DEFAULT_BUDGET,
                   progress: Callable[[int], None] | None = None) -> SimResult:
    """`simulate` over .npy inputs (keyed by ONNX input name), writing each graph output to its
    .npy path (mantissas if `raw`, else float64 values), `chunk` samples at a time; `progress`
    is called with the number of samples done after each chunk. Returns the counts (overflows,
    clipping) over the whole dataset, with no arrays."""
    counts = {len({r.samples for r in inputs.values()})}
    if counts != {1}:
        raise ModelError("the inputs have different numbers of samples: "
                         + ", ".join(f"{k} {r.samples}" for k, r in inputs.items()))
    n = next(iter(inputs.values())).samples
    writers: dict[str, NpyWriter] = {}
    total = None
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        part = simulate(graph, {k: r.read(start, stop) for k, r in inputs.items()}, budget=budget)
        values = part.outputs if raw else part.as_float()
        for name, path in outputs.items():
            if name not in writers:
                v = values[name]
                writers[name] = NpyWriter(path, (n, *v.shape[1:]), v.dtype)
            writers[name].write(values[name])
        part.outputs = {}
        total = part if total is None else total.add_counts(part)
        if progress is not None:
            progress(stop)
    return total
