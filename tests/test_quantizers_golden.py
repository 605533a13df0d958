"""Every quantizer/function case of ../shared/golden/qkeras (real QKeras, float32) reproduced.

Outputs must be bit-identical float32 (compared as uint32 bit patterns, so even the sign of
zero counts), and so must the quantizers' `scale` (and quantized_linear's `quantization_scale`)
arrays, with no exception. SEMANTICS.md section 10 lists `quantized_ulaw` as 1-ulp (TF's float32
`log` is Eigen's rational approximation, not a correctly rounded log); `float32.tf_log` emulates
Eigen's packet log and reproduces those outputs bit for bit, so ulaw is held to exactness.
(SEMANTICS.md also lists binary/ternary alpha="auto" on rank-4 tensors as 1-ulp; `autoscale.tf_mean` emulates Eigen's summation order and reproduces
those bit for bit, so they are held to exactness here.) Layer cases (pooling, BN folding)
belong to the layer issues and are skipped by kind.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from qconv.quantizers.registry import CLASSES, FUNCTIONS

from .conftest import SHARED, shared_path

INDEX = SHARED / "golden" / "qkeras" / "index.json"
CASES = json.loads(INDEX.read_text())["cases"] if INDEX.exists() else []
# layer cases (QAveragePooling2D/QGlobalAveragePooling2D, QConv2DBatchnorm) are reproduced by the
# compiler in tests/test_qkeras_layers_golden.py; here: every quantizer and function case
LAYER_KINDS = {"layer", "bn_folding"}
QUANTIZER_CASES = [c for c in CASES if c["kind"] not in LAYER_KINDS]
ULP_TOLERANCE: dict[str, tuple[int, str]] = {}  # class_name -> (max ulps, why); none needed today


def test_golden_index_present():
    index = json.loads(shared_path("golden", "qkeras", "index.json").read_text())
    kinds = {c["kind"] for c in index["cases"]}
    assert kinds <= {"quantizer", "function"} | LAYER_KINDS, kinds


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float32 ulps (monotone integer mapping of the bit patterns)."""
    def key(v):
        i = _bits(v).astype(np.int64)
        return np.where(i >= 2**31, 2**31 - i, i)
    return np.abs(key(a) - key(b))


@pytest.mark.parametrize("case", QUANTIZER_CASES, ids=[c["name"] for c in QUANTIZER_CASES])
def test_golden_case(case):
    data = np.load(shared_path("golden", "qkeras", case["file"]))
    x, y = data["x"], data["y"]
    if case["kind"] == "function":
        q, out = None, FUNCTIONS[case["class_name"]](x)
    else:
        q = CLASSES[case["class_name"]](**case["kwargs"])
        out = q(x)
    assert out.dtype == np.float32 and out.shape == y.shape
    if case["class_name"] in ULP_TOLERANCE:  # documented exception (see the module docstring)
        ulps, why = ULP_TOLERANCE[case["class_name"]]
        assert _ulps(out, y).max() <= ulps, why
    else:
        bad = np.flatnonzero(_bits(out) != _bits(y))
        assert bad.size == 0, (f"{bad.size} of {y.size} differ, e.g. x={x.ravel()[bad[:3]]} "
                               f"qkeras={y.ravel()[bad[:3]]} ours={out.ravel()[bad[:3]]}")
    for key in ("scale", "quantization_scale"):
        if key in data.files:
            ours = np.broadcast_to(np.asarray(getattr(q, key), np.float32), data[key].shape)
            assert np.array_equal(_bits(ours), _bits(data[key])), key
