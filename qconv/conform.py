"""Conformance: run every model of a corpus against its reference outputs (`qconv conform DIR`).

For each `<model>.onnx` with a `<model>.ref.npz` beside it (keys `x`/`y`, or `x0..`/`y0..`, one
sample per row, fed as is): import and simulate the reference inputs and compare with `y`.
A graph input that no quantizer covers gets `--input-type`; its reference inputs are cast to
that type and the reference is recomputed on the cast inputs with qonnx's executor (the row
says so). A model with float weights is built with `--default-type` (the row says so): its
weights and activations are then quantized, so it is compared, not expected to be exact.
A model with float ops after its last activation quantizer (Softmax, float scaling, ...) is
computed in fixed point by qconv but rounded step by step in float32 by the reference, so few
final elements agree to the last bit: the row also gives the exactness at the last quantizer outputs
(`tail_tensor`, `tail_exact`), measured on the model cut there. Optionally build the project and
run the g++ C simulation. A failure is a row (status + one-line reason), never a traceback.

Known refusals are recorded as expectations (`expected_status` in conformance/expected.json:
{model path: text its status contains}); `unexpected` lists the rows that contradict them (an
unexpected failure, a recorded refusal that now works, a csim mismatch), which fail the run.
Warnings of the libraries the reference runs on (qonnx, onnx, onnxruntime) are captured, not
printed: they would flood the terminal (`captured_warnings`).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import traceback
import warnings
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
    exact: float | None = None     # fraction of output elements equal to the reference (in float32)
    max_abs_err: float | None = None
    argmax: float | None = None    # fraction of samples whose argmax agrees (outputs with > 1 element)
    tail_tensor: str | None = None  # last quantizer output(s) before a float tail (ONNX names)
    tail_exact: float | None = None  # fraction of elements exact there (float32), on the model cut there
    # accumulator values a float32 reference may round the other way (analysis/float32_error.py):
    # {"count", "total", "lower_bound"} summed over the model's requantizers, None if there are none
    ambiguous: dict | None = None
    csim: str = "-"                # "n/n" bit-exact samples, "-" not run
    notes: list[str] = field(default_factory=list)
    warnings: int = 0              # third-party Python warnings captured during the run (not printed)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def captured_warnings():
    """Yield a list that collects the Python warnings raised inside (qonnx, onnx, numpy), instead
    of printing them; onnxruntime's C++ log, which writes straight to the process's stderr (e.g.
    "Transpose optimizer failed: Unsupported ONNX opset: 1", three lines for each single-node
    model qonnx's channels-last wrapper runs), is limited to errors meanwhile."""
    try:
        import onnxruntime
    except ImportError:  # the reference needs it; its absence is reported by the row
        onnxruntime = None
    if onnxruntime is not None:
        onnxruntime.set_default_logger_severity(3)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        if onnxruntime is not None:
            onnxruntime.set_default_logger_severity(2)  # onnxruntime's default: warnings


FLOORS = {"min_exact": "exact", "min_argmax": "argmax", "min_tail_exact": "tail_exact"}


def read_spec(path: str | Path | None) -> dict:
    """The --options file (conformance/expected.json): {"options": {model: {input_type,
    default_type}}, "expected_status": {model: text}, "expected": {model: {min_exact, ...}}}."""
    if path is None:
        return {}
    try:
        spec = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise QconvError(f"{path}: not valid JSON{where}") from None
    sections = ("options", "expected_status", "expected")
    if not isinstance(spec, dict) or not all(isinstance(spec.get(k, {}), dict) for k in sections):
        raise QconvError(f"{path}: expected a JSON object with the objects {', '.join(sections)} (each keyed by "
                         "model path), as in conformance/expected.json")
    return spec


def unexpected(rows: list[Row], expected_status: dict[str, str], expected: dict | None = None) -> list[str]:
    """The rows that contradict the recorded expectations, as "model (why)": a status other than
    ok or "no reference" that does not contain the model's `expected_status` text, a model whose
    recorded refusal no longer happens (so the record stays true), a csim mismatch, or a result
    below a floor recorded in `expected` (min_exact, min_argmax, min_tail_exact)."""
    out = []
    for r in rows:
        want = expected_status.get(r.model)
        if r.status in ("ok", "no reference"):
            if want is not None:
                out.append(f"{r.model} (expected '{want}', got {r.status})")
            elif r.csim != "-" and r.csim.split("/")[0] != r.csim.split("/")[1]:
                out.append(f"{r.model} (csim bit-exact on {r.csim} samples only)")
            for key, field_name in FLOORS.items():
                floor, got = (expected or {}).get(r.model, {}).get(key), getattr(r, field_name)
                if r.status == "ok" and floor is not None and (got is None or got < floor):
                    out.append(f"{r.model} ({field_name} {got} below the recorded {floor})")
        elif want is None or want not in r.status:
            out.append(f"{r.model} ({r.status})")
    return out


def _arrays(ref, prefix: str) -> list[np.ndarray]:
    if prefix in ref:
        return [ref[prefix]]
    out, i = [], 0
    while f"{prefix}{i}" in ref:
        out.append(ref[f"{prefix}{i}"])
        i += 1
    return out


def _declare_sample_shapes(proto, inputs: dict[str, np.ndarray]) -> bool:
    """Declare each graph input with the shape of the sample fed (legacy PyTorch files declare
    batch 789444; a model without a batch axis is fed its declared shape as is), and a graph
    output whose leading dim was such a replaced leading dim with the new one. True if any
    input changed (the intermediate shapes are then stale)."""
    replaced, changed = {}, False
    for vi in proto.graph.input:
        if vi.name not in inputs:
            continue
        dims, shape = vi.type.tensor_type.shape.dim, inputs[vi.name].shape[1:]
        if [d.dim_value if d.HasField("dim_value") else None for d in dims] == list(shape):
            continue
        if len(dims) == len(shape) and dims[0].HasField("dim_value"):
            replaced[dims[0].dim_value] = shape[0]
        del dims[:]
        for d in shape:
            dims.add().dim_value = d
        changed = True
    for vi in proto.graph.output:
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value in replaced:
            dims[0].dim_value = replaced[dims[0].dim_value]
    return changed


def _qonnx_reference(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """qonnx's executor (cleanup_model + execute_onnx) one sample per call; `inputs` keyed by ONNX
    input name, one sample per row; outputs in graph order."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    import onnx
    proto = onnx.load(str(path))
    if _declare_sample_shapes(proto, inputs):
        del proto.graph.value_info[:]  # inferred again (channels-last custom ops need them when kept)
    init_names = {i.name for i in proto.graph.initializer}
    used = {i for node in proto.graph.node for i in node.input}
    keep = [vi for vi in proto.graph.input if vi.name in used or vi.name in init_names]
    del proto.graph.input[:]
    proto.graph.input.extend(keep)  # drop unused graph inputs
    xs = [inputs[vi.name] for vi in keep if vi.name not in init_names]  # cleanup renames the inputs
    declared = {o.domain for o in proto.opset_import}
    onnx_opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=13)
    for domain in {node.domain for node in proto.graph.node} - declared - {""}:
        # custom domains left undeclared; channels-last ops wrap standard ops of the model's opset
        version = onnx_opset if domain.endswith("channels_last") else 1
        proto.opset_import.append(onnx.helper.make_opsetid(domain, version))
    if onnx_opset < 7:
        proto = onnx.version_converter.convert_version(proto, 9)
    model = cleanup_model(ModelWrapper(proto))
    names = [i.name for i in model.graph.input]
    outs = [o.name for o in model.graph.output]
    per = [execute_onnx(model, {n: x[i].astype(np.float32) for n, x in zip(names, xs)}) for i in range(len(xs[0]))]
    return [np.stack([p[o] for p in per]) for o in outs]


def _compare(row: Row, got: list[np.ndarray], want: list[np.ndarray]) -> None:
    """Exactness in the reference's own format (float32, see `_exact_float32`); the error and
    the argmax on qconv's exact values."""
    err = 0.0
    agree = counted = 0
    for g, w in zip(got, want):
        g = g.reshape(len(g), -1).astype(np.float64)
        w = w.reshape(len(w), -1).astype(np.float64)
        err = max(err, float(np.abs(g - w).max(initial=0.0)))
        if g.shape[1] > 1:
            agree += int((g.argmax(axis=1) == w.argmax(axis=1)).sum())
            counted += len(g)
    row.exact = _exact_float32(got, want) if sum(w.size for w in want) else None
    row.max_abs_err = err
    row.argmax = agree / counted if counted else None


def _exact_float32(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    """Fraction of elements whose qconv value, rounded to float32, is the float32 reference value
    (the reference cannot say more: a float32 quantizer output float32(q * s) is one rounding
    of the exact q * s that qconv computes)."""
    equal = sum(int((np.float32(g).ravel() == np.asarray(w, np.float32).ravel()).sum()) for g, w in zip(got, want))
    return equal / sum(w.size for w in want)


def _compile(path: Path, input_type: str, default_type: str, notes: list[str]):
    """A quantized model needs no default type (its activations stay exact): built without one,
    and again with `default_type` when float constants need a type or exact types grow too wide."""
    from .pipeline import compile_model
    try:
        return compile_model(path, input_type=input_type)
    except QconvError as exc:
        if "--default-type" not in str(exc) and not isinstance(exc, TypeOverflowError):
            raise
    notes.append(f"float weights: built with --default-type {default_type}")
    return compile_model(path, input_type=input_type, default_type=default_type)


def _ambiguous(graph) -> dict | None:
    """The float32-ambiguous accumulator values of all requantizers, summed (None: none at all; a capped
    count of 0 is kept, it is a lower bound, not "none")."""
    counts = [n.attrs["ambiguous"] for n in graph.topo() if "ambiguous" in n.attrs]
    counts = [(count, total, capped) for count, total, capped in counts if count or capped]
    if not counts:
        return None
    return {"count": sum(c[0] for c in counts), "total": sum(c[1] for c in counts),
            "lower_bound": any(c[2] for c in counts)}


def _onnx_names(graph) -> list[str]:
    return [graph.node(n).attrs.get("onnx_name", n) for n in graph.inputs]


def _cast(graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """When an input is typed by --input-type (no quantizer), its float reference values are not
    representable: every input rounded to its type (keyed by ONNX name); None when none is."""
    if not any(graph.node(n).attrs.get("type_source") == "option" for n in graph.inputs):
        return None
    types = [graph.node(n).out.fixed for n in graph.inputs]
    return {name: t.to_float(t.from_float(inputs[name])) for name, t in zip(_onnx_names(graph), types)}


def _simulate(graph, inputs: dict[str, np.ndarray]):
    """(input mantissas, SimResult, float outputs in graph order) for inputs keyed by ONNX name."""
    from .sim import quantize_inputs, run
    mantissas = quantize_inputs(graph, inputs)
    result = run(graph, mantissas)
    return mantissas, result, [result.types[n].to_float(result.outputs[n]) for n in graph.output_names]


def _failure(exc: Exception) -> str:
    """A one-line status for an exception: "unsupported: ..." or "error: ..."."""
    if isinstance(exc, QconvError):
        msg = str(exc).splitlines()[0]
        return ("unsupported: " if "not supported" in msg or "unsupported" in msg.lower() else "error: ") + msg
    tb = traceback.extract_tb(exc.__traceback__)[-1]
    return f"error: {type(exc).__name__}: {str(exc)[:160]} ({Path(tb.filename).name}:{tb.lineno})"


def _tail(row: Row, path: Path, inputs: dict[str, np.ndarray], input_type: str, default_type: str) -> None:
    """For a model with a float tail after its last quantizer: the exactness at the quantizer
    outputs, on the model cut there (same build options, same inputs, reference recomputed on
    the cut model). Compared in float32: the reference's quantizer output is float32(q * s), one
    rounding of the exact value qconv computes, so 1.0 is expected. A failure is a note."""
    from .onnx_tools import cut_at, last_quantized
    tensors = last_quantized(path)
    if tensors is None:
        return
    row.tail_tensor = ", ".join(tensors)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cut = cut_at(path, tensors, Path(tmp) / path.name)
            graph = _compile(cut, input_type, default_type, [])
            fed = {name: inputs[name] for name in _onnx_names(graph)}
            got = _simulate(graph, _cast(graph, fed) or fed)[2]
            row.tail_exact = _exact_float32(got, _qonnx_reference(cut, fed))
    except Exception as exc:  # noqa: BLE001 - the main result stands
        row.notes.append(f"last quantizer: {_failure(exc)}")


def conform_model(path: Path, root: Path, input_type: str = DEFAULT_INPUT_TYPE,
                  default_type: str = DEFAULT_DEFAULT_TYPE, csim: bool = False, csim_samples: int = 16,
                  max_samples: int = 64, work: Path | None = None) -> Row:
    """One model against its reference (module doc); third-party warnings captured, counted in the row."""
    row = Row(str(path.relative_to(root)) if path.is_relative_to(root) else str(path))
    t0 = time.perf_counter()
    ref_path = path.with_name(path.name[:-len(".onnx")] + ".ref.npz")
    caught: list = []
    try:
        with captured_warnings() as caught:
            _check(row, path, ref_path, input_type, default_type, csim, csim_samples, max_samples, work)
    except Exception as exc:  # noqa: BLE001 - a conformance run reports, it never crashes
        row.status = _failure(exc)
    finally:
        row.seconds = time.perf_counter() - t0
        row.warnings = len(caught)
    return row


def _check(row: Row, path: Path, ref_path: Path, input_type: str, default_type: str, csim: bool,
           csim_samples: int, max_samples: int, work: Path | None) -> None:
    """conform_model's work: fills `row` (or raises)."""
    from .frontend.importer import load_model
    from .pipeline import compile_model

    load_model(path)  # a clear error for a file that is no model
    import onnx
    row.ops = ", ".join(sorted({n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}))  # as written
    if not ref_path.is_file():
        compile_model(path, input_type=input_type, default_type=default_type)  # a clear error, if any
        row.status = "no reference"
        return
    ref = np.load(ref_path)
    xs = [x[:max_samples] for x in _arrays(ref, "x")]
    ys = [y[:max_samples] for y in _arrays(ref, "y")]
    graph = _compile(path, input_type, default_type, row.notes)
    row.notes.extend(graph.notes)  # how the model was read (e.g. "no batch axis")
    row.ambiguous = _ambiguous(graph)
    inputs = dict(zip(_onnx_names(graph), xs))
    cast = _cast(graph, inputs)
    if cast is not None:
        inputs, ys = cast, _qonnx_reference(path, cast)
        row.notes.append(f"float input cast to {input_type}; reference recomputed on the cast inputs")
    mantissas, result, got = _simulate(graph, inputs)
    row.samples = len(xs[0])
    _compare(row, got, ys)
    _tail(row, path, inputs, input_type, default_type)
    if csim:
        row.csim = _csim(graph, mantissas, result, csim_samples, work or Path("build") / "conform" / graph.name)


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
