"""Test helpers: run the CLI in-process and check the C simulation verdict."""

from __future__ import annotations

import re

import numpy as np
from click.testing import CliRunner

from qconv.cli import main


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def build_and_csim(model, out, *extra, samples: int | None = None):
    """`qconv build MODEL -o OUT --csim ...`; asserts the csim is bit-exact on every sample. The
    synthesizability guard is off unless `extra` sets --unroll-limit (a C simulation checks the
    arithmetic; test_folding.py checks the guard)."""
    args = ["build", model, "-o", out, "--csim", *extra]
    if "--unroll-limit" not in extra:
        args += ["--unroll-limit", "0"]
    if samples is not None:
        args += ["--samples", samples]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    m = re.search(r"bit-exact: (\d+)/(\d+) samples", r.output)
    assert m, r.output
    assert m.group(1) == m.group(2) and int(m.group(2)) > 0, r.output
    return int(m.group(2))


def save_inputs(path, name: str, x: np.ndarray):
    np.savez(path, **{name: x})
    return path


def qonnx_reference_runs(path, inputs: dict[str, np.ndarray], batch_axis: bool = True) -> list[np.ndarray]:
    """qonnx's executor, one sample per call (given a batch axis of 1 unless the model has none)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model
    model = cleanup_model(ModelWrapper(str(path)))
    # cleanup_model renames inputs and outputs (global_in, ...): both keep their order
    names = [i.name for i in model.graph.input]
    arrays = list(inputs.values())
    outs = [execute_onnx(model, {k: (v[i:i + 1] if batch_axis else v[i]).astype(np.float32)
                                 for k, v in zip(names, arrays)}) for i in range(arrays[0].shape[0])]
    return [np.stack([r[o.name] for r in outs]) for o in model.graph.output]


def ort_quantize(source, target, calibration: list[dict[str, np.ndarray]], qformat: str, per_channel: bool,
                 uint8: bool, activation_symmetric: bool, weight_symmetric: bool):
    """onnxruntime's own quantization tool (quantize_static) on the float model `source`,
    calibrated on `calibration` (one feed dict per run); qformat "QDQ" or "QOperator". Int8
    weights are 7-bit (`reduce_range`), as scripts/ort_corpus.py explains: onnxruntime's u8s8
    kernels saturate on x86 CPUs without VNNI, full-range int8 weights would make its reference
    depend on the CPU."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(calibration)

        def get_next(self):
            return next(self.feeds, None)

    qtype = QuantType.QUInt8 if uint8 else QuantType.QInt8
    quantize_static(str(source), str(target), Reader(), quant_format=getattr(QuantFormat, qformat),
                    per_channel=per_channel, activation_type=qtype, weight_type=qtype, reduce_range=not uint8,
                    extra_options={"ActivationSymmetric": activation_symmetric, "WeightSymmetric": weight_symmetric})
    return target


def simulate_against(path, x: np.ndarray, ref: np.ndarray):
    """Compile `path`, simulate its input "x" with a trace, and compare the first output with the
    float32 reference `ref` (one sample per row): (graph, result, elements that differ,
    samples a float32 reference may round the other way: float32_error.near_boundary)."""
    from qconv.analysis import float32_error
    from qconv.pipeline import compile_model
    from qconv.sim import simulate
    g = compile_model(path)
    result = simulate(g, {"x": x.astype(np.float64)}, trace=True)
    got = result.as_float()[g.output_names[0]].reshape(ref.shape)
    return g, result, got.astype(np.float32) != ref, float32_error.near_boundary(g, result.trace)
