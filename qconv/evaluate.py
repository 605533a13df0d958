"""`qconv eval`: the fixed-point model on a whole dataset, against the labels and against the
float model run by onnxruntime on the same samples (issue 17).

One pass over the data, a chunk at a time (sim/stream.py: here or on Dask workers): each chunk's
fixed-point outputs (exact mantissas) go with the float model's outputs on that chunk and its
labels into the accumulators of sim/metrics.py, so memory stays bounded whatever the dataset.

Reported per model output: accuracy against the labels (the first output; argmax, or score >
threshold for a one-score output) and per-class ROC AUC (exact for the fixed-point scores,
within a stated bound for float32 scores: sim/metrics.py), for the fixed-point and the float
model; the agreement of their predictions and the error of the fixed-point outputs against the
float ones; and per layer, over the whole dataset, the values overflow changed and the values
declared quantizers clipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ModelError
from .ir import TYPE_SOURCES, Graph
from .sim import memory
from .pipeline import load_inputs
from .sim.datasets import ArrayReader, open_reader
from .sim.metrics import Agreement, Quality, class_labels, fixed_keys, float_keys, histogram_bytes, key_bits
from .sim.stream import simulate_chunks


class FloatModel:
    """An ONNX model run by onnxruntime (the float reference), fed the element types its inputs
    declare (float32, or double, float16, ...)."""

    def __init__(self, path: str | Path, graph: Graph):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError("the float reference needs onnxruntime: pip install 'qconv[eval]'; "
                             "or pass --no-float") from None
        self.path = Path(path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  (onnxruntime raises its own kinds for unknown ops/domains)
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{path}: onnxruntime cannot run it as the float reference ({first}); give the float "
                             "model with --float-model FILE.onnx, or --no-float") from None
        names = [graph.node(n).attrs.get("onnx_name", n) for n in graph.inputs]
        ort_in = [i.name for i in self.session.get_inputs()]
        if len(ort_in) != len(names):
            raise ModelError(f"{path}: {len(ort_in)} inputs, the model has {len(names)}")
        self.inputs = dict(zip(names, ort_in)) if set(ort_in) != set(names) else {n: n for n in names}
        ort_out = [o.name for o in self.session.get_outputs()]
        if len(ort_out) < len(graph.output_names):
            raise ModelError(f"{path}: {len(ort_out)} outputs, the model has {len(graph.output_names)}")
        self.outputs = {name: name if name in ort_out else ort_out[i] for i, name in enumerate(graph.output_names)}
        self.sizes = output_classes(graph)
        self.dtypes = {i.name: _numpy_type(i.type) for i in self.session.get_inputs()}

    def reference(self, start: int, stop: int, inputs: dict) -> dict[str, np.ndarray]:
        """The float outputs of samples start..stop of the readers `inputs`."""
        return self.run({k: r.read(start, stop) for k, r in inputs.items()}, start)

    def run(self, inputs: dict[str, np.ndarray], start: int = 0) -> dict[str, np.ndarray]:
        """The float outputs of samples (N, ...) keyed by output name. A model declaring a fixed
        batch of b (the Keras exports' 1) runs b samples at a time, the last batch filled up with
        copies of its last sample (their outputs dropped); one declaring no batch axis (a sample
        is its whole input), one sample at a time. `start`: the first sample's number, for errors."""
        declared = {i.name: i.shape for i in self.session.get_inputs()}
        x = {self.inputs[k]: _cast(self.dtypes[self.inputs[k]], v, f"{self.path}: input '{k}'", start)
             for k, v in inputs.items()}
        n = len(next(iter(x.values())))
        first = {k: declared[k][0] if len(declared[k]) == v.ndim else None for k, v in x.items()}
        step = next((b for b in first.values() if isinstance(b, int) and b > 0), n)
        no_batch = any(len(declared[k]) == v.ndim - 1 for k, v in x.items())
        names = [o.name for o in self.session.get_outputs()]
        parts = []
        for i in range(0, n, 1 if no_batch else max(step, 1)):
            feed = {k: v[i] if no_batch else _filled(v[i:i + step], step) for k, v in x.items()}
            try:
                got = self.session.run(None, feed)
            except Exception as exc:  # noqa: BLE001  (onnxruntime's own kinds: shapes, types)
                first = " ".join(str(exc).split())[:300]
                raise ModelError(f"{self.path}: onnxruntime cannot run the float reference on this data ({first})")
            parts.append([g[None] if no_batch else g[:min(step, n - i)] for g in got])
        out = {name: np.concatenate([p[names.index(ort)] for p in parts]) for name, ort in self.outputs.items()}
        for name, y in out.items():
            if y[0].size != self.sizes[name]:
                raise ModelError(f"{self.path}: output '{self.outputs[name]}' has {y[0].size} values per sample, the "
                                 f"fixed-point model's '{name}' {self.sizes[name]}: not the float version of the model")
        return out


def _cast(dtype: np.dtype, values: np.ndarray, what: str, start: int = 0) -> np.ndarray:
    """`values` as `dtype` (an input's declared element type). Data the type cannot hold (for an
    integer type: fractions or values out of range; for a float type: finite values that would
    become infinite) is an error naming the sample, never a silent truncation, wrap or inf."""
    values = np.asarray(values)
    if dtype.kind in "iub":
        lo, hi = (0, 1) if dtype.kind == "b" else (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
        if values.dtype.kind in "iub":
            bad = (values < lo) | (values > hi)  # numpy compares integers exactly
        else:  # lo and hi + 1 are powers of two (or 0, 2): exact as floats, so the test is too
            bad = ~(np.isfinite(values) & (values == np.round(values)) & (values >= lo) & (values < float(hi + 1)))
        need = f"integers {lo}..{hi}"
    else:
        with np.errstate(over="ignore"):
            cast = values.astype(dtype)
        bad = np.isfinite(values) & ~np.isfinite(cast) if values.dtype.kind == "f" else np.zeros(values.shape, bool)
        need = f"magnitudes up to {np.finfo(dtype).max:g}"
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise ModelError(f"{what}: the float model declares {dtype} but sample {start + i[0]} holds {values[i]}; "
                         f"give data it can hold ({need}) or another --float-model")
    return values.astype(dtype, copy=False)


def _numpy_type(ort_type: str) -> np.dtype:
    """onnxruntime's 'tensor(float)', 'tensor(double)', ... as a numpy type (float32 if unknown)."""
    name = ort_type.removeprefix("tensor(").removesuffix(")")
    try:
        return np.dtype(np.float32 if name == "float" else name)
    except TypeError:
        return np.dtype(np.float32)


def _filled(batch: np.ndarray, size: int) -> np.ndarray:
    """`batch` with copies of its last sample appended up to `size` samples."""
    short = size - len(batch)
    return np.concatenate([batch, np.repeat(batch[-1:], short, axis=0)]) if short > 0 else batch


def dataset_inputs(graph: Graph, specs) -> dict:
    """--data specs -> readers keyed by ONNX input name (DATA for a one-input model, or one .npz
    holding every input by name; NAME=DATA each)."""
    names = [graph.node(n).attrs.get("onnx_name", n) for n in graph.inputs]
    pairs = [spec.split("=", 1) if "=" in spec else (None, spec) for spec in specs]
    if len(names) == 1 and len(pairs) == 1 and pairs[0][0] in (None, names[0]):
        pairs = [(names[0], pairs[0][1])]
    elif len(pairs) == 1 and pairs[0][0] is None and pairs[0][1].endswith(".npz"):
        pairs = [(name, pairs[0][1]) for name in names]  # every input from the one .npz, by name
    if sorted(str(k) for k, _ in pairs) != sorted(names):
        raise ModelError(f"--data: give NAME=DATA for each model input ({', '.join(names)})")
    readers = {}
    for name, spec in pairs:
        if spec.endswith(".npz"):
            arrays = load_inputs(spec, graph)
            if name not in arrays and len(arrays) != 1:
                raise ModelError(f"{spec}: no array named '{name}' (it holds {', '.join(arrays) or 'none'}); "
                                 f"name the arrays after the model's inputs, or give one array per file")
            readers[name] = ArrayReader(arrays[name] if name in arrays else next(iter(arrays.values())), spec)
        else:
            readers[name] = open_reader(spec)
    return readers


class StoredOutputs:
    """Float reference outputs computed before (qconv sweep runs the float model once for all
    its points): readers keyed by output name, read a chunk at a time."""

    def __init__(self, path: str, readers: dict):
        self.path, self.readers = path, readers

    def reference(self, start: int, stop: int, inputs: dict) -> dict[str, np.ndarray]:
        return {name: r.read(start, stop) for name, r in self.readers.items()}


def output_classes(graph: Graph) -> dict[str, int]:
    """Values per sample of each model output (its classes, for a classifier), by output name."""
    return {name: graph.node(node).out.size for name, node in zip(graph.output_names, graph.outputs)}


def check_labels(labels, graph: Graph, samples: int, chunk: int = 1 << 16) -> None:
    """One error line unless the labels reader holds one valid label per sample for the model's
    first output: read through a chunk at a time before anything is simulated, so that a bad
    label late in the file does not end a long run."""
    if labels.samples != samples:
        raise ModelError(f"{labels.spec}: {labels.samples} labels for {samples} samples")
    classes = output_classes(graph)[graph.output_names[0]]
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        class_labels(labels.read(start, stop), classes, labels.spec, start, labels.shape)


def evaluate(graph: Graph, inputs: dict, labels=None, float_model: FloatModel | StoredOutputs | None = None,
             threshold: float = 0.5, chunk: int = 4096, budget: int = memory.DEFAULT_BUDGET,
             progress: Callable[[int], None] | None = None, client=None, profile: bool = False) -> dict:
    """Evaluate `graph` on readers (sim/datasets.py) keyed by ONNX input name, a labels reader
    (or None) and the float model (or None). Returns the report as a JSON-able dict; with
    `profile`, also every layer's observed magnitudes (profile_rows)."""
    n = next(iter(inputs.values())).samples
    if n == 0:
        raise ModelError(f"{next(iter(inputs.values())).spec}: no samples to evaluate")
    if not np.isfinite(threshold):
        raise ModelError(f"--threshold {threshold}: give a number (a one-score output predicts class 1 above it)")
    if labels is not None:
        check_labels(labels, graph, n)
    outs = {name: graph.node(node).out for name, node in zip(graph.output_names, graph.outputs)}
    classes = output_classes(graph)
    first = graph.output_names[0]
    fixed_q = float_q = None  # the ROC histograms: only with labels, in a quarter of the memory budget at most
    if labels is not None:
        models = 2 if float_model else 1
        bits = key_bits(classes[first], models, budget)
        budget = max(budget - histogram_bytes(classes[first], models, bits), budget // 2)
        fixed_q = Quality(classes[first], outs[first].fixed.width <= bits, bits, threshold)
        float_q = Quality(classes[first], False, bits, threshold) if float_model else None
    agree = {name: Agreement(classes[name], threshold) for name in outs}
    done = 0

    def sink(mantissas: dict[str, np.ndarray]) -> None:
        nonlocal done
        m = len(mantissas[first])
        ref = float_model.reference(done, done + m, inputs) if float_model else None
        y = None if labels is None else class_labels(labels.read(done, done + m), classes[first], labels.spec, done)
        for name, t in outs.items():
            fx = t.fixed
            scores = fx.to_float(mantissas[name]).reshape(m, -1)
            if name == first and y is not None:
                fixed_q.add(scores, fixed_keys(mantissas[name].reshape(m, -1), fx.width, fx.min_mantissa, fixed_q.bits),
                            y)
            if ref is not None:
                other = np.asarray(ref[name], np.float64).reshape(m, -1)  # a double model's outputs in full
                bad = ~np.isfinite(other).all(axis=1)
                if bad.any():  # the error statistics and AUC need numbers
                    raise ModelError(f"{float_model.path}: output '{name}' is NaN/Inf on {int(bad.sum())} samples "
                                     f"(first: sample {done + int(np.argmax(bad))}); "
                                     "fix the float model or pass --no-float")
                agree[name].add(scores, other)
                if name == first and y is not None:
                    float_q.add(other, float_keys(other.astype(np.float32), float_q.bits), y)
        done += m

    counts = simulate_chunks(graph, inputs, sink, raw=True, chunk=chunk, budget=budget, progress=progress,
                             client=client, profile=profile)
    report = {"samples": n, "float_model": str(float_model.path) if float_model else None, "outputs": []}
    for name, t in outs.items():
        row = {"name": name, "type": t.fixed.to_cpp(), "classes": classes[name]}
        if name == first and labels is not None:
            row["fixed"] = fixed_q.summary()
            if float_model:
                row["float"] = float_q.summary()
        if float_model:
            row["fixed_vs_float"] = agree[name].summary()
        report["outputs"].append(row)
    report["layers"] = _layer_counts(graph, counts, n)
    if profile:
        report["profile"] = profile_rows(graph, counts)
    return report


def profile_rows(graph: Graph, counts) -> list[dict]:
    """Per node, in order: its type and how many of its values over the dataset have each bit
    length of |mantissa| (sim.magnitude_histogram: bin k holds 2^(k-1-F) <= |value| < 2^(k-F),
    bin 0 the zeros), with the values overflow changed (which the type's range cut)."""
    rows = []
    for node in graph.topo():
        hist = counts.profile.get(node.name)
        if hist is None:
            continue
        t = node.out.fixed
        rows.append({"layer": node.name, "onnx": node.source[0] or node.name, "op": node.op, "type": t.to_cpp(),
                     "width": t.width, "frac": t.frac, "signed": t.signed, "histogram": [int(c) for c in hist],
                     "overflow": counts.overflows.get(node.name, 0)})
    return rows


def _layer_counts(graph: Graph, counts, samples: int) -> list[dict]:
    """Per layer over the dataset: values overflow changed (in a type qconv or an option chose),
    accumulator sums that wrapped, values a declared quantizer clipped (low/high)."""
    rows = []
    for node in graph.topo():
        name = node.name
        total = samples * node.out.size
        row = {}
        if counts.overflows.get(name):
            row["overflow"] = counts.overflows[name]
            row["type_source"] = TYPE_SOURCES.get(node.attrs.get("type_source"), "chosen by qconv")
        if counts.accumulator_overflows.get(name):
            row["accumulator_wraps"] = counts.accumulator_overflows[name]
        clip = counts.clipped.get(name)
        if clip is not None and clip.count:
            row.update(clipped_low=clip.low, clipped_high=clip.high)
        if row:
            rows.append({"layer": name, "onnx": node.source[0] or name, "op": node.op,
                         "type": node.out.fixed.to_cpp(), "values": total, **row})
    return rows
