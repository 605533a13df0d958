"""One measurement of one tool on one model, run by bench/run.py in a fresh subprocess.

    python bench/worker.py TASK.json RESULT.json

A fresh process per build makes the build cold (as a user's first `qconv build` or hls4ml
conversion is) and lets `ru_maxrss` give the peak resident memory of that build alone: the
worker reads the peak resident set (VmHWM, i.e. ru_maxrss of this process image) after its
imports (`rss_base_mib`) and right after the build (`rss_peak_mib`), before anything else runs
in the process. Compilers are child processes and not counted. Python import time is not part
of any figure.

The worker never raises: every failure becomes an entry of the result (`unsupported` when the
tool refuses the model, `error` for anything else) so that the benchmark goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np


def _maxrss_mib() -> float:
    """Peak resident memory of this process so far (MiB): VmHWM of /proc/self/status.

    That is the number `ru_maxrss` reports, except that ru_maxrss also keeps the peak of the
    process image that exec replaced: a worker started by vfork/posix_spawn from a big parent
    would inherit the parent's peak. Falls back to ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


@contextlib.contextmanager
def _quiet():
    """hls4ml and qonnx print a lot on stdout (and warnings on stderr): keep the worker's output clean."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
        yield


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


# ---------------------------------------------------------------------------------------- qconv

def _sim_throughput(graph, simulate, inputs: dict, n: int, task: dict, res: dict):
    """The numpy simulator on the benchmark batch as `predict` is called: the float inputs in,
    their fixed-point quantization included, the outputs out as floats (median of sim_repeats
    runs). Its samples/s into res; returns the last run's SimResult."""
    def once():
        result = simulate(graph, inputs)
        result.as_float()
        return result
    sim_s, sim_b = _median_time(once, task.get("sim_repeats", 3))
    res["sim_s"], res["sim_samples"], res["sim_sps"] = sim_s, n, n / sim_s
    return sim_b


def run_qconv(task: dict, res: dict) -> None:
    from qconv.backend.csim import compile_project
    from qconv.backend.project import HlsOptions, read_rows, write_project
    from qconv.errors import QconvError
    from qconv.pipeline import compile_model
    from qconv.sim import quantize_inputs, run, simulate
    from qconv.sim.memory import keep_heap
    from qconv.toolchain import find_ap_types

    keep_heap()  # as the `qconv` command does at its start (sim/memory.py)

    data = np.load(task["inputs"])
    x_build, x_bench = data["x_build"], data["x_bench"]
    out_dir = Path(task["out_dir"]).resolve()
    try:
        headers = str(find_ap_types())
    except QconvError:
        headers = "/path/to/ap_types"

    # ---- build: the same sequence as `qconv build -i inputs.npz` (qconv/cli.py)
    res["rss_base_mib"] = _maxrss_mib()
    t0 = time.perf_counter()
    try:
        graph = compile_model(task["model"], task.get("input_type"), task.get("default_type"))
    except Exception as exc:  # noqa: BLE001 - a model qconv cannot build is a result, not a crash
        res["unsupported"] = f"{type(exc).__name__}: {one_line(exc)}" if not isinstance(exc, QconvError) \
            else one_line(exc)
        return
    t1 = time.perf_counter()
    if len(graph.inputs) != 1:
        res["error"] = f"{len(graph.inputs)} graph inputs: the benchmark feeds single-input models only"
        return
    in_node = graph.inputs[0]
    onnx_name = graph.node(in_node).attrs.get("onnx_name", in_node)
    mantissas = quantize_inputs(graph, {onnx_name: x_build})
    sim = run(graph, mantissas)
    t2 = time.perf_counter()
    meta = {"model": str(Path(task["model"]).resolve()), "input_type": task.get("input_type"),
            "default_type": task.get("default_type")}
    write_project(graph, out_dir, mantissas, sim.outputs, HlsOptions(), headers, meta)
    t3 = time.perf_counter()
    res["rss_peak_mib"] = _maxrss_mib()
    res["build_s"] = t3 - t0
    res["build_parts"] = {"compile_model": t1 - t0, "sim_test_inputs": t2 - t1, "write_project": t3 - t2}
    res["build_samples"] = len(x_build)
    if not task.get("full"):
        if task.get("throughput"):
            _sim_throughput(graph, simulate, {onnx_name: x_bench}, len(x_bench), task, res)
        return

    # ---- csim build: g++ on the generated C simulation
    try:
        exe, res["csim_build_s"] = compile_project(out_dir)
    except Exception as exc:  # noqa: BLE001
        res["csim_error"] = one_line(exc)
        exe = None

    # ---- numpy simulator throughput on the benchmark batch
    m_bench = quantize_inputs(graph, {onnx_name: x_bench})
    sim_b = _sim_throughput(graph, simulate, {onnx_name: x_bench}, len(x_bench), task, res)
    out_name = graph.output_names[0]
    y = graph.node(graph.outputs[0]).out.fixed.to_float(sim_b.outputs[out_name])
    n_cmp = task.get("compare_samples", len(x_bench))
    np.save(task["outputs"], np.asarray(y[:n_cmp], np.float64).reshape(min(n_cmp, len(y)), -1))

    # ---- compiled csim binary on (up to csim_samples of) the same batch
    n_c = min(task.get("csim_samples", len(x_bench)), len(x_bench))
    if exe is not None and n_c > 0:
        try:
            m_c = {k: v[:n_c] for k, v in m_bench.items()}
            exp_c = {k: v[:n_c] for k, v in sim_b.outputs.items()}
            write_project(graph, out_dir, m_c, exp_c, HlsOptions(), headers, meta)  # tb_data for n_c samples
            t0 = time.perf_counter()
            proc = subprocess.run([str(exe), "tb_data/inputs.dat", "tb_data/csim_results.dat"], cwd=out_dir,
                                  capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"csim exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:200]}")
            got = read_rows(out_dir / "tb_data" / "csim_results.dat")
            want = read_rows(out_dir / "tb_data" / "expected.dat")
            res["csim_run_s"], res["csim_samples"], res["csim_sps"] = dt, n_c, n_c / dt
            res["csim_bit_exact"] = f"{int((got == want).all(axis=1).sum()) if got.shape == want.shape else 0}/{n_c}"
        except Exception as exc:  # noqa: BLE001
            res["csim_run_error"] = one_line(exc)


# --------------------------------------------------------------------------------------- hls4ml

def run_hls4ml(task: dict, res: dict) -> None:
    with _quiet():
        import hls4ml
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
        from qonnx.transformation.gemm_to_matmul import GemmToMatMul
        from qonnx.util.cleanup import cleanup_model

    data = np.load(task["inputs"])
    x_bench = data["x_bench"]
    out_dir = str(Path(task["out_dir"]).resolve())

    # ---- build: QONNX cleanup + convert + write (PEERS.md section 3, as hls4ml's own tests do)
    res["rss_base_mib"] = _maxrss_mib()
    t0 = time.perf_counter()
    try:
        with _quiet():
            m = cleanup_model(ModelWrapper(task["model"]))
            if task.get("channels_last"):
                m = m.transform(ConvertToChannelsLastAndClean())
            m = m.transform(GemmToMatMul())
            m = cleanup_model(m)
            cfg = hls4ml.utils.config_from_onnx_model(m, granularity="name", backend="Vitis",
                                                      default_precision=task["default_precision"])
            if task.get("results_default"):  # like qconv --default-type: every un-quantized result
                for layer in cfg["LayerName"].values():
                    prec = layer.get("Precision")
                    if isinstance(prec, dict) and prec.get("result") == "auto":
                        prec["result"] = task["default_precision"]
            if task.get("input_precision"):
                cfg["LayerName"].setdefault(m.graph.input[0].name, {}).setdefault("Precision", {})["result"] = \
                    task["input_precision"]
            hm = hls4ml.converters.convert_from_onnx_model(m, output_dir=out_dir, backend="Vitis",
                                                           io_type="io_parallel", hls_config=cfg)
            t1 = time.perf_counter()
            hm.write()
    except Exception as exc:  # noqa: BLE001
        res["unsupported"] = f"{type(exc).__name__}: {one_line(exc)}"
        return
    t2 = time.perf_counter()
    res["rss_peak_mib"] = _maxrss_mib()
    res["build_s"] = t2 - t0
    res["build_parts"] = {"cleanup_convert": t1 - t0, "write": t2 - t1}
    if not task.get("full") and not task.get("throughput"):
        return

    # ---- csim build: hm.compile() == hm.write() + g++ (build_lib.sh) + dlopen
    try:
        with _quiet():
            t0 = time.perf_counter()
            hm.write()
            t1 = time.perf_counter()
            hm._compile()  # noqa: SLF001 - the second half of hm.compile(), timed on its own
            t2 = time.perf_counter()
        res["csim_build_s"] = t2 - t0
        res["csim_build_parts"] = {"write": t1 - t0, "gxx": t2 - t1}
    except Exception as exc:  # noqa: BLE001
        res["csim_error"] = one_line(exc)
        return

    # ---- bit-accurate predict: one call on the batch (a Python loop over samples inside)
    n = min(task.get("predict_samples", len(x_bench)), len(x_bench))
    x = np.ascontiguousarray(x_bench[:n].reshape(n, -1), dtype=np.float64)  # float64 -> myproject_double
    try:
        with _quiet():
            t0 = time.perf_counter()
            y = hm.predict(x)
            dt = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001
        res["predict_error"] = one_line(exc)
        return
    res["predict_s"], res["predict_samples"], res["predict_sps"] = dt, n, n / dt
    if task.get("full"):
        y = np.asarray(y[0] if isinstance(y, list) else y, np.float64).reshape(n, -1)
        np.save(task["outputs"], y)


def main(task_path: str, result_path: str) -> int:
    task = json.loads(Path(task_path).read_text())
    res: dict = {"tool": task["tool"]}
    try:
        (run_qconv if task["tool"] == "qconv" else run_hls4ml)(task, res)
    except Exception as exc:  # noqa: BLE001
        res["error"] = f"{type(exc).__name__}: {one_line(exc)}"
        res["traceback"] = traceback.format_exc()[-2000:]
    Path(result_path).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
