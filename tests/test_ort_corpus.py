"""The onnxruntime-quantized corpus (issue 16): scripts/ort_corpus.py quantizes every float model
of ../shared/models with onnxruntime's own quantize_static in four forms (QDQ and QOperator,
uint8 asymmetric per tensor and int8 symmetric per channel), with onnxruntime's outputs as the
references; every model keeps the status and exactness recorded in conformance/expected_ort.json
(regenerate as conformance/README.md says). A QOperator model and a QDQ one are also C-simulated."""

from __future__ import annotations

import importlib.util
import json
import logging

import pytest

from qconv.conform import conform_model

from .conftest import ROOT, shared_path

EXPECTED = json.loads((ROOT / "conformance" / "expected_ort.json").read_text())["expected"]
CSIM = {"residual_block_clean_qop_u8_pt.onnx", "conv2d_small_mp_keras_qdq_s8_pc.onnx"}


@pytest.fixture(scope="module")
def ort_corpus(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("ort_corpus", ROOT / "scripts" / "ort_corpus.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path_factory.mktemp("ort_corpus")
    logging.getLogger().setLevel(logging.ERROR)
    for path in script.float_models(shared_path("models")):
        x = script.inputs(path)
        for variant in script.VARIANTS:
            try:
                script.reference(script.quantize(path, out, variant), x)
            except Exception:  # noqa: BLE001 - onnxruntime refuses two models (fixed batch dimensions)
                pass
    return out


@pytest.mark.slow
def test_the_script_writes_the_recorded_models(ort_corpus):
    assert sorted(p.name for p in ort_corpus.glob("*.onnx")) == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_onnxruntime_quantized_model_keeps_its_conformance(ort_corpus, name, tmp_path):
    want = EXPECTED[name]
    row = conform_model(ort_corpus / name, ort_corpus, csim=name in CSIM, csim_samples=8, work=tmp_path / "prj")
    assert row.status == want["status"], f"{name}: {row.status}"
    assert row.exact >= want["min_exact"], f"{name}: exact {row.exact} < {want['min_exact']}"
    if want.get("min_argmax") is not None:
        assert row.argmax >= want["min_argmax"], f"{name}: argmax {row.argmax} < {want['min_argmax']}"
    if name in CSIM:
        done, total = map(int, row.csim.split("/"))
        assert done == total > 0, f"{name}: csim {row.csim}"
