"""Strategy da against the latency strategy on the jet taggers: da4ml's solve time per network and
qconv's cost-model estimate of each design (qconv/design/da.py, cost.py), side by side.

    python bench/da.py [--part xcu250] [--rtl]

--rtl also builds the QKeras jet tagger before its Softmax with the Verilog backend and times
Verilator (`qconv cosim`, checked bit-exact) and Yosys (`qconv synth`; slow in WebAssembly on
adder graphs of this size, see README 'Verilog backend').

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
    ap.add_argument("--rtl", action="store_true", help="also time Verilator and Yosys on the jet tagger")
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
    if args.rtl:
        rtl_row(ROOT / "build" / "bench_da")


def rtl_row(out: Path) -> None:
    """The jet tagger before its Softmax as Verilog: Verilator and Yosys times and counts."""
    import onnx

    from qconv.backend.cosim import run_cosim
    from qconv.backend.synth import run_synth
    from qconv.cli import main as cli
    model = onnx.load(str(ROOT.parent / "shared" / "models" / MODELS["qkeras_jettagging (6-bit QKeras)"][0]))
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    model.graph.node.remove(softmax)
    model.graph.output[0].name = softmax.input[0]
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / "jet_before_softmax.onnx"))
    cli(["build", str(out / "jet_before_softmax.onnx"), "--input-type", "ap_fixed<8,3>", "--backend", "verilog",
         "-o", str(out / "prj"), "--samples", "1000"], standalone_mode=False)
    c = run_cosim(out / "prj")
    print(f"Verilator: build {c.build_seconds:.1f} s, bit-exact {c.matching}/{c.samples}, latency {c.latency} cycles")
    s = run_synth(out / "prj")
    t = s.totals
    print(f"Yosys synth_xilinx: {s.seconds:.0f} s; LUT {t['lut']:,} FF {t['ff']:,} CARRY {t['carry']:,} DSP {t['dsp']:,}")


if __name__ == "__main__":
    main()
