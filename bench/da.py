"""Strategy da against the latency strategy on the jet taggers and a Brevitas CNN (its Conv's filter
bank one adder graph, one output pixel per step): da4ml's solve time per network and
qconv's cost-model estimate of each design (qconv/design/da.py, cost.py), side by side.

    python bench/da.py [--part xcu250] [--rtl]

--rtl also builds RTL_MODELS (the QKeras jet tagger before its Softmax, also pipelined inside its
adder graphs, a Brevitas MLP, a FINN TFC with its thresholds) with the Verilog backend and times
the build (da4ml's solve), Verilator (`qconv cosim`, checked bit-exact) and Yosys (`qconv synth`),
with Yosys' counts next to the cost model's estimate (about 3 minutes).

The QKeras-quantized jet tagger of the corpus (qonnx_model_zoo/qkeras_jettagging.onnx, 6-bit
weights) and hls4ml's float KERAS_3layer at ap_fixed<16,6> (example-models/three_layer_keras.onnx).
Numbers are estimates (README 'Cost model'), not synthesis.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qconv.design.folding import DesignOptions, plan  # noqa: E402
from qconv.design.parts import find_part  # noqa: E402
from qconv.pipeline import compile_model  # noqa: E402
from qconv.onnx_tools import cut_at  # noqa: E402

MODELS = {"qkeras_jettagging (6-bit QKeras)": ("qonnx_model_zoo/qkeras_jettagging.onnx", "ap_fixed<8,3>", None),
          "three_layer_keras at <16,6>": ("example-models/three_layer_keras.onnx", "ap_fixed<16,6>", "ap_fixed<16,6>"),
          "brevitas_cnn2d_1x16x16 (Conv filter bank, P 1)": ("brevitas/brevitas_cnn2d_1x16x16.onnx", "ap_fixed<8,3>",
                                                             None)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="xcu250")
    ap.add_argument("--rtl", action="store_true", help="also build RTL_MODELS as Verilog: Verilator and Yosys")
    args = ap.parse_args()
    part = find_part(args.part)
    print(f"| model | strategy | solve s | adders | DSP | LUT | FF | latency (cycles at 5 ns) |\n"
          "|---|---|---|---|---|---|---|---|")
    for label, (rel, input_type, default_type) in MODELS.items():
        graph = compile_model(ROOT.parent / "shared" / "models" / rel, input_type=input_type, default_type=default_type)
        for strategy in ("latency", "da"):
            t0 = time.perf_counter()
            d = plan(graph, DesignOptions(part, strategy=strategy), strict=False)  # (the CNN unrolls past the guard)
            dt = time.perf_counter() - t0
            adders = sum(ld.adder_graph.adders for ld in d.layers.values() if ld.adder_graph)
            print(f"| {label} | {strategy} | {dt:.2f} | {adders:,} | {d.totals['dsp']:,} | {d.totals['lut']:,} | "
                  f"{d.totals['ff']:,} | {d.latency} |", flush=True)
    if args.rtl:
        rtl_row(ROOT / "build" / "bench_da")


# the Verilog backend's models: (label, corpus path, input type, where to cut the graph (None: the
# whole model), --stage-adders)
RTL_MODELS = [("qkeras_jettagging before Softmax", "qonnx_model_zoo/qkeras_jettagging.onnx", "ap_fixed<8,3>",
               ("before", "Softmax"), 0),
              ("the same, --stage-adders 3", "qonnx_model_zoo/qkeras_jettagging.onnx", "ap_fixed<8,3>",
               ("before", "Softmax"), 3),
              ("brevitas_mlp_16_64_32_5", "brevitas/brevitas_mlp_16_64_32_5.onnx", "ap_fixed<8,3>", None, 0),
              ("TFC_2W2A up to its last MatMul (thresholds)", "qonnx_model_zoo/TFC_2W2A.onnx", "ap_fixed<8,3>",
               ("after", "MatMul"), 0)]


def cut_tensor(model, where: str, op_type: str) -> str:
    """Where to cut (onnx_tools.cut_at): the first `op_type` node's input ("before") or the last
    one's output ("after")."""
    nodes = [n for n in model.graph.node if n.op_type == op_type]
    return nodes[0].input[0] if where == "before" else nodes[-1].output[0]


def rtl_row(out: Path) -> None:
    """Each RTL_MODELS entry as Verilog: build (da4ml's solve included), Verilator and Yosys times,
    the co-simulation's check, Yosys' counts next to the cost model's estimate."""
    import json

    import onnx

    from qconv.backend.cosim import run_cosim
    from qconv.backend.synth import run_synth
    from qconv.cli import main as cli
    print("\n| model | build s (DA solve) | latency cycles | Verilator build s | co-simulation | Yosys s | "
          "LUT (estimate) | FF (RTL registers) | SRL | CARRY4 | DSP |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for k, (label, rel, input_type, where, stage_adders) in enumerate(RTL_MODELS):
        model = onnx.load(str(ROOT.parent / "shared" / "models" / rel))
        path, prj = out / f"m{k}.onnx", out / f"prj{k}"
        shutil.rmtree(prj, ignore_errors=True)  # (Verilator's build time from scratch)
        out.mkdir(parents=True, exist_ok=True)
        if where:
            cut_at(model, [cut_tensor(model, *where)], path)
        else:
            onnx.save(model, str(path))
        t0 = time.perf_counter()
        cli(["build", str(path), "--input-type", input_type, "--backend", "verilog", "-o", str(prj), "--samples",
             "1000", "--stage-adders", str(stage_adders)], standalone_mode=False)
        t_build = time.perf_counter() - t0
        c = run_cosim(prj)
        s = run_synth(prj)
        est = json.loads((prj / "report.json").read_text())["design"]
        t = s.totals
        print(f"| {label} | {t_build:.1f} | {c.latency} | {c.build_seconds:.1f} | {c.matching}/{c.samples} bit-exact | "
              f"{s.seconds:.0f} | {t['lut']:,} ({est['lut']:,}) | {t['ff']:,} ({est['ff']:,}) | {t['srl']:,} | {t['carry']:,} | "
              f"{t['dsp']} |", flush=True)


if __name__ == "__main__":
    main()
