"""qconv's cost model side by side with hls4ml's published synthesis numbers (bench/published.md).

    python bench/hls4ml_compare.py [--markdown out.md]

1. The jet tagger (16-64-32-32-5; the corpus' example-models/three_layer_keras.onnx is hls4ml's
   KERAS_3layer) at ap_fixed<16,6> everywhere, reuse factor 1 ... 32, against the hls4ml tutorial's
   sweep on xczu7ev at 5 ns (Vivado HLS 2019.2 estimates, unpruned, latency strategy). qconv is shown
   twice: with hls4ml's 16-bit accumulator (`--accumulator fixed:ap_fixed<16,6>`, the same arithmetic)
   and with its own lossless tight accumulators (wider adders: what exactness costs).
2. The SVHN CNN of Aarrestad et al. (bench/make_svhn_cnn.py: the same layers, 50 % pruned random
   weights) at reuse factor 1, one output pixel per step, against hls4ml's io_stream design on xcu250
   (Vivado synthesis and HLS estimate), twice: qconv's io_stream design (the same architecture:
   line buffers, FIFOs) and its io_parallel one, whose feature maps are registers and whose pixel
   loop reads them through multiplexers (only buildable with --unroll-limit 0: shown for scale).

Ratios are qconv / hls4ml. No synthesis tool runs here: hls4ml's side is the published report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from qconv.design.folding import DesignOptions, plan  # noqa: E402
from qconv.design.parts import find_part  # noqa: E402
from qconv.pipeline import compile_model  # noqa: E402

T16 = "ap_fixed<16,6>"
# bench/published.md 1a: hls4ml tutorial part2b, xczu7ev-ffvc1156-2-e, 5 ns, RF -> (latency, II, DSP, LUT, FF, BRAM18)
JET_HLS4ML = {1: (9, 1, 3917, 88335, 26905, 4), 2: (15, 2, 2133, 127780, 30582, 3), 4: (25, 4, 1069, 130912, 34329, 2),
              8: (45, 8, 537, 124997, 42436, 2), 16: (75, 16, 271, 116058, 53911, 2), 32: (135, 32, 138, 115443, 60435, 2)}
# bench/published.md 2: tutorial part 6, 50 % pruned, <16,6>, RF 1, io_stream, xcu250, 5 ns
SVHN_HLS4ML = {"Vivado synthesis": (None, None, 5386, 123948, 43435, 84), "HLS estimate": (1044, 1028, 5414, 245466, None, None)}
KEYS = ("latency", "interval", "dsp", "lut", "ff", "bram18")


def _row(d) -> tuple:
    return (d.latency, d.interval, d.totals["dsp"], d.totals["lut"], d.totals["ff"], d.totals["bram18"])


def _ratio(ours, theirs) -> str:
    return "-" if theirs in (None, 0) else f"{ours / theirs:.2f}"


def jet_rows() -> list[str]:
    model = ROOT.parent / "shared" / "models" / "example-models" / "three_layer_keras.onnx"
    part = find_part("xczu7ev")
    graphs = {acc: compile_model(model, input_type=T16, default_type=T16, accumulator=acc)
              for acc in (f"fixed:{T16}", "tight")}
    lines = ["| RF | hls4ml latency / II / DSP / LUT / FF | qconv (16-bit accumulators) | ratio DSP / LUT / FF / "
             "latency | qconv (tight accumulators) LUT / FF |", "|---|---|---|---|---|"]
    for rf, theirs in JET_HLS4ML.items():
        ours = {acc: _row(plan(g, DesignOptions(part, reuse_factor=rf, unroll_limit=0))) for acc, g in graphs.items()}
        o = ours[f"fixed:{T16}"]
        t = ours["tight"]
        lines.append(f"| {rf} | {theirs[0]} / {theirs[1]} / {theirs[2]:,} / {theirs[3]:,} / {theirs[4]:,} | "
                     f"{o[0]} / {o[1]} / {o[2]:,} / {o[3]:,} / {o[4]:,} | {_ratio(o[2], theirs[2])} / "
                     f"{_ratio(o[3], theirs[3])} / {_ratio(o[4], theirs[4])} / {_ratio(o[0], theirs[0])} | "
                     f"{t[3]:,} / {t[4]:,} |")
    return lines


def svhn_rows() -> list[str]:
    from make_svhn_cnn import make_model
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "svhn.onnx"
        onnx.save(make_model(), str(path))
        graph = compile_model(path, input_type=T16, default_type=T16, accumulator=f"fixed:{T16}")
    part = find_part("xcu250")
    ours = {"io_stream": _row(plan(graph, DesignOptions(part, unroll_limit=0, io="io_stream"))),
            "io_parallel": _row(plan(graph, DesignOptions(part, unroll_limit=0)))}
    lines = ["| | latency | II | DSP | LUT | FF | BRAM18 |", "|---|---|---|---|---|---|---|"]
    for io, o in ours.items():
        lines.append(f"| qconv {io}, RF 1, P 1 | " + " | ".join(f"{v:,}" for v in o) + " |")
    for name, theirs in SVHN_HLS4ML.items():
        lines.append(f"| hls4ml io_stream ({name}) | " + " | ".join("-" if v is None else f"{v:,}" for v in theirs)
                     + " |")
        for io, o in ours.items():
            lines.append(f"| ratio qconv {io} / hls4ml ({name}) | " + " | ".join(_ratio(a, b) for a, b in zip(o, theirs))
                         + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markdown")
    args = ap.parse_args()
    text = "\n".join(["Jet tagger, ap_fixed<16,6>, xczu7ev, 5 ns:", "", *jet_rows(), "",
                      "SVHN CNN, ap_fixed<16,6>, 50 % pruned, RF 1, xcu250, 5 ns:", "", *svhn_rows()])
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
