"""The compiler driver shared by the CLI and the tests: ONNX file -> typed, validated Graph,
plus the data plumbing around it (input files, random test inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import passes
from .errors import ModelError, QconvError
from .analysis.accumulators import parse_mode
from .fixed import FixedType
from .frontend import import_onnx
from .ir import Graph
from .sim import memory
from .sim.datasets import open_reader
from .sim.memory import DEFAULT_BUDGET


def parse_type(text: str | None, option: str) -> FixedType | None:
    if text is None:
        return None
    try:
        return FixedType.parse(text)
    except QconvError as exc:
        raise QconvError(f"{option}: {exc}") from None


def compile_model(path: str | Path, input_type: str | None = None, default_type: str | None = None,
                  fold_batchnorm: bool = True, config: str | Path | dict | None = None,
                  accumulator: str = "tight", max_memory: int = DEFAULT_BUDGET) -> Graph:
    """Import, run the pass pipeline and return the typed graph. `config` is a quantization
    config (path, YAML/JSON text or dict) for float models; `accumulator` sizes Dense/Conv
    accumulators: "tight" (default), "qtools" or "fixed:ap_fixed<W,I>" (analysis/accumulators.py).
    A model whose simulation would need more than `max_memory` bytes per sample is refused
    before anything that size is allocated (sim/memory.py)."""
    quant_config = None
    if config is not None:
        from .config import load_config
        quant_config = load_config(config)
    in_type = parse_type(input_type, "--input-type") or (quant_config.input_type if quant_config else None)
    options = passes.Options(in_type, parse_type(default_type, "--default-type"), fold_batchnorm, quant_config,
                             parse_mode(accumulator))
    graph = import_onnx(path, max_memory)
    memory.check(graph, max_memory)
    return passes.run(graph, options)


COMPILE_OPTIONS = ("input_type", "default_type", "fold_batchnorm", "config", "accumulator", "max_memory")


def compile_recorded(info: dict) -> Graph:
    """The graph of a project, compiled again from what `qconv build` recorded in its
    qconv_project.json (the model path and the COMPILE_OPTIONS)."""
    return compile_model(info["model"], **{k: info[k] for k in COMPILE_OPTIONS if k in info})


def first_differing_layer(project: Path, sample: int, ap_types: str | None) -> str:
    """After a csim mismatch: re-run one sample with per-layer tracing in the simulator and in the
    C simulation, and say which layer differs first (a line for the user)."""
    from .backend.csim import project_info, trace_sample
    from .backend.project import read_rows
    from .sim import run
    info = project_info(project)
    if not Path(info.get("model", "")).is_file():
        return "(model file not found: cannot trace layers)"
    graph = compile_recorded(info)
    row = read_rows(project / "tb_data" / "inputs.dat")[sample]
    mantissas, offset = {}, 0
    for name in graph.inputs:
        node = graph.node(name)
        mantissas[name] = row[offset:offset + node.out.size].reshape((1, *node.out.shape))
        offset += node.out.size
    sim_trace = run(graph, mantissas, trace=True).trace
    csim_trace = trace_sample(project, sample, ap_types)
    for name in info["layers"]:
        want, got = sim_trace[name].reshape(-1), csim_trace.get(name)
        if got is None or got.shape != want.shape or (got != want).any():
            i = int(np.nonzero(got != want)[0][0]) if got is not None and got.shape == want.shape else 0
            return (f"first differing layer: {name} ({graph.node(name).op}), element {i}: "
                    f"sim {want[i]}, csim {None if got is None else got[i]}")
    return "all layers agree when traced (the difference is in the output ports)"


def load_inputs(path: str | Path, graph: Graph) -> dict[str, np.ndarray]:
    """Float inputs keyed by ONNX input name from an .npz (one array per input), or for a one-input
    model an .npy file, HDF5 dataset (file.h5:/x) or Zarr array (sim/datasets.py)."""
    names = [graph.node(n).attrs.get("onnx_name", n) for n in graph.inputs]
    if not str(path).endswith(".npz"):
        if len(names) != 1:
            raise ModelError(f"{path}: the model has {len(names)} inputs; give an .npz keyed by input name")
        reader = open_reader(path)
        return {names[0]: reader.read(0, reader.samples)}
    path = Path(path)
    try:
        with np.load(path) as data:
            arrays = dict(data)
    except ModelError:
        raise
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except Exception:  # noqa: BLE001  (numpy raises many kinds for damaged, empty or pickled files)
        raise ModelError(f"{path}: cannot read inputs (not a readable .npy/.npz file of numeric arrays)") from None
    if len(names) == 1 and names[0] not in arrays and len(arrays) == 1:
        arrays = {names[0]: next(iter(arrays.values()))}  # a single unnamed array
    return arrays


def random_inputs(graph: Graph, samples: int, seed: int = 0, max_memory: int = DEFAULT_BUDGET) -> dict[str, np.ndarray]:
    """Mantissas drawn uniformly over each input type's whole range (keyed by input node)."""
    need = samples * sum(graph.node(n).out.size for n in graph.inputs) * 8
    if need > max_memory:
        raise ModelError(f"{samples} random samples need {need / 2**30:.1f} GiB of inputs, more than the "
                         f"{max_memory / 2**30:g} GiB memory limit; use fewer --samples or raise --max-memory")
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        node = graph.node(name)
        t = node.out.fixed
        out[name] = rng.integers(t.min_mantissa, t.max_mantissa, size=(samples, *node.out.shape),
                                 endpoint=True, dtype=np.int64)
    return out
