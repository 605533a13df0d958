"""`qconv sweep`: a grid of compile and design settings; each point is compiled, costed by the
design model (design/cost.py: estimates, not synthesis) and evaluated on a dataset (evaluate.py),
the points in parallel on Dask workers when given; one row per point in a CSV or JSON table.

The grid (YAML) maps setting names (GRID_KEYS) to a value or a list of values; the points are
every combination, in the order the file lists them. Each finished point is stored in the cache
folder under a hash of (qconv version, model file bytes, the point, the data files' paths, sizes
and modification times, the chunk size), so a sweep that was interrupted resumes without redoing
finished points, and a changed model or dataset is evaluated again. The float reference is run
once by onnxruntime for all points and stored in the cache too.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from . import __version__
from .errors import QconvError
from .evaluate import FloatModel, StoredOutputs, dataset_inputs, evaluate
from .pipeline import compile_model, parse_type
from .sim.datasets import open_reader, open_writer, split_spec

COMPILE_KEYS = ("input_type", "default_type", "accumulator", "fold_batchnorm")
DESIGN_KEYS = ("reuse_factor", "strategy", "target_ii", "io", "part", "clock_period")
GRID_KEYS = COMPILE_KEYS + DESIGN_KEYS
MEASURES = ("status", "io_built", "lut", "dsp", "ff", "bram18", "interval", "latency", "fits", "synthesizable", "accuracy", "auc",
            "agreement", "max_abs_error", "mean_abs_error", "overflow")
NUMBERS = ("lut", "dsp", "ff", "bram18", "accuracy", "auc", "agreement")  # the measures plotted: numbers >= 0
MODEL_COLUMN = "model"  # every row's "sha256:<hex>" of the swept model file: `report --html --sweep` checks it


def load_grid(path: str | Path) -> list[dict]:
    """The points of a grid file: every combination of its values, each checked before any runs."""
    try:
        grid = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise QconvError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise QconvError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(grid, dict) or not grid:
        raise QconvError(f"{path}: expected a mapping of settings to values, e.g. 'reuse_factor: [1, 2, 4]'")
    for key, values in grid.items():
        if key not in GRID_KEYS:
            raise QconvError(f"{path}: unknown key '{key}'; a grid sets {', '.join(GRID_KEYS)}")
        if isinstance(values, list) and not values:
            raise QconvError(f"{path}: '{key}' has no values")
    axes = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
    for key, values in axes.items():
        for v in values:
            _check_value(path, key, v)
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def _check_value(path, key: str, v) -> None:
    from .analysis.accumulators import parse_mode
    from .design.parts import find_part
    try:
        if key in ("input_type", "default_type"):
            parse_type(str(v), "--" + key.replace("_", "-"))
        elif key == "accumulator":
            parse_mode(str(v))
        elif key == "part":
            find_part(str(v))
        elif key in ("reuse_factor", "target_ii") and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise QconvError(f"{key} {v!r}: expected a whole number >= 1")
        elif key == "clock_period" and (not isinstance(v, (int, float)) or v <= 0):
            raise QconvError(f"clock_period {v!r}: expected a positive number of ns")
        elif key == "strategy" and v not in ("latency", "resource", "da"):
            raise QconvError(f"strategy {v!r}: expected latency, resource or da")
        elif key == "io" and v not in ("auto", "parallel", "stream"):
            raise QconvError(f"io {v!r}: expected auto, parallel or stream")
        elif key == "fold_batchnorm" and not isinstance(v, bool):
            raise QconvError(f"fold_batchnorm {v!r}: expected true or false")
    except QconvError as exc:
        raise QconvError(f"{path}: {key}: {str(exc).removeprefix(key + ' ')}") from None


def _design(graph, point: dict):
    """The point's design (design/folding.py), as `qconv report` plans it (never strict)."""
    from .design.folding import DesignOptions, plan, plan_auto
    from .design.parts import find_part
    from .toolchain import DEFAULT_CLOCK_PERIOD, DEFAULT_PART
    options = DesignOptions(find_part(point.get("part", DEFAULT_PART)), point.get("clock_period", DEFAULT_CLOCK_PERIOD),
                            point.get("reuse_factor"), point.get("strategy"), point.get("target_ii"))
    io = point.get("io", "auto")
    if io == "auto":
        return plan_auto(graph, options)[0]
    return plan(graph, replace(options, io="io_stream" if io == "stream" else "io_parallel"), strict=False)


def run_point(model: str, point: dict, data: list[str], labels: str | None, reference: dict | None,
              chunk: int) -> dict:
    """One row: the point's settings, its design's estimated cost and its quality on the data
    (status 'error: ...' when the point cannot be compiled or designed). Runs on a Dask worker
    or here; reads the data files itself."""
    row = dict(point)
    try:
        graph = compile_model(model, **{k: point[k] for k in COMPILE_KEYS if k in point})
        if graph.notes:
            row["notes"] = list(graph.notes)  # printed by qconv sweep; in a .json table, not in the CSV
        d = _design(graph, point)
        row.update(io_built=d.io.removeprefix("io_"), lut=d.totals["lut"], dsp=d.totals["dsp"], ff=d.totals["ff"],
                   bram18=d.totals["bram18"], interval=d.interval, latency=d.latency, fits=d.fits,
                   synthesizable=not d.violations)
        stored = (StoredOutputs(reference["model"], {k: open_reader(v) for k, v in reference["outputs"].items()})
                  if reference else None)
        report = evaluate(graph, dataset_inputs(graph, data), open_reader(labels) if labels else None, stored,
                          chunk=chunk)
    except QconvError as exc:
        return {**row, "status": f"error: {exc}"}
    out = report["outputs"][0]
    quality = out.get("fixed", {})
    row.update(status="ok", accuracy=quality.get("accuracy"),
               auc=_mean([a for a in quality.get("auc", []) if a is not None]),
               overflow=sum(r.get("overflow", 0) for r in report["layers"]))
    for k in ("agreement", "max_abs_error", "mean_abs_error"):
        row[k] = out.get("fixed_vs_float", {}).get(k)
    return row


def _mean(values: list[float]) -> float | None:
    """The mean of the per-class AUCs that are defined (None: none is)."""
    return float(np.mean(values)) if values else None


def _file_id(spec: str, dataset: bool = True) -> list:
    """What identifies a file's contents for the cache: its path, size and modification time."""
    path = split_spec(spec.split("=", 1)[-1])[0] if dataset else Path(spec)
    st = path.stat() if path.exists() else None
    return [spec, st.st_size if st else None, st.st_mtime_ns if st else None]


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


def float_reference(graph, float_model: str, data: list[str], cache: Path, chunk: int) -> dict:
    """The float model's outputs on the data, run once by onnxruntime and stored in the cache
    (.npy per output): {"model", "outputs": {name: path}}. `graph` (any point's) names the
    inputs and outputs."""
    ref = FloatModel(float_model, graph)
    key = _digest([_file_id(float_model, dataset=False), [_file_id(s) for s in data], chunk])
    folder = cache / f"float-{key}"
    outputs = {name: str(folder / f"{i}.npy") for i, name in enumerate(graph.output_names)}
    if (folder / "done").exists():
        return {"model": float_model, "outputs": outputs}
    folder.mkdir(parents=True, exist_ok=True)
    inputs = dataset_inputs(graph, data)
    n = next(iter(inputs.values())).samples
    writers = {}
    for start in range(0, n, chunk):
        got = ref.reference(start, min(n, start + chunk), inputs)
        for i, name in enumerate(graph.output_names):
            if name not in writers:
                writers[name] = open_writer(outputs[name], (n, *got[name].shape[1:]),
                                            np.result_type(got[name], np.float32), chunk)
            writers[name].write(got[name])
    (folder / "done").write_text("")
    return {"model": float_model, "outputs": outputs}


def sweep(model: str, points: list[dict], data: list[str], labels: str | None, reference: dict | None,
          cache: Path, chunk: int = 4096, client=None, done: Callable[[int, dict], None] | None = None
          ) -> tuple[list[dict], int]:
    """Every point's row, in grid order, and how many came from the cache. `done(i, row)` is
    called as each point finishes (in any order with Dask)."""
    cache.mkdir(parents=True, exist_ok=True)
    digest = model_digest(model)
    base = [__version__, digest.removeprefix("sha256:"), [_file_id(s) for s in data],
            _file_id(labels) if labels else None, reference, chunk]
    files = [cache / f"point-{_digest([base, p])}.json" for p in points]
    rows = {i: json.loads(f.read_text()) for i, f in enumerate(files) if f.exists()}
    cached = len(rows)
    todo = [i for i in range(len(points)) if i not in rows]

    def finish(i: int, row: dict) -> None:
        rows[i] = row
        tmp = files[i].with_suffix(".tmp")
        tmp.write_text(json.dumps(row))
        os.replace(tmp, files[i])  # a killed sweep leaves no half-written point
        if done:
            done(i, row)
    for i, row in rows.items() if done else ():
        done(i, row)
    if client is None:
        for i in todo:
            finish(i, run_point(model, points[i], data, labels, reference, chunk))
    else:
        from distributed import as_completed
        futures = {client.submit(run_point, model, points[i], data, labels, reference, chunk, pure=False): i
                   for i in todo}
        for future in as_completed(futures):
            finish(futures[future], future.result())
    return [{**rows[i], MODEL_COLUMN: digest} for i in range(len(points))], cached


def model_digest(model: str | Path) -> str:
    return "sha256:" + hashlib.sha256(Path(model).read_bytes()).hexdigest()


def check_model(rows: list[dict], path: str | Path, model: str | Path) -> None:
    """Refuse the rows of a table (read_table) that were not swept on this model file."""
    have, want = {r.get(MODEL_COLUMN) for r in rows}, model_digest(model)
    if have == {want}:
        return
    if have == {None}:
        raise QconvError(f"{path}: the table does not name the model it swept (an older qconv wrote it); write it "
                         "again with qconv sweep -o (the finished points come from its cache)")
    other = next(str(h) for h in have if h != want)
    raise QconvError(f"{path}: its points were swept on another model ({other[:19]}...), not {model} "
                     f"({want[:19]}...); give the table of this model's sweep")


def write_table(rows: list[dict], path: str | Path) -> None:
    """The rows as CSV (a column per grid key, then MEASURES and MODEL_COLUMN) or, for a .json
    path, JSON."""
    path = Path(path)
    if path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=1))
        return
    keys = [k for k in GRID_KEYS if any(k in r for r in rows)]
    with open(path, "w", newline="") as f:
        columns = (*keys, *MEASURES, MODEL_COLUMN)
        w = csv.DictWriter(f, ["point", *columns], extrasaction="ignore")
        w.writeheader()
        for i, r in enumerate(rows):
            w.writerow({"point": i, **{k: "" if r.get(k) is None else r[k] for k in columns}})


def read_table(path: str | Path) -> list[dict]:
    """The rows write_table wrote: numbers and booleans parsed back, empty cells None."""
    path = Path(path)
    bad = f"{path}: not a qconv sweep table"
    try:
        if path.suffix == ".json":
            rows = json.loads(path.read_text())
        else:
            with open(path, newline="") as f:
                rows = [{k: _cell(v) for k, v in r.items()} for r in csv.DictReader(f, restval="")]
    except (OSError, ValueError, TypeError, csv.Error) as exc:  # (UnicodeDecodeError is a ValueError)
        raise QconvError(f"{bad} ({exc}): write one with qconv sweep -o") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and None not in r and "status" in r
                                                         for r in rows):
        raise QconvError(f"{bad} (no rows, or rows without a 'status' column): write one with qconv sweep -o")
    for i, row in enumerate(rows):  # what the plots read: numbers, or empty
        for key in NUMBERS:
            value = row.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                raise QconvError(f"{path}: row {i}: '{key}' is {value!r}, not a number >= 0; write the table with "
                                 "qconv sweep -o")
        if row.get("fits") not in (None, True, False):
            raise QconvError(f"{path}: row {i}: 'fits' is {row['fits']!r}, not True or False")
    return rows


def _cell(text):
    if not isinstance(text, str):
        raise TypeError("a row with more cells than the header")
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
