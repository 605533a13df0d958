"""Every corpus model on an xcvu13p with --io auto (issues 13 and 14): conformance/fit_xcvu13p.json,
written by bench/fit_corpus.py, records for each model the smallest --target-ii on its ladder whose
design fits, the architecture --io auto chose, or why none does. The fast test checks the file is
what the cost model says today (regenerate it with `python bench/fit_corpus.py --json
conformance/fit_xcvu13p.json` after changing the model); the slow one builds every fitting model
at its target (io_parallel with the guard on) and checks its g++ C simulation bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qconv.design.folding import DesignError, DesignOptions, plan_auto
from qconv.errors import QconvError
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
    assert len(FITS) == 66 and sum(r["io"] == "io_stream" for r in FITS) == 22
    # the one left: a model onnxruntime refuses too (BatchNormalization on a transposed tensor)
    assert [r["model"] for r in ROWS if r["status"] != "fits"] == ["example-models/three_layer_bn_keras.onnx"]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["model"])
def test_the_table_is_what_the_cost_model_says(row):
    if row["status"].startswith("not compiled"):
        with pytest.raises(QconvError):
            _graph(row)
        return
    graph = _graph(row)
    d, why = plan_auto(graph, DesignOptions(VU13P, target_ii=row["target_ii"]))
    assert (d.io, why, d.fits, d.interval, d.latency, d.totals["dsp"], d.totals["lut"]) == \
        (row["io"], row.get("why"), True, row["interval"], row["latency"], row["dsp"], row["lut"]), \
        "rerun bench/fit_corpus.py"
    if row["target_ii"] > 1:  # the ladder's previous step does not fit (or gives no design)
        try:
            assert not plan_auto(graph, DesignOptions(VU13P, target_ii=row["target_ii"] // 2))[0].fits
        except DesignError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("row", FITS, ids=lambda r: r["model"])
def test_fitting_designs_build_and_are_bit_exact(tmp_path, row):
    big = row["io"] == "io_stream" and row["interval"] > 50_000  # the full-size images: one sample
    build_and_csim(shared_path("models", row["model"]), tmp_path / "prj", "--input-type", row["input_type"],
                   "--default-type", row["default_type"], "--target-ii", str(row["target_ii"]),
                   "--unroll-limit", "4096", samples=1 if big else 8)
    d = json.loads((tmp_path / "prj" / "report.json").read_text())["design"]
    assert (d["io"], d["fits"], d["interval_cycles"], d["part"]) == (row["io"], True, row["interval"], "xcvu13p")
