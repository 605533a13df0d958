"""Strategy da against the latency strategy on the jet taggers: da4ml's solve time per network and
qconv's cost-model estimate of each design (qconv/design/da.py, cost.py), side by side.

    python bench/da.py [--part xcu250]

The QKeras-quantized jet tagger of the corpus (qonnx_model_zoo/qkeras_jettagging.onnx, 6-bit
weights) and hls4ml's float KERAS_3layer at ap_fixed<16,6> (example-models/three_layer_keras.onnx).
Numbers are estimates (README 'Cost model'), not synthesis.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qconv.design.folding import DesignOptions, plan  # noqa: E402
from qconv.design.parts import find_part  # noqa: E402
from qconv.pipeline import compile_model  # noqa: E402

MODELS = {"qkeras_jettagging (6-bit QKeras)": ("qonnx_model_zoo/qkeras_jettagging.onnx", "ap_fixed<8,3>", None),
          "three_layer_keras at <16,6>": ("example-models/three_layer_keras.onnx", "ap_fixed<16,6>", "ap_fixed<16,6>")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="xcu250")
    args = ap.parse_args()
    part = find_part(args.part)
    print(f"| model | strategy | solve s | adders | DSP | LUT | FF | latency (cycles at 5 ns) |\n"
          "|---|---|---|---|---|---|---|---|")
    for label, (rel, input_type, default_type) in MODELS.items():
        graph = compile_model(ROOT.parent / "shared" / "models" / rel, input_type=input_type, default_type=default_type)
        for strategy in ("latency", "da"):
            t0 = time.perf_counter()
            d = plan(graph, DesignOptions(part, strategy=strategy))
            dt = time.perf_counter() - t0
            adders = sum(ld.adder_graph.adders for ld in d.layers.values() if ld.adder_graph)
            print(f"| {label} | {strategy} | {dt:.2f} | {adders:,} | {d.totals['dsp']:,} | {d.totals['lut']:,} | "
                  f"{d.totals['ff']:,} | {d.latency} |", flush=True)


if __name__ == "__main__":
    main()
