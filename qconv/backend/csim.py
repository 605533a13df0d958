"""C simulation: compile a generated project with g++ against the Xilinx ap_types headers, run
it on tb_data/inputs.dat, and compare its raw output mantissas with the simulator's
(tb_data/expected.dat), integer for integer."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError, ToolchainError
from ..toolchain import compile_cpp, find_ap_types
from .project import CSIM_DEFINES, CSIM_OPT, read_rows


@dataclass
class CsimResult:
    samples: int
    matching: int
    compile_seconds: float
    run_seconds: float
    first_mismatch: dict | None = None   # sample, output, index, expected, got

    @property
    def bit_exact(self) -> bool:
        return self.samples > 0 and self.matching == self.samples


def project_info(project: Path) -> dict:
    """The project's qconv_project.json (what `qconv build` recorded), checked."""
    path = project / "qconv_project.json"
    if not path.is_file():
        raise ModelError(f"{project}: not a qconv project (no qconv_project.json); run `qconv build` first")
    try:
        info = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        info = None
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise ModelError(f"{path}: damaged (not the JSON `qconv build` writes); rebuild the project with `qconv build`")
    return info


def compile_project(project: Path, ap_types: str | None = None, trace: bool = False) -> tuple[Path, float]:
    info = project_info(project)
    name = info["name"]
    exe = project / (f"{name}_csim_trace" if trace else f"{name}_csim")
    t0 = time.perf_counter()
    compile_cpp([project / "firmware" / f"{name}.cpp", project / "tb" / f"{name}_test.cpp"], exe,
                include_dirs=[project / "firmware", find_ap_types(ap_types)], opt=CSIM_OPT,
                extra=CSIM_DEFINES + (["-DQCONV_TRACE"] if trace else []))
    return exe, time.perf_counter() - t0


def _unlimited_stack() -> None:
    """Layer arrays are locals of the top function (as HLS wants them); for big feature maps the
    C simulation needs more than the default 8 MiB stack."""
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


def _run(exe: Path, project: Path, args: list[str]) -> None:
    proc = subprocess.run([str(exe), *args], cwd=project, capture_output=True, text=True,
                          preexec_fn=_unlimited_stack)
    if proc.returncode != 0:
        raise ToolchainError(f"C simulation {exe.name} failed (exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[:500]}")
    # hls_stream.h reports a stream read while empty or destroyed with data left (an io_stream bug)
    warning = next((line for line in proc.stdout.splitlines() if line.startswith("WARNING: Hls::stream")), None)
    if warning:
        raise ToolchainError(f"C simulation {exe.name}: {warning.strip()} (an io_stream design that would hang "
                             "in hardware: a qconv bug, please report it)")


def run_csim(project: str | Path, ap_types: str | None = None) -> CsimResult:
    project = Path(project).resolve()
    info = project_info(project)
    for f in ("inputs.dat", "expected.dat"):
        if not (project / "tb_data" / f).is_file():
            raise ModelError(f"{project}: tb_data/{f} is missing; build with inputs (qconv build -i ...)")
    exe, t_compile = compile_project(project, ap_types)
    t0 = time.perf_counter()
    _run(exe, project, ["tb_data/inputs.dat", "tb_data/csim_results.dat"])
    t_run = time.perf_counter() - t0
    samples, matching, first = compare_rows(project, "csim_results.dat", info["outputs"])
    return CsimResult(samples, matching, t_compile, t_run, first)


def compare_rows(project: Path, results: str, outputs: list[dict]) -> tuple[int, int, dict | None]:
    """(samples, matching samples, the first mismatch) of tb_data/<results> against expected.dat."""
    got = read_rows(project / "tb_data" / results)
    want = read_rows(project / "tb_data" / "expected.dat")
    if got.shape != want.shape:
        raise ToolchainError(f"the simulation wrote {got.shape} values, expected {want.shape}")
    bad = np.nonzero((got != want).any(axis=1))[0]
    first = None
    if len(bad):
        s = int(bad[0])
        col = int(np.nonzero(got[s] != want[s])[0][0])
        output, index = _locate(outputs, col)
        first = {"sample": s, "output": output, "index": index, "expected": int(want[s, col]), "got": int(got[s, col])}
    return len(want), len(want) - len(bad), first


def _locate(outputs: list[dict], col: int) -> tuple[str, int]:
    """Which output port (ONNX name) and element a column of a results row belongs to."""
    for out in outputs:
        if col < out["size"]:
            return out["onnx_name"], col
        col -= out["size"]
    return "?", col


def trace_sample(project: str | Path, sample: int, ap_types: str | None = None) -> dict[str, np.ndarray]:
    """Per-layer output mantissas of the C simulation for one sample (compiled with QCONV_TRACE)."""
    project = Path(project).resolve()
    exe, _ = compile_project(project, ap_types, trace=True)
    lines = (project / "tb_data" / "inputs.dat").read_text().splitlines()
    one = project / "tb_data" / "trace_input.dat"
    one.write_text(lines[sample] + "\n")
    _run(exe, project, ["tb_data/trace_input.dat", "tb_data/trace_results.dat", "tb_data/trace_layers.txt"])
    layers: dict[str, list] = {}
    for line in (project / "tb_data" / "trace_layers.txt").read_text().splitlines():
        name, *vals = line.split()  # (an io_stream process that streams traces each token: a line each)
        layers.setdefault(name, []).extend(vals)
    return {name: np.array(vals, dtype=np.int64) for name, vals in layers.items()}
