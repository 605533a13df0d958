"""Shared fixtures. Tests that need ../shared (models, goldens) skip when it is absent, except
under CI=true, where its absence is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("QCONV_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips (or fails under CI=true) when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI needs ../shared beside the clone")
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture
def models():
    return shared_path("models")


def qonnx_reference(model_path: Path, x: np.ndarray) -> np.ndarray:
    """Outputs of qonnx's reference executor (cleanup_model + execute_onnx), one sample per call."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(str(model_path)))
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    ys = [execute_onnx(model, {iname: xi.reshape(shape).astype(np.float32)})[oname] for xi in x]
    return np.stack(ys).reshape(len(x), -1)


def require_toolchain():
    """(ap_types folder, g++ path); skips when missing, but fails under CI=true (CI installs both)."""
    from qconv.errors import ToolchainError
    from qconv.toolchain import find_ap_types, find_gxx

    try:
        return find_ap_types(), find_gxx()
    except ToolchainError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
