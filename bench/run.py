"""qconv against hls4ml, side by side (issue 7).

    python bench/run.py [--quick] [--scaling] [--json out.json] [--markdown out.md]

For each model, qconv and hls4ml run in the same run, alternating (qconv first in even rounds,
hls4ml first in odd ones), each build in a fresh worker process (bench/worker.py):

  build        ONNX file -> written project. qconv: compile_model + sim.run on the test inputs +
               write_project (the `qconv build -i` sequence). hls4ml: qonnx cleanup (+channels-last,
               GemmToMatMul) + config_from_onnx_model + convert_from_onnx_model + write().
               Median of the rounds; each is a cold build in a fresh process, imports excluded.
  csim build   g++ on the generated C simulation. qconv: backend.csim.compile_project.
               hls4ml: hm.compile() (= write() again + build_lib.sh + dlopen).
  throughput   samples/s, bit-exact. qconv: the numpy simulator on the batch as predict is
               called, float inputs in and float outputs out (sim.simulate + as_float, median of
               3; in a process with the `qconv` command's malloc settings, sim/memory.py), and
               the compiled csim binary on the same inputs (text in, text out, as its testbench
               does). hls4ml: one predict() call on the batch (a per-sample loop inside).
               Simulator and predict are measured in every round (the csim binary in the first);
               the table shows medians, the ratio is the median of the rounds' ratios (each
               round runs both within seconds: robust to the VM's speed drifting).
  peak RSS     peak resident set of the worker process right after the build (VmHWM, i.e.
               ru_maxrss of the process image; imports included, the part the build added is
               shown as +N). Compilers are child processes and not counted.

A model that a tool cannot build gives a row "unsupported (<error>)"; the script never stops on a
model. --scaling adds generated MLPs from ~10k to ~4M parameters and fits the growth exponents.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("QCONV_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(HERE))

import make_mlp  # noqa: E402  (bench/make_mlp.py)

QUANTIZED_DEFAULT = "fixed<32,16>"  # hls4ml default precision for QONNX models (PEERS.md, hls4ml's tests)


# ------------------------------------------------------------------------------------- models

def _grid(rng, n, shape, frac, lo, hi):
    """Float inputs on the 2^-frac grid, mantissas uniform in [lo, hi] (exact in both tools)."""
    return rng.integers(lo, hi, size=(n, *shape), endpoint=True).astype(np.float64) * 2.0**-frac


def _normal_grid(rng, n, shape, frac, lo, hi):
    m = np.clip(np.rint(rng.normal(0, 1, (n, *shape)) * 2.0**frac), lo, hi)
    return m * 2.0**-frac


def cut_before_softmax(path: Path, out_dir: Path) -> Path:
    """The model without its final Softmax (as tests/test_models.py does)."""
    from qconv.onnx_tools import cut_before
    return cut_before(path, "Softmax", out_dir / (path.stem + "_logits.onnx"))


def input_shape(path: Path) -> tuple[int, ...]:
    """Shape of the first real graph input without its batch dimension."""
    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    dims = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    return tuple(dims[1:])


@dataclass
class Model:
    key: str
    label: str
    prepare: object                     # (workdir) -> onnx path, or None when missing
    inputs: object                      # (rng, n, shape) -> float64 inputs
    qconv_input_type: str | None = None
    qconv_default_type: str | None = None
    hls_input_precision: str | None = None
    hls_default_precision: str = QUANTIZED_DEFAULT
    channels_last: bool = True
    hls_results_default: bool = False  # hls4ml result types 'auto' -> the default (qconv --default-type)
    predict_samples: int = 10_000       # hls4ml predict batch (full run)
    csim_samples: int = 10_000          # qconv csim binary batch (full run)
    params: int = 0
    note: str = ""


def _shared(rel):
    def prepare(workdir: Path):
        p = SHARED / "models" / rel
        return cut_before_softmax(p, workdir) if p.is_file() else None
    return prepare


def _mlp(hidden, layers=3):
    def prepare(workdir: Path):
        return make_mlp.write(workdir / f"mlp_{hidden}x{layers}.onnx", hidden, layers)
    return prepare


def int8_inputs(rng, n, shape):      # ap_fixed<8,3>: every value of the type
    return _grid(rng, n, shape, 5, -128, 127)


def models(quick: bool) -> list[Model]:
    big = Model("mlp932k", "MLP 784-512x3-10 (4-8 bit)", _mlp(512), int8_inputs,
                hls_input_precision="fixed<8,3,RND_CONV,SAT>", predict_samples=1000, csim_samples=1000,
                params=make_mlp.n_params(512),
                note="input ap_fixed<8,3> via its Quant; hls4ml predict on 1000 samples (14.7 ms each in PEERS)")
    jet = Model("jet", "jet tagger (logits)", _shared("qonnx_model_zoo/qkeras_jettagging.onnx"),
                int8_inputs, qconv_input_type="ap_fixed<8,3>", hls_input_precision="fixed<8,3>",
                note="cut before Softmax; input ap_fixed<8,3> on both sides")
    if quick:
        jet.predict_samples = jet.csim_samples = 2000
        big.predict_samples, big.csim_samples = 100, 200
        return [jet, big]
    tfc = Model("tfc", "TFC_2W2A", _shared("qonnx_model_zoo/TFC_2W2A.onnx"),
                lambda rng, n, shape: _grid(rng, n, shape, 8, 0, 255),
                qconv_input_type="ap_ufixed<8,0>", hls_input_precision="ufixed<8,0>",
                qconv_default_type="ap_fixed<18,8,AP_RND_CONV,AP_SAT>",
                note="input ap_ufixed<8,0> (pixels k/256) on both sides; qconv types the float output "
                     "scaling after the last MatMul with ap_fixed<18,8> (hls4ml keeps its own types)")
    conv = Model("conv", "conv2d_small_keras", _shared("example-models/conv2d_small_keras.onnx"),
                 lambda rng, n, shape: _normal_grid(rng, n, shape, 10, -2**15, 2**15 - 1),
                 qconv_input_type="ap_fixed<16,6>", qconv_default_type="ap_fixed<16,6>",
                 hls_input_precision="fixed<16,6>", hls_default_precision="fixed<16,6>", hls_results_default=True,
                 note="float Conv2D model, cut before Softmax; ap_fixed<16,6> for inputs, weights, biases and "
                      "every layer result on both sides (hls4ml: 'auto' results set to fixed<16,6>)")
    return [jet, tfc, conv, big]


# ------------------------------------------------------------------------------------ workers

def cpu_busy(interval: float = 0.25) -> float | None:
    """Fraction of all cores busy (with other work: nothing of ours runs then) over `interval` s."""
    def sample():
        vals = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
        return vals[3] + vals[4], sum(vals)  # idle + iowait, total
    try:
        i0, t0 = sample()
        time.sleep(interval)
        i1, t1 = sample()
        return round(1 - (i1 - i0) / max(t1 - t0, 1), 3)
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Runner:
    workdir: Path
    timeout: float
    log: list = field(default_factory=list)
    _n: int = 0

    def __call__(self, tool: str, model_path: Path, inputs: Path, full: bool, **opts) -> dict:
        self._n += 1
        tag = f"{self._n:03d}_{tool}"
        task = {"tool": tool, "model": str(model_path), "inputs": str(inputs), "full": full,
                "out_dir": str(self.workdir / "prj" / tag), "outputs": str(self.workdir / f"{tag}_y.npy"), **opts}
        tpath, rpath = self.workdir / f"{tag}_task.json", self.workdir / f"{tag}_result.json"
        tpath.write_text(json.dumps(task))
        busy = cpu_busy()
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(HERE / "worker.py"), str(tpath), str(rpath)],
                                  capture_output=True, text=True, timeout=self.timeout)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            if rpath.is_file():
                res = json.loads(rpath.read_text())
            else:
                res = {"tool": tool, "error": f"worker exit {proc.returncode}: {' | '.join(tail)[:200]}"}
        except subprocess.TimeoutExpired:
            res = {"tool": tool, "error": f"timeout after {self.timeout:.0f} s"}
        res["wall_s"] = time.perf_counter() - t0
        res["cpu_busy_before"] = busy
        if full and Path(task["outputs"]).is_file():
            res["outputs_file"] = task["outputs"]
        shutil.rmtree(task["out_dir"], ignore_errors=True)  # projects can be large; keep the disk clean
        self.log.append({"task": task, "result": res})
        return res


def _status(res: dict) -> str | None:
    if "unsupported" in res:  # the error line, without the list of what is supported
        return f"unsupported ({res['unsupported'].split(' (supported:')[0]})"
    if "error" in res:
        return f"error ({res['error']})"
    return None


def bench_model(m: Model, run: Runner, rounds: int, sim_batch: int, quick: bool, say) -> dict:
    wd = run.workdir
    path = m.prepare(wd)
    row = {"key": m.key, "label": m.label, "note": m.note}
    if path is None:
        row["missing"] = f"model file not found under {SHARED}"
        say(f"[{m.key}] skipped: {row['missing']}")
        return row
    shape = input_shape(path)
    row["params"] = m.params or _count_params(path)
    rng = np.random.default_rng(7)
    x_bench = m.inputs(rng, sim_batch, shape)
    x_build = x_bench[:1000]
    inputs = wd / f"{m.key}_inputs.npz"
    np.savez(inputs, x_build=x_build, x_bench=x_bench)
    n_pred = min(m.predict_samples, sim_batch)
    q_opts = {"input_type": m.qconv_input_type, "default_type": m.qconv_default_type,
              "sim_repeats": 1 if quick else 3, "csim_samples": min(m.csim_samples, sim_batch),
              "compare_samples": n_pred}
    h_opts = {"input_precision": m.hls_input_precision, "default_precision": m.hls_default_precision,
              "channels_last": m.channels_last, "predict_samples": n_pred, "results_default": m.hls_results_default}
    results = {"qconv": [], "hls4ml": []}
    for r in range(rounds):
        order = ["qconv", "hls4ml"] if r % 2 == 0 else ["hls4ml", "qconv"]
        for tool in order:
            prev = results[tool]
            if prev and _status(prev[0]):
                continue  # unsupported/failed once: no point in repeating
            say(f"[{m.key}] round {r + 1}/{rounds}: {tool}{' (build, csim, throughput)' if r == 0 else ' (build, throughput)'}")
            res = run(tool, path, inputs, r == 0, throughput=True, **(q_opts if tool == "qconv" else h_opts))
            results[tool].append(res)
    # each round measures both tools' throughput within seconds of each other: the ratio per round
    # is robust to the VM's speed drifting over minutes (seen: +-25%); the median of them is reported
    row["throughput_ratios"] = [q["sim_sps"] / h["predict_sps"] for q, h in zip(results["qconv"], results["hls4ml"])
                                if q.get("sim_sps") and h.get("predict_sps")]
    for tool, rs in results.items():
        row[tool] = _aggregate(rs)
    row["equal"] = _compare(row["qconv"], row["hls4ml"])
    return row


def _count_params(path: Path) -> int:
    model = onnx.load(str(path))
    quant_params = {i for n in model.graph.node if n.op_type in ("Quant", "IntQuant", "FloatQuant") for i in n.input[1:]}
    return int(sum(np.prod(i.dims) for i in model.graph.initializer
                   if i.name not in quant_params and len(i.dims) >= 1 and np.prod(i.dims) > 1))


def _aggregate(rs: list[dict]) -> dict:
    if not rs:
        return {"error": "not run"}
    first = dict(rs[0])
    builds = [r["build_s"] for r in rs if "build_s" in r]
    if builds:
        first["build_runs_s"] = builds
        first["build_s"] = statistics.median(builds)
        first["rss_peak_mib"] = max(r.get("rss_peak_mib", 0) for r in rs)
        first["rss_base_mib"] = min(r.get("rss_base_mib", math.inf) for r in rs)
    for key in ("sim_sps", "predict_sps"):
        runs = [r[key] for r in rs if r.get(key)]
        if len(runs) > 1:
            first[key + "_runs"], first[key] = runs, statistics.median(runs)
    return first


def _compare(q: dict, h: dict) -> str:
    fq, fh = q.get("outputs_file"), h.get("outputs_file")
    if not (fq and fh):
        return "n/a (" + ("qconv" if not fq else "hls4ml") + " has no outputs)"
    yq, yh = np.load(fq), np.load(fh)
    n = min(len(yq), len(yh))
    yq, yh = yq[:n], yh[:n]
    if yq.shape != yh.shape:
        return f"n/a (shapes differ: qconv {yq.shape}, hls4ml {yh.shape})"
    same = int((yq == yh).all(axis=1).sum())
    if same == n:
        return f"equal on {n}/{n} samples"
    return (f"differ: {same}/{n} samples equal, max |diff| {float(np.abs(yq - yh).max()):.3g}, "
            f"argmax agrees {float((yq.argmax(1) == yh.argmax(1)).mean()) * 100:.1f}%")


# ------------------------------------------------------------------------------------- scaling

SCALING_HIDDEN = (12, 32, 96, 256, 512, 800, 1240)   # 9.9k ... 4.06M parameters
HLS_PREDICT_BUDGET_S = 3.0
HLS_NS_PER_PARAM = 16.0   # hls4ml predict cost per parameter and sample (PEERS: 14.7 ms at 932k)


def bench_scaling(run: Runner, sim_batch: int, say, with_hls4ml: bool = True) -> dict:
    rows = []
    hls_ok = with_hls4ml
    rng = np.random.default_rng(11)
    for h in SCALING_HIDDEN:
        params = make_mlp.n_params(h)
        path = make_mlp.write(run.workdir / f"scale_{h}.onnx", h)
        x = int8_inputs(rng, sim_batch, (make_mlp.N_IN,))
        inputs = run.workdir / f"scale_{h}_inputs.npz"
        np.savez(inputs, x_build=x[:1000], x_bench=x)
        say(f"[scaling] {params:,} parameters: qconv")
        q = run("qconv", path, inputs, True, sim_repeats=1, csim_samples=0, compare_samples=0)
        row = {"hidden": h, "params": params, "qconv": q}
        if hls_ok:
            n_pred = int(min(sim_batch, max(20, HLS_PREDICT_BUDGET_S / (HLS_NS_PER_PARAM * 1e-9 * params))))
            say(f"[scaling] {params:,} parameters: hls4ml (predict on {n_pred})")
            hres = run("hls4ml", path, inputs, True, default_precision=QUANTIZED_DEFAULT,
                       input_precision="fixed<8,3,RND_CONV,SAT>", channels_last=True, predict_samples=n_pred)
            row["hls4ml"] = hres
            if _status(hres) and "timeout" in hres.get("error", ""):
                hls_ok = False  # larger ones would take longer still
        rows.append(row)
    fits = {}
    for tool in ("qconv", "hls4ml"):
        for fig, get in (("build_s", lambda r: r.get("build_s")),
                         ("csim_build_s", lambda r: r.get("csim_build_s")),
                         ("sim_s_per_sample", lambda r: 1 / r["sim_sps"] if r.get("sim_sps") else
                          (1 / r["predict_sps"] if r.get("predict_sps") else None)),
                         ("rss_peak_mib", lambda r: r.get("rss_peak_mib"))):
            pts = [(row["params"], get(row[tool])) for row in rows if tool in row and get(row[tool])]
            if len(pts) >= 3:
                fits[f"{tool}.{fig}"] = {"all": _slope(pts), "large": _slope([p for p in pts if p[0] >= 300_000])}
    return {"rows": rows, "fits": fits, "sim_batch": sim_batch}


def _slope(pts) -> float | None:
    if len(pts) < 2:
        return None
    p, t = np.log([a for a, _ in pts]), np.log([b for _, b in pts])
    return float(np.polyfit(p, t, 1)[0])


# ------------------------------------------------------------------------------------- report

def _f(v, fmt="{:.3g}", unit=""):
    return "-" if v is None else fmt.format(v) + unit


def _sps(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def table_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for row in rows:
        if "missing" in row:
            out.append([row["label"], "-", "both", row["missing"], "", "", "", ""])
            continue
        for tool in ("qconv", "hls4ml"):
            r = row[tool]
            st = _status(r)
            if st and "build_s" not in r:
                out.append([row["label"], f"{row['params']:,}", tool, st, "", "", "", ""])
                continue
            csim = r.get("csim_build_s")
            if tool == "hls4ml" and csim is not None:
                csim_txt = f"{csim:.2f} (g++ {r['csim_build_parts']['gxx']:.2f})"
            else:
                csim_txt = _f(csim, "{:.2f}") if "csim_error" not in r else "error: " + r["csim_error"][:60]
            if tool == "qconv":
                tput = _sps(r.get("sim_sps")) + f" (sim, n={r.get('sim_samples', '-')})"
                tput2 = _sps(r.get("csim_sps")) + (f" (csim, n={r['csim_samples']}, {r.get('csim_bit_exact')} exact)"
                                                   if r.get("csim_sps") else "")
            else:
                tput = _sps(r.get("predict_sps")) + (f" (predict, n={r['predict_samples']})"
                                                      if r.get("predict_sps") else "")
                tput2 = ""
            mem = (f"{r['rss_peak_mib']:.0f} (+{r['rss_peak_mib'] - r['rss_base_mib']:.0f})"
                   if r.get("rss_peak_mib") else "-")
            build = f"{r['build_s']:.3f}" + (f" [{', '.join(f'{x:.3f}' for x in r['build_runs_s'])}]"
                                              if len(r.get("build_runs_s", [])) > 1 else "")
            out.append([row["label"], f"{row['params']:,}", tool, build, csim_txt, tput, tput2, mem])
    return out


HEADERS = ["model", "params", "tool", "build s (median [runs])", "csim build s", "bit-exact samples/s",
           "qconv csim binary samples/s", "peak RSS MiB (+build)"]


def ratio_lines(rows: list[dict]) -> list[str]:
    lines = []
    for row in rows:
        k = row["key"]
        if "missing" in row:
            lines.append(f"{k}: skipped ({row['missing']})")
            continue
        q, h = row["qconv"], row["hls4ml"]
        if _status(q) and "build_s" not in q:
            lines.append(f"{k}: qconv: {_status(q)}")
        if _status(h) and "build_s" not in h:
            lines.append(f"{k}: hls4ml: {_status(h)}")

        def ratio(name, a, b, unit, better):
            if a is None or b is None:
                return
            lines.append(f"{k}: {name}: qconv/hls4ml = {a / b:.3g} ({a:.4g} {unit} vs {b:.4g} {unit}; {better})")
        ratio("build", q.get("build_s"), h.get("build_s"), "s", "lower is better")
        ratio("csim build", q.get("csim_build_s"), h.get("csim_build_s"), "s", "lower is better")
        if h.get("csim_build_parts"):
            ratio("csim build vs hls4ml g++ only", q.get("csim_build_s"), h["csim_build_parts"]["gxx"], "s",
                  "lower is better")
        rounds = row.get("throughput_ratios", [])
        if len(rounds) > 1:
            lines.append(f"{k}: throughput sim/predict: qconv/hls4ml = {statistics.median(rounds):.3g} (median of the "
                         f"rounds {', '.join(f'{x:.3g}' for x in rounds)}; medians {q['sim_sps']:.4g} vs "
                         f"{h['predict_sps']:.4g} samples/s; higher is better)")
        else:
            ratio("throughput sim/predict", q.get("sim_sps"), h.get("predict_sps"), "samples/s", "higher is better")
        ratio("throughput csim binary/predict", q.get("csim_sps"), h.get("predict_sps"), "samples/s",
              "higher is better")
        ratio("peak build RSS", q.get("rss_peak_mib"), h.get("rss_peak_mib"), "MiB", "lower is better")
        lines.append(f"{k}: outputs qconv vs hls4ml: {row['equal']}")
    return lines


def scaling_rows(sc: dict) -> list[list[str]]:
    out = []
    for row in sc["rows"]:
        for tool in ("qconv", "hls4ml"):
            if tool not in row:
                continue
            r = row[tool]
            st = _status(r)
            if st and "build_s" not in r:
                out.append([f"{row['params']:,}", tool, st, "", "", ""])
                continue
            sps = r.get("sim_sps") or r.get("predict_sps")
            n = r.get("sim_samples") or r.get("predict_samples")
            out.append([f"{row['params']:,}", tool, f"{r['build_s']:.3f}", _f(r.get("csim_build_s"), "{:.2f}"),
                        f"{_sps(sps)} (n={n})" if sps else "-",
                        f"{r['rss_peak_mib']:.0f} (+{r['rss_peak_mib'] - r['rss_base_mib']:.0f})"])
    return out


SCALING_HEADERS = ["params", "tool", "build s", "csim build s", "samples/s", "peak RSS MiB (+build)"]


def fit_lines(sc: dict) -> list[str]:
    lines = []
    for key, v in sc["fits"].items():
        a, lg = v["all"], v["large"]
        lines.append(f"growth exponent {key} ~ params^{a:.2f} (all sizes)"
                     + (f", ^{lg:.2f} (>= 300k params)" if lg is not None else ""))
    return lines


def markdown(headers, rows) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    return "\n".join(["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
                     + ["| " + " | ".join(r) + " |" for r in esc])


def machine_info() -> dict:
    import importlib.metadata as md
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    vers = {}
    for pkg in ("qconv", "hls4ml", "qonnx", "onnx", "numpy"):
        try:
            vers[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            vers[pkg] = "-"
    try:
        gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        gxx = "g++ not found"
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "gxx": gxx,
            "loadavg": os.getloadavg(), **vers}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="qconv vs hls4ml benchmark (issue 7)")
    ap.add_argument("--quick", action="store_true", help="jet + big MLP, fewer samples, one round (< ~2 min)")
    ap.add_argument("--scaling", action="store_true", help="also run generated MLPs from ~10k to ~4M parameters")
    ap.add_argument("--scaling-only", action="store_true", help="only the scaling run")
    ap.add_argument("--no-hls4ml-scaling", action="store_true", help="qconv only in the scaling run")
    ap.add_argument("--models", help="comma-separated subset of: jet, tfc, conv, mlp932k")
    ap.add_argument("--rounds", type=int, help="build rounds per tool (default 3, quick 1)")
    ap.add_argument("--samples", type=int, help="benchmark batch (default 10000, quick 2000)")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--markdown", help="write the tables and ratio lines as markdown here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (projects are deleted anyway)")
    ap.add_argument("--timeout", type=float, help="seconds per worker (default 900, quick 120)")
    a = ap.parse_args(argv)

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)  # piped or redirected: do not wrap the table at 80 columns

    def say(msg):
        console.print(f"[dim]{time.strftime('%H:%M:%S')} {msg}[/dim]", highlight=False)

    rounds = a.rounds or (1 if a.quick else 3)
    batch = a.samples or (2000 if a.quick else 10_000)
    workdir = Path(tempfile.mkdtemp(prefix="qconv-bench-"))
    run = Runner(workdir, a.timeout or (120 if a.quick else 900))
    info = machine_info()
    say(f"{info['cores']} cores ({info['cpu']}), load {info['loadavg'][0]:.2f}; python {info['python']}, "
        f"qconv {info['qconv']}, hls4ml {info['hls4ml']}, qonnx {info['qonnx']}, numpy {info['numpy']}; "
        f"{info['gxx']}; work folder {workdir}")
    t_start = time.perf_counter()
    report = {"machine": info, "quick": a.quick, "rounds": rounds, "batch": batch}
    md_parts = []
    try:
        rows = []
        if not a.scaling_only:
            chosen = models(a.quick)
            if a.models:
                chosen = [m for m in chosen if m.key in a.models.split(",")]
            for m in chosen:
                try:
                    rows.append(bench_model(m, run, rounds, batch, a.quick, say))
                except Exception as exc:  # noqa: BLE001 - never stop on a model
                    rows.append({"key": m.key, "label": m.label, "missing": f"benchmark error: {exc}"})
            t = Table(title=f"qconv vs hls4ml ({'quick, ' if a.quick else ''}batch {batch}, {rounds} build rounds)")
            for hd in HEADERS:
                t.add_column(escape(hd), overflow="fold")
            body = table_rows(rows)
            for r in body:
                t.add_row(*map(escape, r))
            console.print(t)
            lines = ratio_lines(rows)
            for ln in lines:
                print(ln)
            report["models"] = rows
            md_parts += [markdown(HEADERS, body), "", "\n".join(f"    {ln}" for ln in lines)]
        if a.scaling or a.scaling_only:
            sc = bench_scaling(run, 2000 if not a.quick else 500, say, with_hls4ml=not a.no_hls4ml_scaling)
            t = Table(title=f"scaling: MLPs 784-Hx3-10 (sim batch {sc['sim_batch']})")
            for hd in SCALING_HEADERS:
                t.add_column(escape(hd), overflow="fold")
            body = scaling_rows(sc)
            for r in body:
                t.add_row(*map(escape, r))
            console.print(t)
            lines = fit_lines(sc)
            for ln in lines:
                print(ln)
            report["scaling"] = sc
            md_parts += ["", markdown(SCALING_HEADERS, body), "", "\n".join(f"    {ln}" for ln in lines)]
    finally:
        report["wall_s"] = time.perf_counter() - t_start
        report["machine"]["loadavg_end"] = os.getloadavg()
        report["log"] = run.log
        busy = [e["result"].get("cpu_busy_before") for e in run.log if e["result"].get("cpu_busy_before") is not None]
        report["cpu_busy_by_others"] = busy
        say(f"done in {report['wall_s']:.0f} s; load at the end {report['machine']['loadavg_end'][0]:.2f}; "
            + (f"CPU busy with other work before each worker: median {statistics.median(busy):.0%}, "
               f"max {max(busy):.0%}" if busy else ""))
        if a.json:
            Path(a.json).write_text(json.dumps(report, indent=1, default=str))
        if a.markdown:
            Path(a.markdown).write_text("\n".join(md_parts) + "\n")
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
