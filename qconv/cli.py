"""The `qconv` command line: glue between the pipeline, simulator, backend and csim."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import re
import sys
import time
from pathlib import Path

import click
import numpy as np

from . import __version__
from .conform import DEFAULT_DEFAULT_TYPE, DEFAULT_INPUT_TYPE
from .errors import MismatchError, ModelError, QconvError
from .names import printable
from .toolchain import AP_TYPES_PLACEHOLDER, DEFAULT_CLOCK_PERIOD, DEFAULT_PART

TYPE_HELP = "a C++ type, e.g. 'ap_fixed<8,3>' or 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>'"


def _echo(line: str, err: bool = False) -> None:
    """Print one line of output: the ONNX names and paths it quotes may hold newlines or other
    control characters, shown escaped (names.printable) so that it stays one line."""
    click.echo(printable(line), err=err)


def _user_errors(fn):
    """Print QconvErrors (and file-system errors on the paths the user gave) as one line on
    stderr and exit with their code; never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except QconvError as exc:
            _echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _echo(f"error: {where}{exc.strerror or exc} (check the path and its permissions)", err=True)
            sys.exit(2)
    return wrapper


def _positive_finite(ctx, param, value):
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a positive number, got {value}")
    return value


class _Group(click.Group):
    """Click's usage errors (a bad option value, a missing argument) as one `error:` line and exit
    code 2, like every other user mistake."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `qconv` alone: the help, as usual
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code if isinstance(exc, click.UsageError) else 1)
        except click.exceptions.Abort:
            _echo("error: aborted", err=True)
            sys.exit(1)


def _part_number(ctx, param, value):
    """A part number goes into build_prj.tcl as a quoted string: letters, digits, '-', '_', '.' only."""
    if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise click.BadParameter(f"{value!r} is not a part number (letters, digits, '-', '_' and '.')")
    return value


def _type_options(command):
    """The options that decide how a model compiles, handed to the command as one dict `types`
    (the keyword arguments of pipeline.compile_model)."""
    @functools.wraps(command)
    def fn(*args, input_type, default_type, no_fold_bn, config, accumulator, max_memory, **kwargs):
        types = {"input_type": input_type, "default_type": default_type, "fold_batchnorm": not no_fold_bn,
                 "config": config, "accumulator": accumulator, "max_memory": int(max_memory * 2**30)}
        return command(*args, types=types, **kwargs)
    fn = click.option("--max-memory", default=4.0, show_default=True, callback=_positive_finite,
                      help="GiB the simulator may use; a model needing more per sample is refused")(fn)
    fn = click.option("--config", "config", type=click.Path(dir_okay=False),
                      help="quantization config (YAML/JSON) for a float model: QKeras quantizers per layer")(fn)
    fn = click.option("--no-fold-bn", "no_fold_bn", is_flag=True,
                      help="keep BatchNorm layers instead of folding them into float weights")(fn)
    fn = click.option("--default-type", help=f"type of every tensor no quantizer covers: {TYPE_HELP}")(fn)
    fn = click.option("--input-type", help=f"type of graph inputs no quantizer covers: {TYPE_HELP}")(fn)
    fn = click.option("--accumulator", default="tight", show_default=True,
                      help="Dense/Conv accumulators: tight (from the actual weights, lossless), qtools (QKeras "
                           "qtools' rule) or fixed:<type> (a cap, e.g. 'fixed:ap_fixed<24,12>'; wraps are "
                           "reported)")(fn)
    return fn


def _design_options(command):
    """The options that decide how a model is built in hardware (design/folding.py), handed to the
    command as one dict `design` (DesignOptions fields, the part still as text)."""
    @functools.wraps(command)
    def fn(*args, reuse_factor, strategy, target_ii, fps, part, part_resources, clock_period, unroll_limit, io,
           **kwargs):
        design = {"reuse_factor": reuse_factor, "strategy": strategy, "target_ii": target_ii, "fps": fps,
                  "part": part, "part_resources": part_resources, "clock_period": clock_period,
                  "unroll_limit": unroll_limit, "io": io}
        return command(*args, design=design, **kwargs)
    fn = click.option("--io", type=click.Choice(["auto", "parallel", "stream"]), default=None,
                      help="parallel: every array in registers, one pipelined function; stream: layers as "
                           "DATAFLOW processes joined by hls::stream FIFOs (line buffers, computed depths); auto "
                           "(the default, or the config's io): parallel when it is synthesizable, fits the part and "
                           "meets the target, else stream")(fn)
    fn = click.option("--unroll-limit", default=4096, show_default=True, type=int,
                      help="largest loop unrolled or array partitioned into registers (elements) that a design may "
                           "have, as Vivado HLS' config_array_partition -maximum_size; a layer over it is refused "
                           "(0: no limit, for a C simulation only)")(fn)
    fn = click.option("--clock-period", default=DEFAULT_CLOCK_PERIOD, show_default=True, callback=_positive_finite,
                      help="clock period in ns")(fn)
    fn = click.option("--part-resources", help="the part's capacities by hand, e.g. "
                      "'lut=200000,ff=400000,dsp=900,bram18=600,uram=0' (instead of --part's table)")(fn)
    fn = click.option("--part", default=DEFAULT_PART, show_default=True, callback=_part_number,
                      help="FPGA part (a full Xilinx part number): build_prj.tcl and the resource check")(fn)
    fn = click.option("--fps", type=float, callback=_positive_finite,
                      help="samples per second to sustain at --clock-period (sets --target-ii)")(fn)
    fn = click.option("--target-ii", type=int, help="cycles between samples the design must sustain: qconv picks "
                      "every layer's reuse factor and parallelization for the least resources")(fn)
    fn = click.option("--strategy",
                      help="latency (weights in registers), resource (weights in BRAM) or da (Dense layers as adder "
                           "graphs, no multiplier; da4ml), every layer")(fn)
    fn = click.option("--reuse-factor", type=int, help="each multiplier used N times per sample (every Dense/Conv/"
                      "MatMul layer; the config's reuse_factor sets single layers)")(fn)
    return fn


def _plan(graph, design: dict, config_path, strict: bool = True):
    """The design (design/folding.py) of a compiled graph for the `design` options; prints the
    values --target-ii chose and a line if the design does not fit the part. `strict` (build):
    a design that would not synthesize is an error; else (report, inspect) a warning."""
    from dataclasses import replace

    from .config import load_config
    from .design.folding import DesignOptions, plan
    from .design.parts import find_part, parse_capacities
    part = (parse_capacities(design["part_resources"]) if design["part_resources"] is not None
            else find_part(design["part"]))
    config = load_config(config_path) if config_path else None
    options = DesignOptions(part, design["clock_period"], design["reuse_factor"], design["strategy"],
                            design["target_ii"], design["fps"], design["unroll_limit"], config)
    io = design["io"] or (config.io if config else None) or "auto"
    if io == "auto":  # io_parallel when it is synthesizable, fits and meets the target
        from .design.folding import plan_auto
        d, why = plan_auto(graph, options)
        if why:  # (io_parallel, the design that was always built, goes without saying)
            _echo(f"note: --io auto chose io_stream: {why}", err=True)
    elif io == "stream":  # (plan: a stream's feature maps are memories, no register guard)
        d = plan(graph, replace(options, io="io_stream"), strict=False)
    else:
        d = plan(graph, options, strict)
    stream = d.io == "io_stream"
    for line in d.violations:
        _echo(f"warning: not synthesizable as io_parallel: {line}", err=True)
    if d.note:
        _echo(f"note: {d.note}", err=True)
    if d.target_ii is not None:
        from .design.cost import fold_shape
        chosen = ", ".join(n + (f" R={d.layers[n].reuse_factor}" if fold_shape(graph.node(n))[1] else "")
                           + (f" P={d.layers[n].parallelization}" if d.layers[n].op != "Dense" else "")
                           + (" resource" if d.layers[n].strategy == "resource" else "") for n in d.chosen)
        _echo(f"target II {d.target_ii}: {chosen or 'no layer to fold'} (interval {d.interval:,} cycles, "
              f"latency {d.latency:,})", err=True)
    if not d.fits:
        _echo(f"warning: the design does not fit {part.name} by qconv's estimate ({d.limiting_resource}: "
              f"{d.totals[d.limiting_resource]:,} of {getattr(part, d.limiting_resource):,}); raise the reuse "
              "factor or --target-ii", err=True)
    if not design["unroll_limit"] and not stream and design.get("backend") != "verilog":
        _echo("warning: --unroll-limit 0: no synthesizability check; the project is for C simulation", err=True)
    return d


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="qconv")
def main():
    """Compile quantized ONNX/QONNX networks to bit-exact ap_fixed HLS C++."""
    from .sim.memory import keep_heap
    keep_heap()  # this process's malloc keeps the simulator's chunks' pages (sim/memory.py)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_type_options
@_design_options
@_user_errors
def inspect(model, types, design):
    """Print the compiled graph: ops, shapes, types, constants, and each layer's folding."""
    from .pipeline import compile_model
    graph = compile_model(model, **types)
    click.echo(graph.dump())
    d = _plan(graph, design, types["config"], strict=False)
    for name, ld in d.layers.items():
        if ld.folded or ld.reuse_factor > 1:
            _echo(f"  {name}: reuse {ld.reuse_factor}, parallelization {ld.parallelization}, {ld.strategy}, "
                  f"interval {ld.cost.interval:,}, latency {ld.cost.latency:,}")
    _echo(f"design: interval {d.interval:,} cycles, latency {d.latency:,} cycles, DSP {d.totals['dsp']:,}, "
          f"LUT {d.totals['lut']:,}, FF {d.totals['ff']:,}, BRAM18 {d.totals['bram18']:,} on {d.part.name}: "
          f"fits {'yes' if d.fits else 'no'} "
          "(an estimate of qconv's cost model, not synthesis: README 'Cost model')")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-i", "--inputs", "inputs_path", required=True, metavar="DATA",
              help=".npz with one array per graph input (batch first), or for one input .npy, an HDF5 dataset "
                   "(file.h5:/x) or a Zarr array (x.zarr)")
@click.option("-o", "--output", "output_path", required=True, metavar="OUT",
              help="output .npz (in memory); or, for a one-input one-output model, .npy, file.h5:/y or y.zarr: "
                   "streamed a chunk at a time, in bounded memory")
@click.option("--raw", is_flag=True, help="write integer mantissas instead of float64 values")
@click.option("--trace", is_flag=True, help="report per-layer ranges, quantizer clipping and overflow counts")
@click.option("--chunk", default=None, type=click.IntRange(min=1),
              help="samples per chunk when streaming .npy to .npy or on Dask workers (the integers do not depend "
                   "on it); default: what fits in 128 MiB of working memory")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="simulate on a local Dask cluster of N worker processes (same integers)")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="simulate on an existing dask.distributed cluster, e.g. tcp://10.0.0.1:8786 (same integers)")
@_type_options
@_user_errors
def sim(model, inputs_path, output_path, raw, trace, chunk, workers, scheduler, types):
    """Run the bit-exact numpy simulator on a model."""
    from .pipeline import compile_model, load_inputs
    from .sim import simulate
    from .sim.cluster import connect
    graph = compile_model(model, **types)
    _notes(graph)
    if trace and (workers or scheduler):
        raise ModelError("--trace keeps every layer's values in this process: run it without --workers/--scheduler")
    with connect(workers, scheduler) as client:
        if not output_path.endswith(".npz"):
            _sim_stream(graph, inputs_path, output_path, raw, trace, chunk, types["max_memory"], client)
            return
        inputs = load_inputs(inputs_path, graph)
        if client is None:
            result = simulate(graph, inputs, trace=trace, budget=types["max_memory"])
        else:
            result = _sim_on_cluster(graph, inputs, raw, chunk, types["max_memory"], client)
    outs = result.outputs if raw else result.as_float()
    np.savez(output_path, **outs)
    for name, t in result.types.items():
        _echo(f"{name}: {outs[name].shape} {t.to_cpp()}{' (mantissas)' if raw else ''}")
    _report_overflow(graph, result)
    if trace:
        for name, v in result.trace.items():
            t = graph.node(name).out.fixed
            counts = ""
            if name in result.overflows:
                counts += f", {result.overflows[name]} {'wrapped' if t.overflow == 'WRAP' else 'saturated'} at the cast"
            if name in result.clipped:  # a declared quantizer's saturation: by design, not an overflow
                c = result.clipped[name]
                counts += (f", quantizer clipped {c.count} of {c.total} ({c.fraction:.2%}; "
                           f"{c.low} low, {c.high} high)")
            if name in result.accumulator_overflows:
                acc = graph.node(name).attrs["accum"].to_cpp()
                counts += f", accumulator {acc}: {result.accumulator_overflows[name]} wrapped"
            _echo(f"  {name}: min {t.to_float(v.min())} max {t.to_float(v.max())} "
                  f"(type range [{t.min_value}, {t.max_value}]){counts}")


def _check_outputs(outputs, inputs=()) -> None:
    """Refuse, before any work is done (an evaluation of hours would otherwise end in the error),
    an output file whose folder does not exist or cannot be written, or that is also an input (the
    model, a dataset's file, the labels, a table): writing it would destroy it. None entries are
    skipped; data specs may be NAME=file or file.h5:/dataset. (Dataset outputs of `qconv sim` are
    checked against its readers by sim/datasets.py `check_outputs_apart`.)"""
    import os

    def file(spec) -> Path:
        text = str(spec)
        if "=" in text and not Path(text).exists():
            text = text.split("=", 1)[1]
        if ":" in text and not Path(text).exists():
            text = text.split(":", 1)[0]
        return Path(text)
    sources = [(file(s), s) for s in inputs if s]
    for out in filter(None, outputs):
        folder = Path(out).parent
        if not folder.is_dir():
            raise ModelError(f"{out}: the folder {folder} does not exist; create it or give another path")
        if not os.access(folder, os.W_OK):
            raise ModelError(f"{out}: the folder {folder} is not writable; give another path")
        for source, spec in sources:
            if Path(out).exists() and source.exists() and Path(out).samefile(source):
                raise ModelError(f"{out}: it is also an input ({spec}); writing it would destroy it: give another path")


def _stream_chunk(graph, chunk):
    """--chunk, or sim/stream.py's default for the graph."""
    from .sim.stream import default_chunk
    return chunk or default_chunk(graph)


def _sim_on_cluster(graph, inputs, raw, chunk, budget, client):
    """In-memory inputs simulated on Dask workers, chunk by chunk (sim/stream.py); the outputs
    gathered here, as mantissas (the SimResult `simulate` would give, counts included)."""
    from .sim.datasets import ArrayReader
    from .sim.stream import simulate_chunks
    names = {graph.node(n).attrs.get("onnx_name", n): n for n in graph.inputs}
    parts: list[dict] = []
    counts = simulate_chunks(graph, {k: ArrayReader(v, k) for k, v in inputs.items() if k in names}, parts.append,
                             raw=True, chunk=_stream_chunk(graph, chunk), budget=budget, client=client)
    counts.outputs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return counts


@contextlib.contextmanager
def _progress_bar(total: int, what: str = "simulating", unit: str = "samples"):
    """A rich progress bar on stderr (samples done, rate, ETA); yields the callback that moves it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    columns = (TextColumn(what), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} " + unit),
               TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn())
    start = time.perf_counter()
    with Progress(*columns, console=_stderr_console(), transient=True) as bar:
        task = bar.add_task(what, total=total, rate="")
        yield lambda done: bar.update(task, completed=done, rate=f"{done / max(time.perf_counter() - start, 1e-9):,.{0 if unit == 'samples' else 2}f} {unit}/s")


def _sim_stream(graph, inputs_path, output_path, raw, trace, chunk, budget, client=None) -> None:
    """`qconv sim -i data -o out.npy|out.h5:/y|out.zarr`: the dataset a chunk at a time
    (sim/stream.py, sim/datasets.py), with a progress bar on stderr."""
    from .pipeline import load_inputs
    from .sim.datasets import ArrayReader, open_reader
    from .sim.stream import simulate_files
    if trace:
        raise ModelError("--trace keeps every layer's values: use an .npz output (in memory), not streaming")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ModelError("streaming (an .npy, HDF5 or Zarr output) takes a one-input, one-output model; "
                         "give an .npz output otherwise")
    name = graph.node(graph.inputs[0]).attrs.get("onnx_name", graph.inputs[0])
    if inputs_path.endswith(".npz"):
        reader = ArrayReader(load_inputs(inputs_path, graph)[name], inputs_path)
    else:
        reader = open_reader(inputs_path)
    chunk = _stream_chunk(graph, chunk)
    start = time.perf_counter()
    with _progress_bar(reader.samples) as progress:
        result = simulate_files(graph, {name: reader}, {graph.output_names[0]: output_path}, raw, chunk,
                                budget, progress=progress, client=client)
    rate = reader.samples / max(time.perf_counter() - start, 1e-9)
    t = graph.node(graph.outputs[0]).out.fixed
    _echo(f"{graph.output_names[0]}: ({reader.samples}, {', '.join(map(str, graph.node(graph.outputs[0]).out.shape))})"
          f" {t.to_cpp()}{' (mantissas)' if raw else ''} -> {output_path} ({rate:,.0f} samples/s)")
    _report_overflow(graph, result)


@main.command(name="eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", "data", required=True, multiple=True, metavar="DATA",
              help="the inputs: .npy, file.h5:/x, x.zarr or .npz; for a multi-input model one .npz holding "
                   "every input by name, or NAME=DATA per input")
@click.option("--labels", "labels", metavar="DATA", help="true classes: indices (N,) or one-hot (N, classes); "
              "0/1 for a one-score output")
@click.option("--float-model", "float_model", type=click.Path(dir_okay=False),
              help="the float model onnxruntime runs as the reference (default: MODEL itself, when onnxruntime "
                   "can run it)")
@click.option("--no-float", is_flag=True, help="no float reference")
@click.option("--threshold", default=0.5, show_default=True, type=float,
              help="a one-score output predicts class 1 above this")
@click.option("--chunk", default=None, type=click.IntRange(min=1), help="samples per chunk (results do not depend on it)")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="simulate on a local Dask cluster of N workers")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="simulate on an existing dask.distributed cluster")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write the report as JSON")
@click.option("--profile", "profile_path", metavar="FILE", help="plot every layer's observed magnitudes against its "
              "type's range (.png or .svg)")
@_type_options
@_user_errors
def evaluate_cmd(model, data, labels, float_model, no_float, threshold, chunk, workers, scheduler, json_path,
                 profile_path, types):
    """The fixed-point model on a whole dataset: accuracy and ROC AUC against labels, against the
    float model run by onnxruntime, and per-layer overflow and clipping counts."""
    from .evaluate import FloatModel, dataset_inputs, evaluate
    from .pipeline import compile_model
    from .sim.cluster import connect
    from .sim.datasets import open_reader
    if profile_path:
        from .plots import check_output
        check_output(profile_path)
    _check_outputs([json_path, profile_path], [model, *data, labels, float_model])
    graph = compile_model(model, **types)
    _notes(graph)
    inputs = dataset_inputs(graph, data)
    reference = None
    if float_model and no_float:
        raise ModelError("give --float-model FILE or --no-float, not both")
    if not no_float:
        try:
            reference = FloatModel(float_model or model, graph)
        except ModelError as exc:
            if float_model:
                raise
            _echo(f"note: no float reference: {exc}", err=True)
    n = next(iter(inputs.values())).samples
    with connect(workers, scheduler) as client, _progress_bar(n, "evaluating") as progress:
        report = evaluate(graph, inputs, open_reader(labels) if labels else None, reference, threshold,
                          _stream_chunk(graph, chunk), types["max_memory"], progress, client, bool(profile_path))
    report["model"] = str(model)
    for line in eval_lines(report):
        _echo(line)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1))
    if profile_path:
        from .plots import profile_plot
        profile_plot(report["profile"], profile_path, f"{Path(model).name}: {report['samples']:,} samples")
        _echo(f"profile: {profile_path}")


@main.command(name="sweep")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--grid", "grid_path", required=True, metavar="YAML",
              help="settings to sweep, each a value or a list: input_type, default_type, accumulator, "
                   "fold_batchnorm, reuse_factor, strategy, target_ii, io, part, clock_period")
@click.option("--data", "data", required=True, multiple=True, metavar="DATA",
              help="the inputs (as for qconv eval)")
@click.option("--labels", "labels", metavar="DATA", help="true classes (as for qconv eval)")
@click.option("--float-model", "float_model", type=click.Path(dir_okay=False),
              help="the float reference (default: MODEL itself, when onnxruntime can run it)")
@click.option("--no-float", is_flag=True, help="no float reference")
@click.option("-o", "--output", "out", default="sweep.csv", show_default=True, metavar="FILE",
              help="the table: .csv, or .json")
@click.option("--plot", "plot_path", metavar="FILE", help="the Pareto plot, .png or .svg")
@click.option("--cost", type=click.Choice(["lut", "dsp", "ff", "bram18"]), default="lut", show_default=True,
              help="the Pareto plot's cost axis (qconv's estimate)")
@click.option("--cache", "cache_dir", metavar="DIR", help="finished points (default: OUTPUT's name + .cache)")
@click.option("--chunk", default=4096, show_default=True, type=click.IntRange(min=1), help="samples per chunk")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="points in parallel on a local Dask "
              "cluster of N workers")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="points on an existing dask.distributed cluster "
              "(its workers must read MODEL, the data and the cache folder at the same paths)")
@_user_errors
def sweep_cmd(model, grid_path, data, labels, float_model, no_float, out, plot_path, cost, cache_dir, chunk, workers,
              scheduler):
    """Compile, cost and evaluate every point of a grid of settings; a table and a Pareto plot.
    Finished points are cached: run it again to resume."""
    from .evaluate import check_labels, dataset_inputs
    from .pipeline import compile_model
    from .sim.cluster import connect
    from .sim.datasets import open_reader
    from .sim.stream import check_inputs
    from .sweep import float_reference, load_grid, sweep, write_table
    points = load_grid(grid_path)
    if plot_path:
        from .plots import check_output
        check_output(plot_path)
    _check_outputs([out, plot_path], [model, grid_path, *data, labels, float_model])
    if float_model and no_float:
        raise ModelError("give --float-model FILE or --no-float, not both")
    if not Path(model).is_file():
        raise ModelError(f"{model}: no such file")
    first = {k: v for k, v in points[0].items() if k in ("input_type", "default_type", "accumulator")}
    graph = compile_model(model, **first)  # the data must fit the model before any point runs
    samples = check_inputs(graph, dataset_inputs(graph, data))
    if labels:
        check_labels(open_reader(labels), graph, samples)  # as the data: before any point runs
    cache = Path(cache_dir) if cache_dir else Path(str(out) + ".cache")
    reference = None
    if not no_float:
        try:
            reference = float_reference(graph, float_model or model, list(data), cache, chunk)
        except ModelError as exc:
            if float_model:
                raise
            _echo(f"note: no float reference: {exc}", err=True)
    if plot_path and not labels and reference is None:  # before any point runs
        raise ModelError(f"{plot_path}: the Pareto plot needs a quality per point: give --labels (accuracy) or a "
                         "float reference (agreement)")
    finished = itertools.count(1)
    with connect(workers, scheduler) as client, _progress_bar(len(points), "sweeping", "points") as progress:
        rows, cached = sweep(model, points, list(data), labels, reference, cache, chunk, client,
                             lambda i, row: progress(next(finished)))
    write_table(rows, out)
    failed = [i for i, r in enumerate(rows) if r["status"] != "ok"]
    _echo(f"{len(points)} points ({cached} from the cache {cache}), {len(failed)} failed; table: {out}")
    for i in failed:
        _echo(f"  point {i}: {rows[i]['status']}")
    notes: dict[str, list[int]] = {}  # how the points were read and built (e.g. a constant outside its type)
    for i, row in enumerate(rows):
        for note in row.get("notes", []):
            notes.setdefault(note, []).append(i)
    for note, where in notes.items():
        _echo(f"note (point{'s' if len(where) > 1 else ''} {', '.join(map(str, where))}): {note}", err=True)
    if plot_path:
        from .plots import pareto_plot
        quality = "accuracy" if labels else "agreement"
        front = pareto_plot(rows, plot_path, quality, cost,
                            title=f"{Path(model).name}: {quality} against estimated {cost.upper()}")
        _echo(f"Pareto front: points {', '.join(map(str, front))}; plot: {plot_path}")


def eval_lines(report: dict) -> list[str]:
    """qconv eval's report as text."""
    ref = f"float: {report['float_model']} by onnxruntime" if report["float_model"] else "no float reference"
    lines = [f"{report['model']}: {report['samples']:,} samples (fixed point: qconv's bit-exact simulator; {ref})"]
    notes = set()
    for out in report["outputs"]:
        lines.append(f"output {out['name']} ({out['classes']} {'scores' if out['classes'] > 1 else 'score'}, "
                     f"{out['type']}):")
        for who in ("fixed", "float"):
            if who in out:
                q = out[who]
                aucs = "  ".join("n/a" if a is None else f"{a:.4f}" + (f"±{b:.1e}" if b else "")
                                 for a, b in zip(q["auc"], q["auc_bound"]))
                if None in q["auc"]:
                    notes.add("n/a: ROC AUC is undefined for a class with no positive or no negative sample")
                lines.append(f"  {'fixed point' if who == 'fixed' else 'float':12} accuracy {q['accuracy']:.4f}   "
                             f"ROC AUC per class: {aucs}")
        if "fixed_vs_float" in out:
            a = out["fixed_vs_float"]
            lines.append(f"  fixed vs float: same prediction on {a['agreement']:.4f} of samples; error max "
                         f"{a['max_abs_error']:.3g}, mean {a['mean_abs_error']:.3g}, rms {a['rms_error']:.3g}")
    if report["layers"]:
        lines.append("layers, over the whole dataset:")
    for row in report["layers"]:
        def share(count: int) -> str:  # of the layer's output values
            return f"{count / row['values']:.2%}"
        what = []
        if "overflow" in row:
            what.append(f"{row['overflow']:,} overflowed ({share(row['overflow'])}; type: {row['type_source']})")
        if "accumulator_wraps" in row:
            what.append(f"{row['accumulator_wraps']:,} accumulator sums wrapped ({share(row['accumulator_wraps'])})")
        if "clipped_low" in row:
            clipped = row["clipped_low"] + row["clipped_high"]
            what.append(f"clipped {clipped:,} ({share(clipped)}; {row['clipped_low']:,} low, "
                        f"{row['clipped_high']:,} high)")
        lines.append(f"  {row['onnx']} ({row['op']}, {row['type']}): " + "; ".join(what) + f" of {row['values']:,} values")
    if not report["layers"]:
        lines.append("layers: no value overflowed or was clipped over the whole dataset")
    return lines + sorted(notes)


def _stderr_console():
    from rich.console import Console
    return Console(stderr=True)


def _notes(graph) -> None:
    """How the model was read (e.g. no batch axis) and where a float32 evaluation of it may round
    differently (analysis/float32_error.py), on stderr."""
    from .analysis.float32_error import warnings
    for note in graph.notes:
        _echo(f"note: {note}", err=True)
    for line in warnings(graph):
        _echo(f"warning: {line}", err=True)


def _report_overflow(graph, result):
    """One `overflow:` line per layer whose type qconv or an option chose (or capped) and that lost
    values: a real loss. A declared quantizer's clipping is not reported here (`sim --trace`)."""
    from .ir import TYPE_SOURCES
    for name, count in result.overflows.items():
        node = graph.node(name)
        t, source = node.out.fixed, TYPE_SOURCES.get(node.attrs.get("type_source"), "chosen by qconv")
        _echo(f"overflow: {name}: {count} values outside {t.to_cpp()} ({t.overflow}; type: {source})", err=True)
    for name, count in getattr(result, "accumulator_overflows", {}).items():
        acc = graph.node(name).attrs["accum"]
        _echo(f"overflow: {name}: {count} accumulator values outside {acc.to_cpp()} (wrapped)", err=True)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), help="project folder")
@click.option("-i", "--inputs", "inputs_path", type=click.Path(dir_okay=False),
              help="test inputs (.npz/.npy); default: random values over the input types")
@click.option("--samples", default=1000, show_default=True, type=click.IntRange(min=1),
              help="number of random test samples")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="seed of the random test samples")
@click.option("--csim", "do_csim", is_flag=True, help="also compile and run the C simulation")
@click.option("--ap-types", type=click.Path(file_okay=False), help="folder holding the Xilinx ap_fixed.h")
@click.option("--backend", type=click.Choice(["hls", "verilog"]), default="hls", show_default=True,
              help="hls: an HLS C++ project; verilog: synthesizable Verilog of a fully parallel network (Dense as "
                   "adder graphs, Relu, casts, thresholds, lookup tables) with a Verilator testbench (qconv cosim)")
@click.option("--stage-adders", default=0, show_default=True, type=click.IntRange(min=0),
              help="Verilog backend: a pipeline register after every N adder levels inside a Dense layer (more "
                   "latency, a shorter critical path); 0: one register at each layer's output")
@_type_options
@_design_options
@_user_errors
def build(model, out_dir, inputs_path, samples, seed, do_csim, ap_types, backend, stage_adders, types, design):
    """Write the HLS project for a model (and optionally run its C simulation), or its Verilog."""
    from .backend.project import HlsOptions, write_project
    from .report import test_data_section
    from .pipeline import compile_model, load_inputs, random_inputs
    from .sim import Changes, quantize_inputs, run
    from .toolchain import find_ap_types
    t0 = time.perf_counter()
    graph = compile_model(model, **types)
    _notes(graph)
    if backend == "verilog":  # fully parallel, no HLS unroll limit; Dense as adder graphs unless a strategy is given
        if do_csim:
            raise click.UsageError("--csim runs the HLS C simulation; a Verilog project runs with `qconv cosim`")
        if design["io"] == "stream":
            raise click.UsageError("--io stream is an HLS architecture; the Verilog backend is fully parallel")
    elif stage_adders:
        raise click.UsageError("--stage-adders places the Verilog backend's registers; give --backend verilog")
    if backend == "verilog":
        from .backend.rtl import check_ops
        check_ops(graph)
        design = {**design, "io": "parallel", "strategy": design["strategy"] or "da", "unroll_limit": 0,
                  "backend": "verilog"}
    plan = _plan(graph, design, types["config"])
    changes = Changes()  # -i inputs outside their types count as overflow, as in `qconv sim`
    if inputs_path:
        mantissas = quantize_inputs(graph, load_inputs(inputs_path, graph), changes)
    else:
        mantissas = random_inputs(graph, samples, seed, types["max_memory"])
    result = run(graph, mantissas, budget=types["max_memory"]).add_input_changes(changes)
    try:
        headers = str(find_ap_types(ap_types))
    except QconvError:
        if do_csim:
            raise
        headers = AP_TYPES_PLACEHOLDER
    meta = {**types, "model": str(Path(model).resolve()),
            "config": str(Path(types["config"]).resolve()) if types["config"] else None}
    n = next(iter(mantissas.values())).shape[0]
    if backend == "verilog":
        from .backend.project import write_rtl_project
        write_rtl_project(graph, out_dir, mantissas, result.outputs, plan, meta, test_data_section(result, n),
                          stage_adders)
        _echo(f"wrote {out_dir} (Verilog, {len(graph) - len(graph.inputs)} layers, {n} test samples) in "
              f"{time.perf_counter() - t0:.2f} s")
        _report_overflow(graph, result)
        return
    from .backend.architecture import ARCHITECTURES
    write_project(graph, out_dir, mantissas, result.outputs,
                  HlsOptions(design["part"], design["clock_period"], design["unroll_limit"]), headers, meta,
                  test_data_section(result, n), arch=ARCHITECTURES[plan.io], design=plan)
    _echo(f"wrote {out_dir} ({len(graph) - len(graph.inputs)} layers, {n} test samples) "
          f"in {time.perf_counter() - t0:.2f} s")
    _report_overflow(graph, result)
    if do_csim:
        _csim(out_dir, ap_types)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON (for tools)")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="also write the report as one HTML page")
@click.option("--data", "data", multiple=True, metavar="DATA", help="with --html: profile every layer's values on "
              "this dataset (.npy, file.h5:/x, x.zarr, .npz; NAME=DATA per input)")
@click.option("--sweep", "sweep_table", type=click.Path(dir_okay=False, exists=True),
              help="with --html: the Pareto plot of a `qconv sweep` table (.csv or .json)")
@click.option("--cost", default="lut", show_default=True, type=click.Choice(["lut", "dsp", "ff", "bram18"]),
              help="the Pareto plot's cost axis")
@_type_options
@_design_options
@_user_errors
def report(model, as_json, html_path, data, sweep_table, cost, types, design):
    """Per-layer types, multipliers, accumulators, operation counts, bit-ops, memory and a
    first-order FPGA cost; accumulator bits of tight vs qtools vs hls4ml's rule (qconv/report.py)."""
    from .pipeline import compile_model
    from .report import build_report, print_report
    if (data or sweep_table) and not html_path:
        raise ModelError("--data and --sweep add plots to the HTML page: give --html FILE too")
    if html_path:
        from .html_report import check_output
        check_output(html_path)
    _check_outputs([html_path], [model, *data, sweep_table])
    sweep_rows = None
    if sweep_table:  # a bad table fails before the compile
        from .sweep import check_model, read_table
        sweep_rows = read_table(sweep_table)
        check_model(sweep_rows, sweep_table, model)
    graph = compile_model(model, **types)
    _notes(graph)
    profile = None
    if data:  # data that does not fit, or that the model refuses (NaN), fails before the report is printed
        from .evaluate import dataset_inputs, evaluate
        from .sim.stream import check_inputs
        inputs = dataset_inputs(graph, data)
        n = check_inputs(graph, inputs)
        with _progress_bar(n, "profiling") as progress:
            profile = evaluate(graph, inputs, chunk=_stream_chunk(graph, None), budget=types["max_memory"],
                               progress=progress, profile=True)["profile"], n
    rep = build_report(graph, types["accumulator"], _plan(graph, design, types["config"], strict=False))
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        print_report(rep)
    if html_path:
        _html_report(rep, html_path, profile, data, sweep_table, sweep_rows, cost)


def _html_report(rep, html_path, profile, data, sweep_table, rows, cost):
    """The page of `qconv report --html`: `profile` is (eval's per-layer profile, samples) or None."""
    from .html_report import svg_figure, write_html
    from .plots import pareto_plot, profile_plot
    figures = []
    if profile:
        layers, n = profile
        figures.append({"title": "Profile", "svg": svg_figure(profile_plot, layers, title=f"{n:,} samples"),
                        "note": f"Every layer's observed |value| over {n:,} samples of {', '.join(data)} (blue: "
                                "whiskers from the smallest to the largest nonzero power of two, box 25-75%) "
                                "against its type's range (grey). Counts are exact (bit lengths of the mantissas)."})
    if rows is not None:
        quality = "accuracy" if any(r.get("accuracy") is not None for r in rows) else "agreement"
        figures.append({"title": "Sweep", "svg": svg_figure(pareto_plot, rows, quality=quality, cost=cost),
                        "note": f"{sweep_table}: {quality} against {cost.upper()} (qconv's cost model: estimates, "
                                "not synthesis) per point, labelled by point number; the Pareto front joined."})
    write_html(rep, html_path, figures)
    _echo(f"html: {html_path}", err=True)  # stdout may be --json's


@main.command()
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("--ap-types", type=click.Path(file_okay=False), help="folder holding the Xilinx ap_fixed.h")
@_user_errors
def csim(project, ap_types):
    """Compile the project's C simulation with g++, run it, compare with the numpy simulator."""
    _csim(project, ap_types)


def _csim(project, ap_types):
    from .backend.csim import run_csim
    r = run_csim(project, ap_types)
    _echo(f"g++ build {r.compile_seconds:.2f} s, run {r.run_seconds:.2f} s")
    if r.bit_exact:
        _echo(f"bit-exact: {r.matching}/{r.samples} samples")
        return
    m = r.first_mismatch
    _echo(f"bit-exact: {r.matching}/{r.samples} samples -- MISMATCH")
    _echo(f"first mismatch: sample {m['sample']}, output {m['output']}[{m['index']}]: "
          f"sim {m['expected']}, csim {m['got']}")
    from .pipeline import first_differing_layer
    click.echo(first_differing_layer(Path(project), m["sample"], ap_types))
    raise MismatchError("C simulation and numpy simulator disagree (a qconv bug: please report it)")


@main.command()
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@_user_errors
def cosim(project):
    """Build a Verilog project's RTL with Verilator, run it, compare with the numpy simulator."""
    from .backend.cosim import run_cosim
    r = run_cosim(project)
    _echo(f"Verilator build {r.build_seconds:.2f} s, run {r.run_seconds:.2f} s; latency {r.latency} cycles "
          f"(report: {r.expected_latency})")
    if r.bit_exact and r.latency == r.expected_latency:
        _echo(f"bit-exact: {r.matching}/{r.samples} samples")
        return
    if not r.bit_exact:
        m = r.first_mismatch
        _echo(f"bit-exact: {r.matching}/{r.samples} samples -- MISMATCH")
        _echo(f"first mismatch: sample {m['sample']}, output {m['output']}[{m['index']}]: "
              f"sim {m['expected']}, rtl {m['got']}")
        raise MismatchError("Verilog co-simulation and numpy simulator disagree (a qconv bug: please report it)")
    raise MismatchError(f"the RTL's latency is {r.latency} cycles, the report's {r.expected_latency} (a qconv bug)")


@main.command()
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
@_user_errors
def synth(project, as_json):
    """Yosys synth_xilinx cell counts of a Verilog project, per layer and total (also into its report)."""
    from .backend.synth import run_synth
    from .report import add_synth
    r = run_synth(project)
    add_synth(Path(project), r.as_dict())
    if as_json:
        click.echo(json.dumps(r.as_dict(), indent=2))
        return
    t = r.totals
    _echo(f"LUT {t['lut']:,}  FF {t['ff']:,}  SRL {t['srl']:,}  CARRY {t['carry']:,}  DSP {t['dsp']:,}  "
          f"(Yosys synth_xilinx cells, not Vivado; {r.seconds:.0f} s)")


@main.command()
@click.argument("root", type=click.Path(file_okay=False, exists=True))
@click.option("--csim", "do_csim", is_flag=True, help="also build each model and run its g++ C simulation")
@click.option("--csim-samples", default=16, show_default=True, help="samples per model in the C simulation")
@click.option("--input-type", default=DEFAULT_INPUT_TYPE, show_default=True,
              help="type of graph inputs no quantizer covers (their reference is recomputed on cast inputs)")
@click.option("--default-type", default=DEFAULT_DEFAULT_TYPE, show_default=True,
              help="type of float weights and other tensors no quantizer covers")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write the rows as JSON")
@click.option("-k", "pattern", help="only models whose path contains this text")
@click.option("--options", "options_path", type=click.Path(dir_okay=False, exists=True),
              help="JSON {'options': {model path: {'input_type': T, 'default_type': T}}, 'expected_status': "
                   "{model path: text of its known refusal}} (e.g. conformance/expected.json)")
@_user_errors
def conform(root, do_csim, csim_samples, input_type, default_type, json_path, pattern, options_path):
    """Run every model under ROOT that has a .ref.npz against its reference outputs (and, for a model
    with float ops after its last quantizer, the exactness at that quantizer's output). Exits 1 when
    a model fails without a recorded expected_status (or a recorded refusal now works)."""
    from rich.console import Console
    from rich.table import Table

    from .conform import conform_model, find_models, read_spec, unexpected
    from .errors import ConformanceError
    root = Path(root).resolve()
    _check_outputs([json_path])
    table = Table(title=f"qconv conform {root}")
    for col in ("model", "ops", "status", "exact", "max err", "argmax", "last quantizer exact", "csim", "s"):
        table.add_column(col, overflow="fold")
    rows = []
    spec = read_spec(options_path)
    per_model = spec.get("options", {})
    for path in find_models(root):
        if pattern and pattern not in str(path):
            continue
        opts = {"input_type": input_type, "default_type": default_type,
                **per_model.get(str(path.relative_to(root)), {})}
        r = conform_model(path, root, csim=do_csim, csim_samples=csim_samples,
                          work=Path("build") / "conform" / path.stem, **opts)
        rows.append(r)
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        table.add_row(r.model, r.ops, r.status, fmt(r.exact, ".4f"), fmt(r.max_abs_err, ".3g"),
                      fmt(r.argmax, ".3f"), fmt(r.tail_exact, ".4f"), r.csim, f"{r.seconds:.1f}")
    Console(width=200).print(table)
    ok = sum(r.status == "ok" for r in rows)
    exact = sum(r.status == "ok" and r.exact == 1.0 for r in rows)
    bitexact = sum(r.csim != "-" and r.csim.split("/")[0] == r.csim.split("/")[1] for r in rows)
    _echo(f"summary: {ok}/{len(rows)} ok, {exact} exact on every element"
          + (f", {bitexact}/{sum(r.csim != '-' for r in rows)} csim bit-exact" if do_csim else ""))
    if json_path:
        Path(json_path).write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    bad = unexpected(rows, spec.get("expected_status", {}), spec.get("expected", {}))
    if bad:
        raise ConformanceError(f"{len(bad)} unexpected result{'s' if len(bad) > 1 else ''} (no matching "
                               f"expected_status in --options): {'; '.join(bad)}")


if __name__ == "__main__":
    main()
