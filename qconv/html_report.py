"""`qconv report --html FILE`: the layer table of report.py as one self-contained HTML page
(templates/html/report.html.j2), with plots of plots.py inlined as SVG: the per-layer profile of
a dataset and the Pareto plot of a sweep's table."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import jinja2

from . import __version__
from .backend.resources import templates_dir
from .errors import QconvError
from .report import NUMERIC, design_summary, table_rows


def check_output(path: str | Path) -> None:
    """Refuse, before any work is done, a page file whose suffix is not .html or .htm."""
    if Path(path).suffix.lower() not in (".html", ".htm"):
        raise QconvError(f"{path}: the report page is written as .html; give the file that suffix")


def svg_figure(draw: Callable, *args, **kwargs) -> str:
    """The SVG a plots.py function `draw(*args, path, **kwargs)` writes, without its XML
    prologue and DOCTYPE (so it can sit inside an HTML page)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "figure.svg"
        draw(*args, path, **kwargs)
        text = path.read_text()
    return text[text.index("<svg"):]


def write_html(rep: dict, path: str | Path, figures: list[dict] = ()) -> None:
    """The report `rep` (report.build_report) and `figures` (dicts of title, note, svg) as HTML."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    header, rows = table_rows(rep)
    page = env.get_template("html/report.html.j2").render(
        rep=rep, header=header, rows=rows, numeric=NUMERIC, acc=rep["totals"]["accumulator_bits"],
        design=design_summary(rep["design"]), figures=list(figures), version=__version__)
    Path(path).write_text(page)
