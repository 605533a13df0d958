"""Quantize the float models of the corpus with onnxruntime's own tool (issue 16): each float model
of ../shared/models (a model without Quant/QuantizeLinear/MultiThreshold nodes and with a
reference file) is quantized by `onnxruntime.quantization.quantize_static`, calibrated on the
model's reference inputs, in the forms users bring:

  qdq_u8_pt      QDQ, uint8 asymmetric activations and weights, per tensor (onnxruntime's default)
  qdq_s8_pc      QDQ, int8 symmetric activations, int8 per-channel weights
  qop_u8_pt      QOperator (QLinearConv, QLinearMatMul, ...), the default types
  qop_s8_pc      QOperator, int8, per-channel weights

Each quantized model is written with a reference file (.ref.npz: x0 the inputs, y0... the outputs
of onnxruntime running the quantized model, ORT_ENABLE_ALL as deployed: its optimizer turns
DQ -> Conv/Gemm -> Q into integer kernels, exact like qconv, where the unoptimized graph sums in
float32 and flips outputs near rounding boundaries; it also fuses a uint8 DQ -> Softmax -> Q into
its QLinearSoftmax, an integer approximation, where qconv follows the graph, float softmax then
Q), so `qconv conform` runs on the directory like on the corpus. The int8 forms quantize weights
with `reduce_range` (7-bit weights), as onnxruntime's quantization guide recommends on x86-64: its
u8s8 kernels (int8 activations run as uint8) add pairs of products in int16 with saturation
(VPMADDUBSW) on CPUs without VNNI, so with full-range int8 weights its outputs would depend on the
CPU and differ from the ONNX definition (and from qconv) where a pair's sum exceeds 32767:

    .venv/bin/python scripts/ort_corpus.py ../shared/models build/ort_corpus
    .venv/bin/qconv conform build/ort_corpus --options conformance/expected_ort.json
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter

from qconv import onnx_tools

VARIANTS = {"qdq_u8_pt": ("QDQ", "QUInt8", False, False), "qdq_s8_pc": ("QDQ", "QInt8", True, True),
            "qop_u8_pt": ("QOperator", "QUInt8", False, False), "qop_s8_pc": ("QOperator", "QInt8", True, True)}
QUANTIZERS = onnx_tools.QUANTIZERS | {"QuantizeLinear"}
SAMPLES = 64


def float_models(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*.onnx")):
        ref = path.with_name(path.stem + ".ref.npz")
        if not ref.is_file():
            continue
        model = onnx.load(str(path), load_external_data=False)
        if not QUANTIZERS & {n.op_type for n in model.graph.node} and len(data_inputs(model)) == 1:
            out.append(path)
    return out


def data_inputs(model: onnx.ModelProto) -> list:
    """The graph inputs that are not initializers (older exporters list the weights as inputs)."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def inputs(path: Path) -> np.ndarray:
    """The corpus model's reference inputs (its .ref.npz: `x` or `x0`), the first SAMPLES, one
    sample per row with the model's batch axis of 1 (the corpus' layout)."""
    ref = np.load(path.with_name(path.stem + ".ref.npz"))
    x = ref["x" if "x" in ref else "x0"][:SAMPLES].astype(np.float32)
    rank = len(data_inputs(onnx.load(str(path), load_external_data=False))[0].type.tensor_type.shape.dim)
    return x if x.ndim == rank + 1 else x[:, None]


def quantize(path: Path, out: Path, variant: str) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fmt, qtype, per_channel, symmetric = VARIANTS[variant]
    x = inputs(path)
    model = onnx.load(str(path))
    data = data_inputs(model)
    name = data[0].name
    del model.graph.input[:]  # weights listed as inputs would stay float (onnxruntime: not constants)
    model.graph.input.extend(data)
    model.ir_version = max(model.ir_version, 7)  # (IR < 4 requires every initializer to be an input)
    if _opset(model) < 13:  # per-axis QuantizeLinear is opset 13; the tool writes the model's own opset
        model = onnx.version_converter.convert_version(model, 13)
    source = out / f"{path.stem}_float.onnx"
    onnx.save(model, str(source))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rows = iter(x)

        def get_next(self):
            row = next(self.rows, None)
            return None if row is None else {name: row}

    target = out / f"{path.stem}_{variant}.onnx"
    try:
        quantize_static(str(source), str(target), Reader(), quant_format=getattr(QuantFormat, fmt),
                        activation_type=getattr(QuantType, qtype), weight_type=getattr(QuantType, qtype),
                        per_channel=per_channel, reduce_range=qtype == "QInt8",
                        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": symmetric})
    finally:
        source.unlink()
    return target


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def reference(model: Path, x: np.ndarray) -> None:
    """The quantized model's outputs by onnxruntime, one sample per run, beside it as .ref.npz."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    runs = [sess.run(None, {name: row}) for row in x]
    ys = {f"y{k}": np.stack([r[k] for r in runs]) for k in range(len(runs[0]))}
    np.savez(model.with_name(model.stem + ".ref.npz"), x0=x, **ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("-k", default="", help="only models whose path contains this text")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's "consider pre-processing" advice
    args.out.mkdir(parents=True, exist_ok=True)
    for path in float_models(args.corpus):
        if args.k not in str(path):
            continue
        x = inputs(path)
        for variant in VARIANTS:
            try:
                reference(quantize(path, args.out, variant), x)
                print(f"{path.stem}_{variant}: written")
            except Exception as exc:  # noqa: BLE001 - onnxruntime's tool refuses some models
                print(f"{path.stem}_{variant}: onnxruntime could not quantize it: {str(exc).splitlines()[0][:120]}")


if __name__ == "__main__":
    main()
