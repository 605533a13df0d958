"""Mutation fuzzing of qconv: seed models, mutations, an isolated per-case runner and the verdicts.

    python -m tests.fuzzing --cases 2000 --seed 0 --out build/fuzz     # a campaign
    python -m tests.fuzzing --replay build/fuzz/<case>.onnx             # one saved failing case again
    python -m tests.fuzzing --replay <seed>.<mutation>.<number>         # one case, regenerated
    python -m tests.fuzzing --list                                       # seeds and mutation kinds

A case is a seed model (`SEEDS`: small models on which qconv is verified exact against the
qonnx reference, plus float models), one mutation (`MUTATIONS`: a small function
`(ModelProto, rng) -> ModelProto | None`, None when it does not apply to the model) and the seed's
fixed test inputs. Each mutation declares what qconv must do with its result (`Mutation.expect`):

- `same`: the mutation preserves the semantics (renamed tensors, inserted Identity, shuffled nodes,
  ...) of a seed qconv accepts, so qconv must accept it too (a clean error is `refused`), and the
  raw output mantissas and output types must be bit-identical to its own on the unmutated seed
  (metamorphic check).
- `reference`: a valid model with other semantics (another Quant bitwidth, Conv strides, ...),
  drawn on exact seeds only. A clean error, or outputs equal to the qonnx reference in float32.
- `error`: a malformed model (cycle, dangling input, bitwidth 1e10, NaN weights, truncated
  file, ...). A clean error, or, if qconv accepts it, the reference must accept it too and agree
  (exactly on exact seeds, within the seed's measured error on float seeds).

Every case ends in exactly one outcome. Accepted: `clean_error` (a `QconvError`; the CLI prints one
`error: ...` line and exits 2) or `checked` (the check above passed). Failures: `traceback` (any
other exception, memory exhaustion included), `refused` (a clean error on a `same` mutation), `hang`
(no answer within `TIMEOUT` seconds), `crash` (the process died), `mismatch`, `nan_accepted`
(non-finite inputs or constants accepted: the reference gives NaN), `unverified` (qconv accepted a
model the reference cannot run), `cli` (the `qconv sim` command disagrees with the in-process
verdict, or is not one clean line) and `csim` (on a sample of accepted cases, mostly of mutations
aimed at the C++ backend such as C++ keywords as tensor names: `qconv build --csim` crashes, the
generated C++ does not compile, or the g++ C simulation differs from the numpy simulator; a clean
refusal to build is accepted).

Each case runs in a forked child with an address-space limit and a SIGALRM timer (which gives a
hang's Python stack); the parent kills a child stuck in native code. The reference is qonnx's
executor (`cleanup_model` + `execute_onnx`, one sample per call); inputs that no quantizer covers
(typed by `--input-type`) are cast to that type first, as qconv reads them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import faulthandler
import functools
import json
import os
import pickle
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import qconv
from qconv.errors import QconvError
from qconv.pipeline import compile_model
from qconv.sim import simulate

from .conftest import SHARED
from .fuzz_mutations import MUTATIONS, REFERENCE, SAME, graph_inputs
from .randmodels import Builder, conv_branch, eltwise_branch, matmul_branch, pool_branch, shape_branch

ROOT = Path(__file__).resolve().parent.parent
QCONV_DIR = Path(qconv.__file__).resolve().parent

INPUT_TYPE = "ap_fixed<8,3>"
FLOAT_DEFAULT_TYPE = "ap_fixed<18,8,AP_RND_CONV,AP_SAT>"
SAMPLES = 6                 # test inputs per seed
TIMEOUT = 20.0              # seconds for qconv on one case (and again for the reference)
KILL_GRACE = 15.0           # after 2 * TIMEOUT + this, a child deaf to SIGALRM is killed
MEMORY_LIMIT = 3 << 30      # bytes of address space a case may add
CLI_EVERY = 8               # campaigns: every 8th case also runs `qconv sim` in-process,
CSIM_EVERY = {True: 4, False: 64}  # and a case numbered 0 mod this (backend mutation or not) the C simulation

CLEAN_ERROR, CHECKED = "clean_error", "checked"
TRACEBACK, REFUSED, HANG, CRASH, MISMATCH, NAN_ACCEPTED, UNVERIFIED, CLI, CSIM = (
    "traceback", "refused", "hang", "crash", "mismatch", "nan_accepted", "unverified", "cli", "csim")
OUTCOMES = (CHECKED, CLEAN_ERROR, TRACEBACK, REFUSED, HANG, CRASH, MISMATCH, NAN_ACCEPTED, UNVERIFIED, CLI, CSIM)
FAILURES = frozenset(OUTCOMES[2:])


# ------------------------------------------------------------------------------------------ seeds

@dataclasses.dataclass(frozen=True)
class Seed:
    name: str
    source: str | Callable[[], onnx.ModelProto]  # a file under ../shared/models, or a model builder
    exact: bool = True                 # qconv equals the qonnx reference (verified by `baseline`)
    default_type: str | None = None    # --default-type (float models)
    cut_at: str | None = None          # keep the model up to this tensor (drops a float tail)

    def available(self) -> bool:
        return callable(self.source) or (SHARED / "models" / self.source).is_file()

    def load(self) -> onnx.ModelProto:
        if callable(self.source):
            return self.source()
        model = onnx.load(str(SHARED / "models" / self.source))
        return _cut(model, self.cut_at) if self.cut_at else model


def _branches(branch: Callable, seed: int, **kw) -> onnx.ModelProto:
    """A randmodels model with one 1-D and one 2-D branch (two inputs, two outputs)."""
    b = Builder(seed)
    for dims in (1, 2):
        branch(b, dims=dims, **kw)
    return b.model()


def _cut(model: onnx.ModelProto, tensor: str) -> onnx.ModelProto:
    """The model with `tensor` as its only output (a float tail the float32 reference computes
    inexactly, e.g. a final Softmax, is dropped)."""
    g = model.graph
    needed, keep = {tensor}, []
    for node in reversed(g.node):
        if needed.intersection(node.output):
            keep.append(node)
            needed.update(node.input)
    del g.node[:]
    g.node.extend(reversed(keep))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
    dropped = {t.name for t in g.initializer} - needed
    for field in (g.initializer, g.input):
        kept = [t for t in field if t.name not in dropped]
        del field[:]
        field.extend(kept)
    del g.value_info[:]
    return model


_QK = "qonnx/qkeras_tests/model_test_"
_CANDIDATE_SEEDS = [
    Seed("qdense_0", _QK + "qkeras_qdense_0.onnx"),
    Seed("qdense_5", _QK + "qkeras_qdense_5.onnx"),
    Seed("qactivation_0", _QK + "qkeras_qactivation_0.onnx"),
    Seed("qactivation_9", _QK + "qkeras_qactivation_9.onnx"),
    Seed("qconv2d_0", _QK + "qkeras_qconv2d_0.onnx"),
    Seed("qconv2d_5", _QK + "qkeras_qconv2d_5.onnx"),
    Seed("brevitas_mlp", "brevitas/brevitas_mlp_16_64_32_5.onnx"),
    Seed("brevitas_truncavgpool", "brevitas/brevitas_truncavgpool_4x8x8.onnx"),
    Seed("bnn_fc", "example-models/bnn_model_fc_1layer.onnx"),
    Seed("qdense_5_qcdq", "derived_qcdq/model_test_qkeras_qdense_5_qcdq.onnx"),
    Seed("jettagging", "qonnx_model_zoo/qkeras_jettagging.onnx", cut_at="Add_3_out0"),  # no Softmax
    Seed("tfc_2w2a", "qonnx_model_zoo/TFC_2W2A.onnx", cut_at="82"),  # no final float BatchNorm
    Seed("two_layer_keras", "example-models/two_layer_keras.onnx", False, FLOAT_DEFAULT_TYPE),
    Seed("conv1d_keras", "example-models/conv1d_small_keras.onnx", False, FLOAT_DEFAULT_TYPE),
    Seed("keras_dense", _QK + "keras_dense_conversion.onnx", False, FLOAT_DEFAULT_TYPE),
    Seed("rand_conv", functools.partial(_branches, conv_branch, 101)),
    Seed("rand_maxpool", functools.partial(_branches, pool_branch, 103, only_exact_avg=True)),
    Seed("rand_avgpool", functools.partial(_branches, pool_branch, 109, only_exact_avg=True)),
    Seed("rand_eltwise", functools.partial(_branches, eltwise_branch, 103)),
    Seed("rand_shape", functools.partial(_branches, shape_branch, 104, exact_only=True)),
    Seed("rand_matmul", functools.partial(_branches, matmul_branch, 105)),
]
# the models of ../shared are used when present (tests/conftest.py: SHARED)
SEEDS: dict[str, Seed] = {s.name: s for s in _CANDIDATE_SEEDS if s.available()}


@functools.cache
def _seed_bytes(name: str) -> bytes:
    return SEEDS[name].load().SerializeToString()


def load_seed(name: str) -> onnx.ModelProto:
    """A fresh copy of the seed model (mutations edit it in place)."""
    return onnx.load_from_string(_seed_bytes(name))


# ---------------------------------------------------------------------------------------- cases

@dataclasses.dataclass
class Case:
    seed: str
    mutation: str
    number: int
    model: bytes                       # the mutated file's bytes
    inputs: dict[str, np.ndarray]      # float inputs keyed by the mutated model's input names

    @property
    def id(self) -> str:
        return f"{self.seed}.{self.mutation}.{self.number}"


def _case_rng(seed: str, mutation_name: str, number: int) -> np.random.Generator:
    return np.random.default_rng([number, zlib.crc32(seed.encode()), zlib.crc32(mutation_name.encode())])


def _input_names(data: bytes) -> list[str] | None:
    try:
        return [vi.name for vi in graph_inputs(onnx.load_from_string(data).graph)]
    except Exception:  # damaged bytes
        return None


def make_case(seed: str, mutation_name: str, number: int) -> Case | None:
    """The case (seed, mutation, number), or None when the mutation does not apply to the seed."""
    m, rng = MUTATIONS[mutation_name], _case_rng(seed, mutation_name, number)
    model = load_seed(seed)
    if m.on_inputs:
        base = baseline(seed)
        arrays = m.fn([a.copy() for a in base.inputs], rng)
        data = model.SerializeToString()
    else:
        out = m.fn(model, rng)
        if out is None:
            return None
        base = baseline(seed)
        arrays = base.inputs
        data = out if isinstance(out, bytes) else out.SerializeToString()
    if arrays is None:
        return None
    names = _input_names(data) or base.names
    names = [n if n else f"input{i}" for i, n in enumerate(names)]
    return Case(seed, mutation_name, number, data, dict(zip(names, arrays)))


def applicable_seeds(mutation_name: str, seeds=None) -> list[str]:
    """Seeds a mutation may be drawn on: `reference` mutations need an exact seed."""
    return [name for name in (seeds or SEEDS)
            if SEEDS[name].exact or MUTATIONS[mutation_name].expect != REFERENCE]


@functools.cache
def applies_somewhere(mutation_name: str, tries: int = 8) -> bool:
    """Whether the mutation applies to some available seed (mutations of Gemm or QuantizeLinear
    structure need seeds from ../shared)."""
    m = MUTATIONS[mutation_name]
    return m.on_inputs or any(m.fn(load_seed(seed), _case_rng(seed, mutation_name, n)) is not None
                              for seed in applicable_seeds(mutation_name) for n in range(tries))


def draw_case(mutation_name: str, start: int, number: int, seeds=None) -> Case | None:
    """The case of the first seed (of `seeds`, default all) to which the mutation applies, in an
    order shuffled by `start` (so each applicable seed is equally likely)."""
    seeds = applicable_seeds(mutation_name, seeds)
    for k in np.random.default_rng(start).permutation(len(seeds)):
        case = make_case(seeds[k], mutation_name, number)
        if case is not None:
            return case
    return None


# -------------------------------------------------------------------------------- running cases

@dataclasses.dataclass
class Result:
    outcome: str
    detail: str = ""     # one line
    site: str = ""       # "ExcType at qconv/file.py:line" for tracebacks and hangs
    trace: str = ""      # the full traceback (shown by --replay)

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES

    def key(self, case: Case) -> tuple[str, str]:
        """Failures with the same key are one finding: same crash site, or same mutation."""
        return (self.outcome, self.site or case.mutation)

    def report(self, case: Case, saved: Path | None = None) -> str:
        replay = f"python -m tests.fuzzing --replay {saved or case.id}"
        where = f" [{self.site}]" if self.site else ""
        return f"{case.id}: {self.outcome}: {self.detail}{where}\n  reproduce: {replay}"


@dataclasses.dataclass
class Baseline:
    names: list[str]               # the seed's input names
    inputs: list[np.ndarray]       # SAMPLES float inputs per graph input
    outputs: list[np.ndarray]      # qconv's output mantissas on the seed
    types: list[str]               # qconv's output types
    tolerance: float = 0.0         # max |qconv - reference| on the seed (float seeds)


class SeedError(Exception):
    """A seed model qconv cannot compile, or (exact seeds) is not exact on."""


class CaseTimeout(BaseException):
    """Raised by SIGALRM (a BaseException, so that `except Exception` in qconv cannot swallow it)."""


@contextlib.contextmanager
def _alarm(seconds: float):
    def expire(signum, frame):
        raise CaseTimeout(f"no answer after {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short(filename: str) -> str:
    path = Path(filename)
    for anchor in (QCONV_DIR.parent, ROOT):
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(anchor))
    return filename.split("site-packages/")[-1]


def _site(exc: BaseException) -> str:
    """The exception type and its deepest qconv frame (plus the very last frame if elsewhere)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    own = [f for f in frames if Path(f.filename).resolve().is_relative_to(QCONV_DIR)]
    where = f"{_short(own[-1].filename)}:{own[-1].lineno}" if own else None
    last = f"{_short(frames[-1].filename)}:{frames[-1].lineno}"
    if where is None:
        return f"{type(exc).__name__} at {last}"
    return f"{type(exc).__name__} at {where}" + (f" (last frame {last})" if last != where else "")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def _failure(outcome: str, exc: BaseException) -> Result:
    return Result(outcome, _one_line(exc), _site(exc),
                  "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def _limit_memory() -> None:
    with open("/proc/self/status") as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    limit = size + MEMORY_LIMIT
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


class ChildLost(Exception):
    """The forked child died without an answer, or was killed after `timeout`."""


@functools.cache
def _preload() -> None:
    """Import the reference (qonnx, onnxruntime) once, before forking, so children start warm."""
    import onnxruntime
    from qonnx.core import onnx_exec  # noqa: F401
    from qonnx.util import cleanup  # noqa: F401
    onnxruntime.set_default_logger_severity(4)  # the reference's failures are reported, not logged


def _in_child(fn: Callable, *args, timeout: float):
    """fn(*args) in a forked child with limited memory; its pickled return value."""
    _preload()
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            faulthandler.disable()  # a crash is reported as CRASH, not as pytest's stack dump
            _limit_memory()
            warnings.filterwarnings("ignore")
            payload = pickle.dumps(("ok", fn(*args)))
        except BaseException as exc:  # noqa: BLE001  (report, never return into the parent's code)
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            payload = pickle.dumps(("error", exc if isinstance(exc, SeedError) else text))
        finally:
            try:
                with os.fdopen(write_end, "wb") as f:
                    f.write(payload)
            finally:
                os._exit(0)
    os.close(write_end)
    deadline, chunks = time.monotonic() + timeout, []
    try:
        while True:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise ChildLost(f"killed after {timeout:g} s (stuck where SIGALRM cannot interrupt)")
            data = os.read(read_end, 1 << 20)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if not chunks:
        raise ChildLost(f"died: {_wait_status(status)}")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "error":
        if isinstance(value, SeedError):
            raise value
        raise RuntimeError(f"fuzz harness error in the child:\n{value}")
    return value


def _wait_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _compile(path: Path, seed: Seed):
    return compile_model(path, input_type=INPUT_TYPE, default_type=seed.default_type)


def _seed_inputs(graph, name: str) -> dict[str, np.ndarray]:
    """SAMPLES inputs per graph input: uniform over the input type's range widened by 15% on each
    side (clamping), half of the elements on the half-LSB grid (rounding ties)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    out = {}
    for n in graph.inputs:
        node = graph.node(n)
        t = node.out.fixed
        lo, hi = float(t.min_value), float(t.max_value)
        span = (hi - lo) * 0.15 + t.lsb
        x = rng.uniform(lo - span, hi + span, (SAMPLES, *node.out.shape))
        half_lsb = t.lsb / 2
        snap = rng.random(x.shape) < 0.5
        x[snap] = np.round(x[snap] / half_lsb) * half_lsb
        out[node.attrs.get("onnx_name", n)] = x
    return out


def _compute_baseline(name: str) -> Baseline:
    seed = SEEDS[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        path.write_bytes(_seed_bytes(name))
        try:
            graph = _compile(path, seed)
            inputs = _seed_inputs(graph, name)
            result = simulate(graph, inputs)
        except QconvError as exc:
            raise SeedError(f"seed {name}: qconv refuses it: {exc}") from None
        names = [vi.name for vi in graph_inputs(load_seed(name).graph)]
        inputs = [inputs[n] for n in names]
        base = Baseline(names, inputs, [result.outputs[o] for o in graph.output_names],
                        [result.types[o].to_cpp() for o in graph.output_names])
        errors = _reference_errors(path, graph, result, dict(zip(names, inputs)))
        worst = max((float(np.abs(e).max(initial=0.0)) for e in errors), default=0.0)
        if seed.exact and worst != 0.0:
            raise SeedError(f"seed {name}: qconv differs from the reference by up to {worst:g}")
        base.tolerance = 4 * worst + 1e-3 if not seed.exact else 0.0
        return base


@functools.cache
def baseline(name: str) -> Baseline:
    """The seed's inputs and qconv's outputs on them, verified against the reference (cached)."""
    return _in_child(_compute_baseline, name, timeout=4 * TIMEOUT)


def _reference(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """qonnx's executor on the file, one sample per call; outputs in graph order, stacked."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model
    model = cleanup_model(ModelWrapper(str(path)))
    feeds = []
    for vi, x in zip(graph_inputs(model.graph), inputs.values()):  # cleanup renames, keeps the order
        shape = [d.dim_value or 1 for d in vi.type.tensor_type.shape.dim]
        sample = x[0].size
        feeds.append((vi.name, x, shape if int(np.prod(shape)) == sample else [1, *x.shape[1:]]))
    runs = [execute_onnx(model, {n: x[i].reshape(s).astype(np.float32) for n, x, s in feeds})
            for i in range(len(next(iter(inputs.values()))))]
    return [np.stack([r[o.name] for r in runs]) for o in model.graph.output]


def _cast_for_reference(graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inputs no quantizer covers are read by qconv on their --input-type grid: the reference
    gets them cast to it, exactly as the conformance runner does."""
    from qconv.conform import _cast
    cast = _cast(graph, inputs) or {}
    return {name: cast.get(name, x) for name, x in inputs.items()}  # the file's input order


def _reference_errors(path: Path, graph, result, inputs) -> list[np.ndarray]:
    """qconv's float outputs (rounded to float32, the reference's format) minus the reference's."""
    want = _reference(path, _cast_for_reference(graph, inputs))
    got = result.as_float()
    errors = []
    for name, w in zip(graph.output_names, want):
        g = got[name]
        if w.size != g.size:
            raise ValueError(f"output {name!r}: qconv shape {g.shape}, reference {w.shape}")
        errors.append(np.float32(g).astype(np.float64) - w.reshape(g.shape).astype(np.float64))
    if len(want) != len(graph.output_names):
        raise ValueError(f"{len(graph.output_names)} qconv outputs, {len(want)} reference outputs")
    return errors


def _nonfinite(case: Case) -> bool:
    if any(not np.isfinite(x).all() for x in case.inputs.values()):
        return True
    try:
        g = onnx.load_from_string(case.model).graph
    except Exception:
        return False
    constants = (a.t for n in g.node if n.op_type == "Constant" for a in n.attribute if a.name == "value")
    tensors = [*g.initializer, *constants]
    for t in tensors:
        if t.data_type in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            with contextlib.suppress(Exception):
                if not np.isfinite(numpy_helper.to_array(t)).all():
                    return True
    return False


def _check(case: Case, seed: Seed, base: Baseline, path: Path, graph, result) -> Result:
    """The verdict on a model qconv accepted (see the module docstring)."""
    if _nonfinite(case):
        return Result(NAN_ACCEPTED, "non-finite inputs or constants accepted (the reference gives NaN)")
    outputs = [result.outputs[o] for o in graph.output_names]
    types = [result.types[o].to_cpp() for o in graph.output_names]
    if MUTATIONS[case.mutation].expect == SAME:
        if types != base.types:
            return Result(MISMATCH, f"metamorphic: output types {types} != seed's {base.types}")
        for k, (got, want) in enumerate(zip(outputs, base.outputs)):
            if got.shape != want.shape or not np.array_equal(got, want):
                bad = int((got != want).sum()) if got.shape == want.shape else got.size
                return Result(MISMATCH, f"metamorphic: output {k}: {bad}/{want.size} mantissas differ from "
                                        f"the seed's (shape {got.shape} vs {want.shape})")
        return Result(CHECKED, "bit-identical to the seed")
    try:
        with _alarm(TIMEOUT):
            errors = _reference_errors(path, graph, result, case.inputs)
    except CaseTimeout:
        return Result(UNVERIFIED, f"qconv accepted it; the reference did not finish in {TIMEOUT:g} s")
    except Exception as exc:  # noqa: BLE001  (the reference's own failure)
        return Result(UNVERIFIED, f"qconv accepted it; the reference fails: {_one_line(exc)}")
    if any(not np.isfinite(e).all() for e in errors):
        return Result(NAN_ACCEPTED, "the reference gives NaN/inf where qconv gives numbers")
    tolerance = base.tolerance if not seed.exact else 0.0
    for k, e in enumerate(errors):
        bad = np.abs(e) > tolerance
        if bad.any():
            i = np.unravel_index(np.argmax(bad), e.shape)
            return Result(MISMATCH, f"output {k}: {int(bad.sum())}/{e.size} elements differ from the reference "
                                    f"(max |err| {np.abs(e).max():.4g}, tolerance {tolerance:g}, first at {i})")
    return Result(CHECKED, "equal to the reference" + (f" within {tolerance:g}" if tolerance else ""))


def _type_options(seed: Seed) -> list[str]:
    return ["--input-type", INPUT_TYPE] + (["--default-type", seed.default_type] if seed.default_type else [])


def _check_cli(case: Case, seed: Seed, path: Path, verdict: Result, floats: dict | None) -> Result | None:
    """`qconv sim` in-process on the same files: a clean error is exit 2 and one `error: ` line
    (note:/warning: lines aside), an accepted model exit 0 and the same outputs. None if it agrees."""
    from click.testing import CliRunner
    from qconv.cli import main
    inputs, output = path.with_suffix(".in.npz"), path.with_suffix(".out.npz")
    r = CliRunner().invoke(main, ["sim", str(path), "-i", str(inputs), "-o", str(output), *_type_options(seed)],
                           catch_exceptions=True)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        exc = r.exception.with_traceback(r.exc_info[2])
        return Result(CLI, f"qconv sim: traceback {_one_line(exc)}", _site(exc),
                      "".join(traceback.format_exception(*r.exc_info)))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("note: ", "warning: "))]
    if verdict.outcome == CLEAN_ERROR:
        if r.exit_code != 2 or len(lines) != 1 or not lines[0].startswith("error: ") or "Traceback" in r.output:
            return Result(CLI, f"qconv sim: exit {r.exit_code}, stderr {r.stderr.strip()[:300]!r} "
                               f"(expected exit 2 and one 'error: ' line)")
        return None
    if r.exit_code != 0:
        return Result(CLI, f"qconv sim: exit {r.exit_code} ({r.stderr.strip()[:200]!r}) on a model the "
                           f"pipeline accepts")
    with np.load(output) as got:
        for name, want in floats.items():
            if name not in got or not np.array_equal(got[name], want):
                return Result(CLI, f"qconv sim: output {name!r} differs from simulate()")
    return None


# reuse factors the csim check builds with (by the case's name): the folded kernels too; the guard
# is off (--unroll-limit 0), as bit-exactness does not depend on synthesizability
REUSE = (1, 1, 2, 3, 7)


def _check_csim(case: Case, seed: Seed, path: Path) -> Result | None:
    """`qconv build --csim` on the case's inputs: the generated C++ compiles and its C simulation
    equals the numpy simulator. None if so, or if qconv refuses to build the model cleanly."""
    from click.testing import CliRunner
    from qconv.cli import main
    args = ["build", str(path), "-o", str(path.parent / "prj"), "-i", str(path.with_suffix(".in.npz")), "--csim",
            "--unroll-limit", "0", "--reuse-factor", str(REUSE[zlib.crc32(path.stem.encode()) % len(REUSE)])]
    r = CliRunner().invoke(main, [*args, *_type_options(seed)], catch_exceptions=True)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        exc = r.exception.with_traceback(r.exc_info[2])
        return Result(CSIM, f"qconv build --csim: traceback {_one_line(exc)}", _site(exc),
                      "".join(traceback.format_exception(*r.exc_info)))
    toolchain_failed = "g++ failed" in r.stderr or "C simulation" in r.stderr
    if r.exit_code == 0 or (r.exit_code == 2 and not toolchain_failed):
        return None
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    return Result(CSIM, f"qconv build --csim: exit {r.exit_code}: {' / '.join(lines[:3])[:400]}")


@functools.cache
def toolchain_available() -> bool:
    """g++ and the ap_types headers, needed by the csim check (skipped without them)."""
    from qconv.errors import ToolchainError
    from qconv.toolchain import find_ap_types, find_gxx
    try:
        return bool(find_ap_types() and find_gxx())
    except ToolchainError:
        return False


def judge(case: Case, base: Baseline, cli_check: bool = False, csim_check: bool = False) -> Result:
    """The case's outcome (run in the current process; `run_case` isolates it)."""
    seed = SEEDS[case.seed]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(case.model)
        np.savez(path.with_suffix(".in.npz"), **case.inputs)
        floats = None
        try:
            with _alarm(TIMEOUT):
                graph = _compile(path, seed)
                result = simulate(graph, case.inputs)
        except QconvError as exc:
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            same = MUTATIONS[case.mutation].expect == SAME  # the seed's own semantics, which qconv accepts
            verdict = Result(REFUSED, f"a model equivalent to its seed refused: {first}") if same else \
                Result(CLEAN_ERROR, first)
        except CaseTimeout as exc:
            verdict = _failure(HANG, exc)
        except Exception as exc:  # noqa: BLE001  (anything but a QconvError is a bug)
            verdict = _failure(TRACEBACK, exc)
        else:
            verdict = _check(case, seed, base, path, graph, result)
            floats = result.as_float()
        checks = []
        if cli_check and verdict.outcome in (CLEAN_ERROR, CHECKED):
            checks.append((CLI, lambda: _check_cli(case, seed, path, verdict, floats)))
        if csim_check and verdict.outcome == CHECKED:
            checks.append((CSIM, lambda: _check_csim(case, seed, path)))
        for outcome, check in checks:
            try:
                with _alarm(TIMEOUT):
                    failed = check()
            except CaseTimeout as exc:
                failed = Result(outcome, f"no answer after {TIMEOUT:g} s", _site(exc))
            if failed:
                return failed
    return verdict


def run_case(case: Case, cli_check: bool = False, csim_check: bool = False, fork: bool = True) -> Result:
    """The case's outcome, judged in a forked child (memory limit, hard timeout); optionally also
    through the `qconv sim` command and the C simulation."""
    base = baseline(case.seed)
    csim_check = csim_check and toolchain_available()
    if not fork:
        return judge(case, base, cli_check, csim_check)
    try:
        return _in_child(judge, case, base, cli_check, csim_check, timeout=4 * TIMEOUT + KILL_GRACE)
    except ChildLost as exc:
        outcome = HANG if "killed after" in str(exc) else CRASH
        return Result(outcome, str(exc), f"{outcome}: no Python frame")


def wants_csim(case: Case) -> bool:
    """Campaigns run the C simulation on every 4th case of a backend mutation, every 64th other."""
    return case.number % CSIM_EVERY[MUTATIONS[case.mutation].backend] == 0


# ------------------------------------------------------------------------------------ campaigns

@dataclasses.dataclass
class Summary:
    outcomes: Counter = dataclasses.field(default_factory=Counter)
    per_mutation: dict = dataclasses.field(default_factory=lambda: defaultdict(Counter))
    not_applicable: Counter = dataclasses.field(default_factory=Counter)
    findings: dict = dataclasses.field(default_factory=dict)     # key -> list of (case, result, saved path)
    seed_errors: list = dataclasses.field(default_factory=list)  # seeds dropped: not compiled, or not exact
    also: Counter = dataclasses.field(default_factory=Counter)   # cases also run through "qconv sim" / "csim"
    seconds: float = 0.0

    @property
    def failures(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k in FAILURES) + len(self.seed_errors)

    def add(self, case: Case, result: Result, saved: Path | None) -> None:
        self.outcomes[result.outcome] += 1
        self.per_mutation[case.mutation][result.outcome] += 1
        if result.failed:
            self.findings.setdefault(result.key(case), []).append((case, result, saved))

    def table(self) -> str:
        cols = [o for o in OUTCOMES if any(c[o] for c in self.per_mutation.values())]
        total = sum(self.outcomes.values())
        lines = [f"{total} cases in {self.seconds:.0f} s: " + ", ".join(f"{o} {self.outcomes[o]}" for o in cols),
                 f"{'mutation':<28} {'expect':<9} " + " ".join(f"{c:>11}" for c in cols)]
        for name in sorted(self.per_mutation):
            c = self.per_mutation[name]
            lines.append(f"{name:<28} {MUTATIONS[name].expect:<9} " + " ".join(f"{c[o] or '.':>11}" for o in cols))
        lines.append("also checked through: " + ", ".join(f"{k} {n}" for k, n in self.also.items()) +
                     " (csim: only when qconv accepted the model)")
        lines += [f"seed dropped: {e}" for e in self.seed_errors]
        if self.not_applicable:
            lines.append("not applicable to any seed: "
                         + ", ".join(f"{k} x{n}" for k, n in self.not_applicable.items()))
        return "\n".join(lines)

    def findings_markdown(self) -> str:
        """Distinct failures (same outcome and crash site, or same outcome and mutation), with one
        reproducer each."""
        rows = ["| outcome | site / mutation | cases | mutation kinds | seeds | first case: detail | reproducer |",
                "|---|---|---|---|---|---|---|"]
        for (outcome, where), items in sorted(self.findings.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
            case, result, saved = items[0]
            kinds = ", ".join(sorted({c.mutation for c, _, _ in items}))
            seeds = ", ".join(sorted({c.seed for c, _, _ in items}))
            rows.append(f"| {outcome} | `{_cell(where)}` | {len(items)} | {_cell(kinds)} | {_cell(seeds)} | "
                        f"{_cell(case.id)}: {_cell(result.detail[:240])} | "
                        f"`python -m tests.fuzzing --replay {saved or case.id}` |")
        return "\n".join(rows)


def _cell(text: str) -> str:
    """Text for a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def save_case(case: Case, result: Result, out: Path) -> Path:
    """<id>.onnx, <id>.npz (inputs) and <id>.json (what --replay needs, and the verdict)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{case.id}.onnx"
    path.write_bytes(case.model)
    np.savez(path.with_suffix(".npz"), **case.inputs)
    seed = SEEDS[case.seed]
    qconv_cmd = (f"qconv sim {path} -i {path.with_suffix('.npz')} -o /tmp/{case.id}.out.npz "
                 + " ".join(f"'{o}'" if "<" in o else o for o in _type_options(seed)))
    meta = {"seed": case.seed, "mutation": case.mutation, "number": case.number,
            "expect": MUTATIONS[case.mutation].expect, "outcome": result.outcome, "detail": result.detail, "site": result.site,
            "reproduce": f"python -m tests.fuzzing --replay {path}", "qconv": qconv_cmd}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return path


def load_case(spec: str) -> Case:
    """A saved case (<id>.onnx beside its .npz and .json) or a case id <seed>.<mutation>.<number>."""
    if spec.endswith(".onnx"):
        path = Path(spec)
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz")) as data:
            inputs = {k: data[k] for k in data.files}
        return Case(meta["seed"], meta["mutation"], meta["number"], path.read_bytes(), inputs)
    seed, mutation_name, number = spec.rsplit(".", 2)
    case = make_case(seed, mutation_name, int(number))
    if case is None:
        raise SystemExit(f"{spec}: the mutation does not apply to this seed")
    return case


def campaign(cases: int, seed: int = 0, out: Path | None = None, log: Callable[[str], None] | None = None) -> Summary:
    """`cases` cases, mutation kinds in turn, seeds and numbers drawn from `seed`; failing cases are
    saved to `out`."""
    start_time, summary = time.monotonic(), Summary()
    rng = np.random.default_rng(seed)
    names = sorted(MUTATIONS)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "cases.jsonl").unlink(missing_ok=True)
    seeds = []
    for seed_name in SEEDS:
        try:
            baseline(seed_name)
            seeds.append(seed_name)
        except SeedError as exc:
            summary.seed_errors.append(str(exc))
            if log:
                log(f"seed dropped: {exc}")
    for i in range(cases):
        name = names[i % len(names)]
        start, number = int(rng.integers(2**31)), int(rng.integers(2**31))
        case = draw_case(name, start, number, seeds)
        if case is None:
            summary.not_applicable[name] += 1
            continue
        cli_check, csim_check = i % CLI_EVERY == 0, wants_csim(case) and toolchain_available()
        result = run_case(case, cli_check, csim_check)
        summary.also.update(["qconv sim"] * cli_check + ["csim"] * csim_check)
        saved = save_case(case, result, out) if result.failed and out is not None else None
        summary.add(case, result, saved)
        if out is not None:
            with open(out / "cases.jsonl", "a") as f:  # every case's verdict, one JSON object a line
                f.write(json.dumps({"id": case.id, **dataclasses.asdict(result)}, ensure_ascii=False) + "\n")
        if log and result.failed:
            log(result.report(case, saved))
        if log and (i + 1) % 100 == 0:
            log(f"... {i + 1}/{cases} cases, {summary.failures} failures, {time.monotonic() - start_time:.0f} s")
    summary.seconds = time.monotonic() - start_time
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.txt").write_text(summary.table() + "\n")
        (out / "findings.md").write_text(summary.findings_markdown() + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzzing", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz")
    p.add_argument("--replay", metavar="CASE", help="a saved <id>.onnx or a case id <seed>.<mutation>.<number>")
    p.add_argument("--no-fork", action="store_true", help="with --replay: run in this process (for a debugger)")
    p.add_argument("--list", action="store_true", help="list the seeds and the mutation kinds")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.list:
        for s in SEEDS.values():
            print(f"seed {s.name:<24} {'exact' if s.exact else 'float (metamorphic only)'}")
        for m in MUTATIONS.values():
            print(f"{m.name:<28} {m.expect:<9} {m.doc}")
        return 0
    if args.replay:
        case = load_case(args.replay)
        result = run_case(case, cli_check=True, csim_check=True, fork=not args.no_fork)
        print(result.report(case, Path(args.replay) if args.replay.endswith(".onnx") else None))
        if result.trace:
            print(result.trace)
        return 1 if result.failed else 0
    summary = campaign(args.cases, args.seed, args.out, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(summary.table())
    if summary.findings:
        print(f"\n{len(summary.findings)} distinct failures ({summary.failures} cases), saved in {args.out}; "
              f"see {args.out / 'findings.md'}")
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
