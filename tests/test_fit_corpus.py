"""Every corpus model on an xcvu13p (issue 13): conformance/fit_xcvu13p.json, written by
bench/fit_corpus.py, records for each model the smallest --target-ii on its ladder whose
io_parallel design fits, or why none does. The fast test checks the file is what the cost model
says today (regenerate it with `python bench/fit_corpus.py --json conformance/fit_xcvu13p.json`
after changing the model); the slow one builds every fitting model at its target, with the guard
on, and checks its g++ C simulation bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qconv.design.folding import DesignError, DesignOptions, plan
from qconv.design.parts import find_part
from qconv.pipeline import compile_model

from .conftest import shared_path
from .helpers import build_and_csim

ROWS = json.loads((Path(__file__).parent.parent / "conformance" / "fit_xcvu13p.json").read_text())
FITS = [r for r in ROWS if r["status"] == "fits"]
VU13P = find_part("xcvu13p")


def _graph(row):
    return compile_model(shared_path("models", row["model"]), input_type=row["input_type"],
                         default_type=row["default_type"])


def test_the_table_covers_the_corpus():
    models = sorted(str(p.relative_to(shared_path("models"))) for p in Path(shared_path("models")).rglob("*.onnx"))
    assert [r["model"] for r in ROWS] == models
    assert len(FITS) == 46 and sum(r["status"] == "needs io_stream" for r in ROWS) == 19


@pytest.mark.parametrize("row", [r for r in ROWS if r["status"] != "not compiled" and not
                                 r["status"].startswith("not compiled")], ids=lambda r: r["model"])
def test_the_table_is_what_the_cost_model_says(row):
    graph = _graph(row)
    if row["status"] == "fits":
        d = plan(graph, DesignOptions(VU13P, target_ii=row["target_ii"]))
        assert (d.fits, d.interval, d.latency, d.totals["dsp"], d.totals["lut"]) == \
            (True, row["interval"], row["latency"], row["dsp"], row["lut"]), "rerun bench/fit_corpus.py"
        if row["target_ii"] > 1:  # the ladder's previous step does not fit (or breaks the guard)
            try:
                assert not plan(graph, DesignOptions(VU13P, target_ii=row["target_ii"] // 2)).fits
            except DesignError:
                pass
    elif row["status"] == "needs io_stream":
        with pytest.raises(DesignError, match="streaming architecture"):
            plan(graph, DesignOptions(VU13P, target_ii=2 ** 24))
    else:  # fits at no interval: the limiting resource stays over the part
        assert not plan(graph, DesignOptions(VU13P, target_ii=2 ** 24)).fits


@pytest.mark.slow
@pytest.mark.parametrize("row", FITS, ids=lambda r: r["model"])
def test_fitting_designs_build_and_are_bit_exact(tmp_path, row):
    build_and_csim(shared_path("models", row["model"]), tmp_path / "prj", "--input-type", row["input_type"],
                   "--default-type", row["default_type"], "--target-ii", str(row["target_ii"]),
                   "--unroll-limit", "4096", samples=8)
    d = json.loads((tmp_path / "prj" / "report.json").read_text())["design"]
    assert (d["fits"], d["interval_cycles"], d["part"]) == (True, row["interval"], "xcvu13p")
