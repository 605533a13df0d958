"""Where the Jinja templates and kernel headers live: inside the installed package (wheel),
or beside it in a source checkout (editable install)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent


def _find(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"qconv installation is incomplete: folder '{name}' not found near {_PKG}")


def templates_dir() -> Path:
    return _find("templates")


def hls_testbench_dir() -> Path:
    return _find("hls_testbench")
