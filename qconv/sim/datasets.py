"""Datasets read and written a chunk of samples at a time (issue 17): `.npy` files, HDF5 datasets
(`file.h5:/group/name`) and Zarr arrays (`store.zarr`, or `store.zarr:/name` inside a group).

A reader has `samples`, `shape` (the whole array's), `dtype` and `read(start, stop)` -> the
samples start..stop as a numpy array; a writer `write(rows)` appends samples in order. `.npy`
goes through plain file reads and writes (no memory map, whose touched pages would count as
resident memory); h5py and zarr read and write only the slices asked for. Memory therefore stays
bounded by a chunk whatever the dataset's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def split_spec(spec: str | Path) -> tuple[Path, str, str]:
    """`file.h5:/x` -> (file.h5, "hdf5", "/x"); `a.zarr[:/x]` -> (a.zarr, "zarr", "x" or "");
    `a.npy` -> (a.npy, "npy", "")."""
    text = str(spec)
    path, _, inner = text.partition(":") if not Path(text).exists() else (text, "", "")
    p = Path(path)
    if p.suffix in HDF5_SUFFIXES:
        if not inner:
            raise ModelError(f"{spec}: name the HDF5 dataset, e.g. {p}:/x")
        return p, "hdf5", inner
    if p.suffix == ".zarr":
        return p, "zarr", inner.strip("/")
    if p.suffix == ".npy" and not inner:
        return p, "npy", ""
    raise ModelError(f"{spec}: expected an .npy file, an HDF5 dataset (file.h5:/name) or a Zarr array "
                     f"(store.zarr or store.zarr:/name)")


def _check(spec, shape, dtype) -> None:
    if dtype.kind not in "biuf" or not shape:
        raise ModelError(f"{spec}: expected an array of numbers with samples on its first axis, "
                         f"got dtype {dtype}, shape {tuple(shape)}")


class NpyReader:
    """Samples of an .npy file (C order, numeric), read `rows` at a time without loading it."""

    def __init__(self, path: str | Path):
        self.path = self.spec = Path(path)
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
        if fortran:
            raise ModelError(f"{self.path}: a Fortran-order array; save it in C order (np.ascontiguousarray)")
        _check(self.path, self.shape, self.dtype)
        self._check_size()

    def _check_size(self) -> None:
        need = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        have = self.path.stat().st_size - self.offset
        if have < need:
            raise ModelError(f"{self.path}: its header says {self.shape} {self.dtype} ({need:,} bytes of data), the "
                             f"file holds {have:,}: truncated, or still being written")

    @property
    def samples(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        row = int(np.prod(self.shape[1:], dtype=np.int64))
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * row * self.dtype.itemsize)
            data = np.fromfile(f, self.dtype, (stop - start) * row)
        if data.size < (stop - start) * row:  # the file shrank since it was opened
            self._check_size()
        return data.reshape((stop - start, *self.shape[1:]))


class ArrayReader:
    """An in-memory array (or an h5py/zarr array: anything sliceable with shape and dtype)."""

    def __init__(self, array, spec: str = "array"):
        self.spec = spec
        self.array = array if hasattr(array, "shape") and hasattr(array, "dtype") else np.asarray(array)
        self.shape, self.dtype = tuple(self.array.shape), np.dtype(self.array.dtype)
        _check(spec, self.shape, self.dtype)
        self.samples = self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.array[start:stop])


def open_reader(spec: str | Path):
    """The reader of an .npy file, an HDF5 dataset or a Zarr array (module doc)."""
    path, kind, inner = split_spec(spec)
    if kind == "npy":
        return NpyReader(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    if kind == "hdf5":
        h5py = _need("h5py", "HDF5")
        try:
            data = h5py.File(path, "r")[inner]
        except KeyError:
            raise ModelError(f"{spec}: no dataset {inner} in {path}") from None
        except OSError:
            raise ModelError(f"{path}: not a readable HDF5 file") from None
        if not isinstance(data, h5py.Dataset):
            raise ModelError(f"{spec}: {inner} is a group, not a dataset; name a dataset in it")
        return ArrayReader(data, spec)
    zarr = _need("zarr", "Zarr")
    try:
        data = zarr.open(str(path), mode="r", path=inner or None)
    except (KeyError, FileNotFoundError, ValueError, zarr.errors.BaseZarrError):
        raise ModelError(f"{spec}: not a readable Zarr array") from None
    if not hasattr(data, "dtype"):
        raise ModelError(f"{spec}: a Zarr group; name an array in it (store.zarr:/name)")
    return ArrayReader(data, spec)


def check_outputs_apart(outputs: dict, inputs: dict) -> None:
    """One error line when writing an output dataset would destroy an input being read: the same
    .npy file, the same Zarr array or the store an output replaces whole, or (h5py cannot open a
    file being read for writing) any dataset of an input's HDF5 file. `inputs`: readers."""
    for out in outputs.values():
        opath, kind, inner = split_spec(out)
        for reader in inputs.values():
            try:
                ipath, _, iinner = split_spec(reader.spec)
            except ModelError:  # an in-memory array (from an .npz)
                continue
            if not (opath.exists() and ipath.exists() and opath.samefile(ipath)):
                continue
            if kind == "hdf5":
                raise ModelError(f"{out}: the inputs are read from {ipath}; write the outputs to another HDF5 file")
            if kind == "npy" or not inner or inner == iinner:
                raise ModelError(f"{out}: writing it would overwrite the input {reader.spec}; write to another "
                                 f"{'file' if kind == 'npy' else 'store or array'}")


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

    def sized(self) -> "NpyWriter":
        """The file at its full size (zeros), for `write_at` from any process, in any order."""
        with open(self.path, "r+b") as f:
            f.seek(0, 2)
            f.truncate(f.tell() + int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize)
        return self

    def write_at(self, start: int, rows: np.ndarray) -> None:
        """Samples start:start + len(rows) of a `sized` file (disjoint slices: safe side by side)."""
        row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        with open(self.path, "r+b") as f:
            f.seek(-(self.shape[0] - start) * row, 2)
            np.ascontiguousarray(rows, self.dtype).tofile(f)


class ArrayWriter:
    """An HDF5 dataset or Zarr array of known shape, written in order a chunk at a time."""

    def __init__(self, array, close=None):
        self.array, self.written, self._close = array, 0, close

    def write(self, rows: np.ndarray) -> None:
        self.array[self.written:self.written + len(rows)] = rows
        self.written += len(rows)

    def close(self) -> None:
        if self._close is not None:
            self._close()


def open_writer(spec: str | Path, shape: tuple[int, ...], dtype, chunk: int):
    """A writer of `shape` samples to an .npy file, an HDF5 dataset (created or replaced in the
    file, which is created if needed) or a Zarr array (the store replaced)."""
    path, kind, inner = split_spec(spec)
    if kind == "npy":
        return NpyWriter(path, shape, dtype)
    chunks = (max(1, min(chunk, shape[0])), *shape[1:])
    if kind == "hdf5":
        h5py = _need("h5py", "HDF5")
        try:
            f = h5py.File(path, "a")
        except OSError:
            raise ModelError(f"{path}: cannot open it for writing as an HDF5 file") from None
        if inner in f:
            del f[inner]
        return ArrayWriter(f.create_dataset(inner, shape=shape, dtype=dtype, chunks=chunks), f.close)
    zarr = _need("zarr", "Zarr")
    if inner:
        group = zarr.open_group(str(path), mode="a")
        return ArrayWriter(group.create_array(inner, shape=shape, dtype=dtype, chunks=chunks, overwrite=True))
    return ArrayWriter(zarr.open_array(str(path), mode="w", shape=shape, dtype=dtype, chunks=chunks))


def _need(module: str, what: str):
    try:
        return __import__(module)
    except ImportError:
        raise ModelError(f"{what} datasets need {module}: pip install 'qconv[data]'") from None
