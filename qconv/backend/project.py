"""Write the HLS project (DESIGN.md section 5) for a typed `Graph` by rendering `templates/`.

<out>/firmware/<name>.cpp, <name>.h, defines.h, parameters.h, weights/*.h, qconv/ (kernels)
<out>/tb/<name>_test.cpp      <out>/tb_data/inputs.dat, expected.dat
<out>/build_prj.tcl           <out>/Makefile          <out>/qconv_project.json
<out>/report.json, report.md  (qconv/report.py)
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__, ops
from ..design.folding import DEFAULT_UNROLL_LIMIT, Design, DesignOptions, plan
from ..design.parts import UnknownPartError, find_part
from ..ir import Graph
from ..names import printable
from ..toolchain import AP_TYPES_PLACEHOLDER, DEFAULT_CLOCK_PERIOD, DEFAULT_PART
from . import activation, conv, dense, eltwise, threshold  # noqa: F401  (register the per-op contexts)
from .architecture import IO_PARALLEL, Architecture
from .context import layer_context, var_of
from .stream import stream_context
from .resources import hls_testbench_dir, templates_dir

# NDEBUG: the Xilinx headers assert (and abort) on a rounding cast that drops more bits than the
# source has, although their result is then well defined and equals qconv.fixed.cast.
CSIM_OPT, CSIM_DEFINES = "-O1", ["-DNDEBUG"]
CXXFLAGS = " ".join(["-std=c++14", CSIM_OPT, *CSIM_DEFINES])


@dataclass(frozen=True)
class HlsOptions:
    part: str = DEFAULT_PART
    clock_period: float = DEFAULT_CLOCK_PERIOD
    unroll_limit: int = DEFAULT_UNROLL_LIMIT  # build_prj.tcl's config_array_partition -maximum_size (0: none)


def render_context(graph: Graph, hls: HlsOptions, ap_types: str, arch: Architecture = IO_PARALLEL,
                   design: Design | None = None) -> dict:
    """`design`: every layer's folding (design/folding.py plan); default everything at once (for
    io_stream: the io_stream plan without a target)."""
    if design is None and arch.name == "io_stream":
        try:
            part = find_part(hls.part)
        except UnknownPartError:  # (a part qconv has no capacities for: the project still builds)
            part = find_part(DEFAULT_PART)
        design = plan(graph, DesignOptions(part, hls.clock_period, io="io_stream"))
    if design is not None and (design.io == "io_stream") != (arch.name == "io_stream"):
        raise ValueError(f"a {design.io} design cannot be written as {arch.name}: plan it with io={arch.name!r}")
    folding = {name: {**ld.as_dict(), "adder_graph": ld.adder_graph} for name, ld in design.layers.items()} \
        if design else {}
    nodes = list(graph.topo())
    tensors = [{"name": n.name, "typedef": f"{n.name}_t", "cpp": n.out.fixed.to_cpp(), "size": n.out.size,
                "size_macro": f"N_{n.name.upper()}"} for n in nodes]
    ports = [{"var": n, "node": n, "typedef": f"{n}_t", "size_macro": f"N_{n.upper()}", "is_input": True,
              "size": graph.node(n).out.size, "onnx_name": graph.node(n).attrs.get("onnx_name", n)}
             for n in graph.inputs]
    copies = []
    for i, (out_node, out_name) in enumerate(zip(graph.outputs, graph.output_names)):
        var = f"out{i}"
        ports.append({"var": var, "node": out_node, "typedef": f"{out_node}_t", "size_macro": f"N_{out_node.upper()}",
                      "is_input": False, "onnx_name": out_name,
                      "size": graph.node(out_node).out.size})
        copies.append({"dst": var, "src": var_of(graph.node(out_node)), "size": graph.node(out_node).out.size})
    layers = [layer_context(graph, n, arch, folding.get(n.name)) for n in nodes if n.op != "Input"]
    if arch.name == "io_stream":
        stream_context(graph, ports, tensors, layers, design)
    streams = [st for t in tensors for st in t.get("streams", [])]
    return {
        "name": graph.name, "version": __version__, "tensors": tensors, "ports": ports,
        "layers": layers, "output_copies": copies, "unroll_limit": hls.unroll_limit,
        "streams": streams,
        "arch": arch, "design": design, "headers": ops.headers(n.op for n in nodes if n.op != "Input"),
        "part": hls.part, "clock_period": hls.clock_period, "ap_types": ap_types, "cxxflags": CXXFLAGS,
    }


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """The template environment; compiled templates are cached on disk between runs (compiling
    them is most of a small build's time), in ~/.cache/qconv/jinja when that is writable."""
    cache = None
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qconv" / f"jinja-{__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        cache = jinja2.FileSystemBytecodeCache(str(folder))
    except OSError:
        pass
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(templates_dir()), str(hls_testbench_dir())]),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
        bytecode_cache=cache)
    env.filters["comment"] = printable  # an ONNX name in a `//` comment: a newline in it would end the comment
    return env


def write_project(graph: Graph, out: str | Path, inputs: dict[str, np.ndarray] | None = None,
                  expected: dict[str, np.ndarray] | None = None, hls: HlsOptions = HlsOptions(),
                  ap_types: str = AP_TYPES_PLACEHOLDER, meta: dict | None = None, test_data: dict | None = None,
                  arch: Architecture = IO_PARALLEL, design: Design | None = None) -> Path:
    """Render the project into `out` for architecture `arch` and the layers' folding in `design`
    (default: everything at once, no guard). `inputs` (input node -> mantissas) and `expected`
    (output name -> mantissas) become the testbench data when given; `test_data`
    (report.test_data_section) goes into the report."""
    out = Path(out)
    fw = out / "firmware"
    for sub in (fw / "weights", fw / "qconv", out / "tb", out / "tb_data"):
        sub.mkdir(parents=True, exist_ok=True)
    ctx = render_context(graph, hls, ap_types, arch, design)
    env = _env()
    name = graph.name
    files = {
        fw / f"{name}.cpp": arch.top_template, fw / f"{name}.h": "firmware/top.h.j2",
        fw / "defines.h": "firmware/defines.h.j2", fw / "parameters.h": "firmware/parameters.h.j2",
        out / "tb" / f"{name}_test.cpp": "testbench.cpp.j2",
        out / "build_prj.tcl": "build_prj.tcl.j2", out / "Makefile": "Makefile.j2",
    }
    for path, tpl in files.items():
        path.write_text(env.get_template(tpl).render(**ctx), encoding="utf-8")
    weights_tpl = env.get_template("firmware/weights.h.j2")
    for layer in ctx["layers"]:
        if layer["arrays"]:
            (fw / "weights" / f"{layer['name']}.h").write_text(weights_tpl.render(l=layer, version=__version__),
                                                                encoding="utf-8")
    for header in (templates_dir() / "kernels").glob("*.h"):
        shutil.copy(header, fw / "qconv" / header.name)
    if inputs is not None:
        _write_rows(out / "tb_data" / "inputs.dat", [inputs[n] for n in graph.inputs])
    if expected is not None:
        _write_rows(out / "tb_data" / "expected.dat", [expected[n] for n in graph.output_names])
    info = {
        "name": name, "qconv_version": __version__,
        "inputs": [p for p in ctx["ports"] if p["is_input"]],
        "outputs": [p for p in ctx["ports"] if not p["is_input"]],
        "output_types": {p["onnx_name"]: graph.node(n).out.fixed.to_cpp()
                         for p, n in zip([p for p in ctx["ports"] if not p["is_input"]], graph.outputs)},
        "layers": [n.name for n in graph.topo() if n.op != "Input"],
        # C++ name -> the ONNX node it came from (C++ names are mangled where ONNX names are not legal)
        "origins": {n.name: n.describe() for n in graph.topo()},
        **(meta or {}),
    }
    (out / "qconv_project.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    from ..report import write_report  # report.json, report.md: per-layer types, ops, cost (qconv report)
    write_report(graph, out, (meta or {}).get("accumulator"), test_data, ctx["design"])
    return out


def _write_rows(path: Path, arrays: list[np.ndarray]) -> None:
    """One line per sample: every array's values (flattened per sample), space separated."""
    n = arrays[0].shape[0]
    flat = np.concatenate([np.asarray(a, np.int64).reshape(n, -1) for a in arrays], axis=1)
    np.savetxt(path, flat, fmt="%d", delimiter=" ")


def read_rows(path: Path) -> np.ndarray:
    rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    return np.array(rows, dtype=np.int64).reshape(len(rows), -1)


def write_rtl_project(graph: Graph, out: str | Path, inputs: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                      design: Design, meta: dict | None = None, test_data: dict | None = None,
                      stage_adders: int = 0) -> Path:
    """The Verilog backend's project (backend/rtl.py): rtl/<name>.v, rtl/tb_<name>.cpp (Verilator),
    tb_data/ as the HLS project's, qconv_project.json (with the latency) and report.json/md.
    `stage_adders` > 0: a pipeline register after every that many adder levels in Dense layers."""
    from .rtl import rtl_context
    out = Path(out)
    for sub in (out / "rtl", out / "tb_data"):
        sub.mkdir(parents=True, exist_ok=True)
    ctx = {**rtl_context(graph, design, stage_adders), "version": __version__, "stage_adders": stage_adders}
    # the report describes this design: its register stages, a sample every cycle, the flip-flops
    # written (each layer's output and delay registers, the valid bits), not the HLS estimate's
    design.latency, design.interval = ctx["latency"], 1
    for layer in ctx["layers"]:
        cost = design.layers[layer["name"]].cost
        cost.ff, cost.latency = layer["registers"], layer["stages"] + 1
    design.totals["ff"] = sum(layer["registers"] for layer in ctx["layers"]) + ctx["latency"]
    design.note = ("Verilog backend: a register stage at each layer's output" +
                   (f" and after every {stage_adders} adder levels in Dense layers" if stage_adders else "") +
                   f" (latency {ctx['latency']} cycles), a new sample every cycle; resources are the cost model's "
                   "estimate (qconv synth: Yosys' counts)")
    env = _env()
    name = graph.name
    (out / "rtl" / f"{name}.v").write_text(env.get_template("verilog/network.v.j2").render(**ctx), encoding="utf-8")
    (out / "rtl" / f"tb_{name}.cpp").write_text(env.get_template("verilog/tb_verilator.cpp.j2").render(**ctx),
                                                encoding="utf-8")
    _write_rows(out / "tb_data" / "inputs.dat", [inputs[n] for n in graph.inputs])
    _write_rows(out / "tb_data" / "expected.dat", [expected[n] for n in graph.output_names])
    info = {"name": name, "qconv_version": __version__, "backend": "verilog", "latency_cycles": ctx["latency"],
            "stage_adders": stage_adders,
            "inputs": ctx["inputs"],
            "outputs": [{k: p[k] for k in ("onnx_name", "size", "cpp")} for p in ctx["outputs"]],
            "layers": [layer["name"] for layer in ctx["layers"]], **(meta or {})}
    (out / "qconv_project.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    from ..report import write_report
    write_report(graph, out, (meta or {}).get("accumulator"), test_data, design)
    return out
