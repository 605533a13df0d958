"""The conformance corpus (../shared/models): every model keeps at least the status and
exactness (final outputs, and last quantizer outputs before a float tail) recorded in
conformance/expected.json; a change that loses a model fails here.
Regenerate the file deliberately (see conformance/README.md), never to hide a regression."""

from __future__ import annotations

import json

import pytest

from qconv.conform import conform_model, find_models

from .conftest import ROOT, shared_path

EXPECTED = json.loads((ROOT / "conformance" / "expected.json").read_text())


def _models():
    return sorted(EXPECTED["expected"])


def _run(rel, tmp_path, csim=False):
    root = shared_path("models")
    opts = EXPECTED.get("options", {}).get(rel, {})
    return conform_model(root / rel, root, csim=csim, csim_samples=4, work=tmp_path / "prj", **opts)


def test_expectations_cover_the_corpus():
    root = shared_path("models")
    assert sorted(str(p.relative_to(root)) for p in find_models(root)) == _models()


def test_expected_refusals_are_the_models_recorded_as_failing():
    """`qconv conform --options` fails on a model that is not ok unless expected_status records its
    refusal: those records and the recorded statuses name the same models."""
    failing = {rel for rel, want in EXPECTED["expected"].items() if want["status"] != "ok"}
    assert set(EXPECTED["expected_status"]) == failing


@pytest.mark.slow
@pytest.mark.parametrize("rel", _models())
def test_model_keeps_its_conformance(rel, tmp_path):
    want = EXPECTED["expected"][rel]
    row = _run(rel, tmp_path, csim=want.get("csim", False))
    status = row.status.split(":")[0]
    assert status == want["status"], f"{rel}: {row.status}"
    if want["status"] != "ok":
        return
    assert row.exact >= want["min_exact"], f"{rel}: exact {row.exact} < {want['min_exact']}"
    if want.get("min_argmax") is not None:
        assert row.argmax >= want["min_argmax"], f"{rel}: argmax {row.argmax} < {want['min_argmax']}"
    if want.get("min_tail_exact") is not None:
        assert row.tail_exact is not None and row.tail_exact >= want["min_tail_exact"], \
            f"{rel}: exact at the last quantizer {row.tail_exact} < {want['min_tail_exact']} ({row.notes})"
    if want.get("csim"):
        done, total = map(int, row.csim.split("/"))
        assert done == total > 0, f"{rel}: csim {row.csim}"
