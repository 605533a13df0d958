"""`qconv sweep` (issue 17): a grid of settings on a corpus model, each point compiled, costed and
evaluated; the rows equal `qconv eval`/`qconv report` of the point; an interrupted sweep resumes
without redoing finished points; Dask workers give the same table; a bad grid is one error line."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qconv.plots import pareto_front
from qconv.sweep import read_table

from .conftest import shared_path
from .helpers import cli

MODEL = shared_path("models", "example-models", "three_layer_keras.onnx")  # float Keras MLP, 16 -> 5
GRID = """\
default_type: ["ap_fixed<8,3>", "ap_fixed<12,5>", "ap_fixed<16,6>"]
accumulator: [tight, qtools]
reuse_factor: [1, 4]
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(3)
    np.save(tmp / "x.npy", rng.normal(0, 1, (20000, 16)).astype(np.float32))
    np.save(tmp / "y.npy", rng.integers(0, 5, 20000))
    (tmp / "grid.yaml").write_text(GRID)
    return tmp


def _sweep(tmp, out, *extra):
    r = cli("sweep", MODEL, "--grid", tmp / "grid.yaml", "--data", tmp / "x.npy", "--labels", tmp / "y.npy",
            "-o", out, *extra)
    assert r.exit_code == 0, r.output
    return r.output


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_pareto_front():
    points = [(10, 0.5), (5, 0.5), (20, 0.9), (20, 0.8), (7, 0.7), (30, 0.9)]
    assert pareto_front(points) == [1, 4, 2]


def test_sweep_rows_are_those_of_eval_and_report(data):
    out = _sweep(data, data / "a.csv", "--plot", data / "a.png")
    rows = _rows(data / "a.csv")
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows)
    assert "12 points (0 from the cache" in out and "Pareto front: points " in out
    assert (data / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for i in (0, 11):
        r = rows[i]
        cli("eval", MODEL, "--data", data / "x.npy", "--labels", data / "y.npy", "--default-type", r["default_type"],
            "--accumulator", r["accumulator"], "--json", data / "e.json")
        ev = json.loads((data / "e.json").read_text())["outputs"][0]
        assert float(r["accuracy"]) == ev["fixed"]["accuracy"]
        assert float(r["agreement"]) == ev["fixed_vs_float"]["agreement"]
        assert float(r["mean_abs_error"]) == ev["fixed_vs_float"]["mean_abs_error"]
        rep = cli("report", MODEL, "--json", "--default-type", r["default_type"], "--accumulator", r["accumulator"],
                  "--reuse-factor", r["reuse_factor"])
        design = json.loads(rep.stdout)["design"]
        assert (int(r["lut"]), int(r["dsp"]), int(r["interval"])) == (design["lut"], design["dsp"], design["interval_cycles"])
    assert [r["accuracy"] for r in rows[:4]] == [rows[0]["accuracy"]] * 4  # the accumulator and R change no value


def test_killed_sweep_resumes_without_redoing_finished_points(data):
    cache = data / "k.cache"
    args = [str(Path(sys.executable).parent / "qconv"), "sweep", str(MODEL), "--grid", str(data / "grid.yaml"),
            "--data", str(data / "x.npy"), "--labels", str(data / "y.npy"), "-o", str(data / "k.csv"),
            "--cache", str(cache)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(list(cache.glob("point-*.json"))) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in cache.glob("point-*.json")}
    assert 4 <= len(done) < 12 and not (data / "k.csv").exists()
    out = _sweep(data, data / "k.csv", "--cache", cache)
    assert f"12 points ({len(done)} from the cache" in out
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # not redone
    fresh = data / "fresh.csv"
    _sweep(data, fresh, "--cache", data / "fresh.cache")
    assert _rows(data / "k.csv") == _rows(fresh)


@pytest.mark.slow
def test_sweep_on_two_dask_workers_equals_one_process(data):
    _sweep(data, data / "one.csv", "--cache", data / "one.cache")
    _sweep(data, data / "two.csv", "--cache", data / "two.cache", "--workers", "2")
    assert _rows(data / "one.csv") == _rows(data / "two.csv")


@pytest.mark.parametrize("grid,message", [
    ("reuse: [1, 2]\n", "grid.yaml: unknown key 'reuse'; a grid sets input_type, default_type"),
    ("default_type: [ap_fixed<8,3>, ap_fixd<9,3>]\n", "grid.yaml: default_type: "),
    ("reuse_factor: []\n", "grid.yaml: 'reuse_factor' has no values"),
    ("reuse_factor: [1, 0]\n", "grid.yaml: reuse_factor: 0: expected a whole number >= 1"),
    ("- 1\n- 2\n", "grid.yaml: expected a mapping of settings to values"),
])
def test_bad_grid_is_one_error_line(tmp_path, data, grid, message):
    (tmp_path / "grid.yaml").write_text(grid)
    r = cli("sweep", MODEL, "--grid", tmp_path / "grid.yaml", "--data", data / "x.npy", "-o", tmp_path / "s.csv")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and message in r.output, r.output


def test_data_that_does_not_fit_the_model_is_one_error_line(tmp_path, data):
    np.save(tmp_path / "x.npy", np.zeros((10, 15), np.float32))
    r = cli("sweep", MODEL, "--grid", data / "grid.yaml", "--data", tmp_path / "x.npy", "-o", tmp_path / "s.csv")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "x.npy: samples of shape (15,) do not fit input" in r.output
    assert not os.path.exists(tmp_path / "s.csv")


def test_labels_of_another_length_are_one_error_line_before_any_point_runs(tmp_path, data):
    """(before: every point ran, failed with the same error, and was cached as failed)"""
    np.save(tmp_path / "y.npy", np.zeros(7, np.int64))
    r = cli("sweep", MODEL, "--grid", data / "grid.yaml", "--data", data / "x.npy", "--labels", tmp_path / "y.npy",
            "-o", tmp_path / "s.csv", "--no-float")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "y.npy: 7 labels for 20000 samples" in r.output
    assert not os.path.exists(tmp_path / "s.csv") and not os.path.exists(tmp_path / "s.csv.cache")


def test_plot_file_of_another_format_is_refused_before_any_point_runs(tmp_path, data):
    r = cli("sweep", MODEL, "--grid", data / "grid.yaml", "--data", data / "x.npy", "-o", tmp_path / "s.csv",
            "--plot", tmp_path / "front.jpg")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "front.jpg: plots are written as .png or .svg" in r.output
    assert not os.path.exists(tmp_path / "s.csv") and not os.path.exists(tmp_path / "s.csv.cache")


def test_html_report_embeds_the_layer_table_profile_and_pareto_plot(data):
    _sweep(data, data / "h.csv", "--cache", data / "h.cache")
    rows = read_table(data / "h.csv")
    assert len(rows) == 12 and rows[0]["reuse_factor"] == 1 and isinstance(rows[0]["accuracy"], float)
    assert rows[0]["fits"] is True
    r = cli("report", MODEL, "--default-type", "ap_fixed<12,5>", "--html", data / "r.html", "--data", data / "x.npy",
            "--sweep", data / "h.csv")
    assert r.exit_code == 0 and f"html: {data / 'r.html'}" in r.output, r.output
    page = (data / "r.html").read_text()
    rep = json.loads(cli("report", MODEL, "--default-type", "ap_fixed<12,5>", "--json").stdout)
    assert page.count("<svg") == 2 and "<?xml" not in page and "20,000 samples" in page
    for layer in rep["layers"]:
        assert f"<td>{layer['layer']}</td>" in page
    assert f"{rep['totals']['lut']:,}</td>" in page and "accuracy" in page
    r = cli("report", MODEL, "--data", data / "x.npy")
    assert r.exit_code == 2 and "give --html FILE too" in r.output
    for name, text in (("bad.csv", "a,b\n1,2\n"), ("long.csv", "status,lut\nok,1,2\n"), ("empty.csv", "status\n"),
                       ("bad.json", '{"a": 1}'), ("list.json", "[1]"), ("null.json", "null")):
        (data / name).write_text(text)
        r = cli("report", MODEL, "--html", data / "r2.html", "--sweep", data / name)
        assert r.exit_code == 2 and f"{name}: not a qconv sweep table" in r.output, r.output
        assert len(r.output.splitlines()) == 1


def test_html_report_data_the_model_refuses_is_one_error_line_before_the_report(tmp_path):
    """(before: the whole text report was printed, then the NaN error, exit 2)"""
    x = np.zeros((300, 16), np.float32)
    x[250, 3] = np.nan
    np.save(tmp_path / "x.npy", x)
    r = cli("report", MODEL, "--default-type", "ap_fixed<12,5>", "--html", tmp_path / "r.html", "--data",
            tmp_path / "x.npy")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "NaN" in r.output and "250" in r.output and not os.path.exists(tmp_path / "r.html")


def test_the_same_report_page_twice_is_the_same_bytes(tmp_path, data):
    """Its inline SVG plots carry no date and no random ids (before: matplotlib's creation date
    and per-run ids made every page differ)."""
    _sweep(data, data / "same.csv", "--cache", data / "same.cache")
    pages = []
    for name in ("a.html", "b.html"):
        r = cli("report", MODEL, "--default-type", "ap_fixed<12,5>", "--html", tmp_path / name, "--data",
                data / "x.npy", "--sweep", data / "same.csv")
        assert r.exit_code == 0, r.output
        pages.append((tmp_path / name).read_bytes())
    assert pages[0] == pages[1] and pages[0].count(b"<svg") == 2 and b"<dc:date>" not in pages[0]


def test_an_html_page_of_another_suffix_is_refused(tmp_path):
    """(before: report --html page.txt wrote the HTML into page.txt)"""
    r = cli("report", MODEL, "--html", tmp_path / "page.txt")
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {tmp_path / 'page.txt'}: the report page is written as .html; give the file that suffix"], r.output
    assert not os.path.exists(tmp_path / "page.txt")
    assert cli("report", MODEL, "--default-type", "ap_fixed<12,5>", "--html", tmp_path / "page.HTM").exit_code == 0


def test_a_table_of_another_models_sweep_is_one_error_line(tmp_path, data):
    """A table names the model file it swept (sha256); report --html --sweep refuses another
    model's table, and a table that names none (before: the Pareto plot of any table was embedded
    in any model's report)."""
    _sweep(data, data / "m.csv", "--cache", data / "m.cache")
    _sweep(data, data / "m.json", "--cache", data / "m.cache")
    digest = "sha256:" + hashlib.sha256(Path(MODEL).read_bytes()).hexdigest()
    assert {r["model"] for r in read_table(data / "m.csv")} == {r["model"] for r in read_table(data / "m.json")} \
        == {digest}
    other = shared_path("models", "qonnx_model_zoo", "qkeras_jettagging.onnx")
    for table in ("m.csv", "m.json"):
        r = cli("report", other, "--html", tmp_path / "r.html", "--sweep", data / table)
        assert r.exit_code == 2 and r.output.strip().splitlines() == [
            f"error: {data / table}: its points were swept on another model ({digest[:19]}...), not {other} "
            f"(sha256:{hashlib.sha256(Path(other).read_bytes()).hexdigest()[:12]}...); give the "
            "table of this model's sweep"], r.output
    (tmp_path / "old.csv").write_text("point,status,lut,accuracy\n0,ok,5,0.5\n")
    r = cli("report", MODEL, "--html", tmp_path / "r.html", "--sweep", tmp_path / "old.csv")
    assert r.exit_code == 2 and "old.csv: the table does not name the model it swept" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not os.path.exists(tmp_path / "r.html")


def test_a_plot_without_any_quality_is_refused_before_any_point_runs(tmp_path, data):
    """--plot with neither labels nor a float reference (before: every point ran, then 'no point
    has a agreement to plot')."""
    r = cli("sweep", MODEL, "--grid", data / "grid.yaml", "--data", data / "x.npy", "--no-float",
            "-o", tmp_path / "s.csv", "--plot", tmp_path / "p.png")
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {tmp_path / 'p.png'}: the Pareto plot needs a quality per point: give --labels (accuracy) or a "
        "float reference (agreement)"], r.output
    assert not os.path.exists(tmp_path / "s.csv.cache")


@pytest.mark.parametrize("cell,message", [
    ("abc", "row 0: 'lut' is 'abc', not a number >= 0"),  # was a ValueError traceback in the plot
    ("nan", "row 0: 'lut' is nan, not a number >= 0"),
    ("-5", "row 0: 'lut' is -5, not a number >= 0"),
])
def test_a_table_with_a_bad_number_is_one_error_line(tmp_path, cell, message):
    (tmp_path / "t.csv").write_text(f"point,status,lut,accuracy\n0,ok,{cell},0.5\n")
    r = cli("report", MODEL, "--default-type", "ap_fixed<16,6>", "--html", tmp_path / "r.html",
            "--sweep", tmp_path / "t.csv")
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"error: {tmp_path / 't.csv'}: {message}; write the table with qconv sweep -o"], r.output
    (tmp_path / "t.json").write_text(json.dumps([{"status": "ok", "lut": 3, "accuracy": {"a": 1}}]))
    with pytest.raises(Exception, match="row 0: 'accuracy' is {'a': 1}, not a number"):
        read_table(tmp_path / "t.json")


def test_a_points_notes_are_printed_once_with_its_points(tmp_path, data):
    """A constant outside a point's --default-type is a note naming the points (before: qconv eval
    printed it, qconv sweep did not)."""
    (tmp_path / "grid.yaml").write_text("default_type: ['ap_fixed<4,1>', 'ap_fixed<16,6>', 'ap_fixed<5,1>']\n")
    r = cli("sweep", MODEL, "--grid", tmp_path / "grid.yaml", "--data", data / "x.npy", "--no-float",
            "-o", tmp_path / "s.json")
    assert r.exit_code == 0, r.output
    notes = [line for line in r.output.splitlines() if line.startswith("note (")]
    rows = json.loads((tmp_path / "s.json").read_text())
    assert notes and all(line.startswith(("note (points 0, 2): ", "note (point 0): ", "note (point 2): "))
                         for line in notes), notes
    assert "notes" not in rows[1] and any("lie outside ap_fixed<4,1>" in n for n in rows[0]["notes"])


def test_the_pareto_plot_labels_points_by_their_number_in_the_table(tmp_path):
    """A table cut to points 3 and 7 (before: labelled and reported as points 0 and 1)."""
    from qconv.plots import pareto_plot
    rows = [{"point": 3, "status": "ok", "lut": 10, "accuracy": 0.5}, {"point": 7, "status": "ok", "lut": 20,
                                                                       "accuracy": 0.9}]
    assert pareto_plot(rows, tmp_path / "p.svg", "accuracy") == [3, 7]
    assert pareto_plot([{k: v for k, v in r.items() if k != "point"} for r in rows], tmp_path / "q.svg",
                       "accuracy") == [0, 1]
