"""Conformance: run every model of a corpus against its reference outputs (`qconv conform DIR`).

For each `<model>.onnx` with a `<model>.ref.npz` beside it (keys `x`/`y`, or `x0..`/`y0..`, one
sample per row, batch 1 inside): import and simulate the reference inputs and compare with `y`.
A graph input that no quantizer covers gets `--input-type`; its reference inputs are cast to
that type and the reference is recomputed on the cast inputs with qonnx's executor (the row
says so). A model with float weights is built with `--default-type` (the row says so): its
weights and activations are then quantized, so it is compared, not expected to be exact. Optionally build the project and run the g++ C
simulation. A failure is a row (status + one-line reason), never a traceback.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import QconvError, TypeOverflowError

DEFAULT_INPUT_TYPE = "ap_fixed<8,3>"
DEFAULT_DEFAULT_TYPE = "ap_fixed<18,8,AP_RND_CONV,AP_SAT>"


@dataclass
class Row:
    model: str
    ops: str = ""
    status: str = "ok"             # ok | unsupported: ... | error: ... | no reference
    samples: int = 0
    exact: float | None = None     # fraction of output elements equal to the reference
    max_abs_err: float | None = None
    argmax: float | None = None    # fraction of samples whose argmax agrees (outputs with > 1 element)
    csim: str = "-"                # "n/n" bit-exact samples, "-" not run
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _arrays(ref, prefix: str) -> list[np.ndarray]:
    if prefix in ref:
        return [ref[prefix]]
    out, i = [], 0
    while f"{prefix}{i}" in ref:
        out.append(ref[f"{prefix}{i}"])
        i += 1
    return out


def _qonnx_reference(path: Path, xs: list[np.ndarray]) -> list[np.ndarray]:
    """qonnx's executor (cleanup_model + execute_onnx) one sample per call; inputs/outputs by position."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    import onnx
    proto = onnx.load(str(path))
    init_names = {i.name for i in proto.graph.initializer}
    for vi in list(proto.graph.input) + list(proto.graph.output):  # legacy files declare batch 789444
        dims = vi.type.tensor_type.shape.dim
        if vi.name in init_names:
            continue
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value != 1:
            dims[0].dim_value = 1
    del proto.graph.value_info[:]
    used = {i for node in proto.graph.node for i in node.input}
    keep = [vi for vi in proto.graph.input if vi.name in used or vi.name in init_names]
    del proto.graph.input[:]
    proto.graph.input.extend(keep)  # drop unused graph inputs
    declared = {o.domain for o in proto.opset_import}
    for domain in {node.domain for node in proto.graph.node} - declared - {""}:
        proto.opset_import.append(onnx.helper.make_opsetid(domain, 1))  # custom domains left undeclared
    if max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=13) < 7:
        proto = onnx.version_converter.convert_version(proto, 9)
    model = cleanup_model(ModelWrapper(proto))
    names = [i.name for i in model.graph.input]
    outs = [o.name for o in model.graph.output]
    per = [execute_onnx(model, {n: x[i].astype(np.float32) for n, x in zip(names, xs)}) for i in range(len(xs[0]))]
    return [np.stack([p[o] for p in per]) for o in outs]


def _compare(row: Row, got: list[np.ndarray], want: list[np.ndarray]) -> None:
    equal = total = 0
    err = 0.0
    agree = counted = 0
    for g, w in zip(got, want):
        g = g.reshape(len(g), -1).astype(np.float64)
        w = w.reshape(len(w), -1).astype(np.float64)
        equal += int((g == w).sum())
        total += g.size
        err = max(err, float(np.abs(g - w).max(initial=0.0)))
        if g.shape[1] > 1:
            agree += int((g.argmax(axis=1) == w.argmax(axis=1)).sum())
            counted += len(g)
    row.exact = equal / total if total else None
    row.max_abs_err = err
    row.argmax = agree / counted if counted else None


def conform_model(path: Path, root: Path, input_type: str = DEFAULT_INPUT_TYPE,
                  default_type: str = DEFAULT_DEFAULT_TYPE, csim: bool = False, csim_samples: int = 16,
                  max_samples: int = 64, work: Path | None = None) -> Row:
    from .frontend.importer import load_model
    from .pipeline import compile_model
    from .sim import quantize_inputs, run

    row = Row(str(path.relative_to(root)) if path.is_relative_to(root) else str(path))
    t0 = time.perf_counter()
    ref_path = path.with_name(path.name[:-len(".onnx")] + ".ref.npz")
    try:
        model = load_model(path)
        row.ops = ", ".join(sorted({n.op_type for n in model.graph.node}))
        if not ref_path.is_file():
            compile_model(path, input_type=input_type, default_type=default_type)  # a clear error, if any
            row.status = "no reference"
            return row
        ref = np.load(ref_path)
        xs, ys = _arrays(ref, "x"), _arrays(ref, "y")
        xs = [x[:max_samples] for x in xs]
        ys = [y[:max_samples] for y in ys]
        try:  # a quantized model needs no default type: its activations stay exact
            graph = compile_model(path, input_type=input_type)
        except QconvError as exc:  # float constants need a type, or exact types grow too wide
            if "--default-type" not in str(exc) and not isinstance(exc, TypeOverflowError):
                raise
            graph = compile_model(path, input_type=input_type, default_type=default_type)
            row.notes.append(f"float weights: built with --default-type {default_type}")
        # inputs typed by --input-type (no quantizer): their float reference inputs need a cast
        float_inputs = [n for n in graph.inputs if graph.node(n).attrs.get("typed_by_option")]
        feeds = {}
        for node, x in zip([graph.node(n) for n in graph.inputs], xs):
            x = x.reshape(len(x), *node.out.shape) if x[0].size == node.out.size else x
            feeds[node.attrs.get("onnx_name", node.name)] = x
        if float_inputs:
            cast = {}
            for node in [graph.node(n) for n in graph.inputs]:
                t = node.out.fixed
                x = feeds[node.attrs.get("onnx_name", node.name)]
                cast[node.name] = t.to_float(t.from_float(x))
            feeds = {graph.node(n).attrs.get("onnx_name", n): cast[n] for n in graph.inputs}
            ys = _qonnx_reference(path, [feeds[graph.node(n).attrs.get("onnx_name", n)].reshape(xi.shape)
                                         for n, xi in zip(graph.inputs, xs)])
            row.notes.append(f"float input cast to {input_type}; reference recomputed on the cast inputs")
        mantissas = quantize_inputs(graph, feeds)
        result = run(graph, mantissas)
        got = [result.types[name].to_float(result.outputs[name]) for name in graph.output_names]
        row.samples = len(xs[0])
        _compare(row, got, ys)
        if csim:
            row.csim = _csim(graph, mantissas, result, csim_samples, work or Path("build") / "conform" / graph.name)
    except QconvError as exc:
        msg = str(exc).splitlines()[0]
        row.status = ("unsupported: " if "not supported" in msg or "unsupported" in msg.lower() else "error: ") + msg
    except Exception as exc:  # noqa: BLE001 - a conformance run reports, it never crashes
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        row.status = f"error: {type(exc).__name__}: {str(exc)[:160]} ({Path(tb.filename).name}:{tb.lineno})"
    finally:
        row.seconds = time.perf_counter() - t0
    return row


def _csim(graph, mantissas, result, samples: int, work: Path) -> str:
    from .backend.csim import run_csim
    from .backend.project import write_project
    from .toolchain import find_ap_types

    sub = {k: v[:samples] for k, v in mantissas.items()}
    expected = {k: v[:samples] for k, v in result.outputs.items()}
    write_project(graph, work, sub, expected, ap_types=str(find_ap_types()))
    r = run_csim(work)
    return f"{r.matching}/{r.samples}"


def find_models(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.onnx") if p.is_file())


def conform(root: Path, **kw) -> list[Row]:
    return [conform_model(p, root, **kw) for p in find_models(root)]
