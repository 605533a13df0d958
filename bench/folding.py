"""How long the --target-ii folding search takes (issue 13: "well under a second" of build time).

    python bench/folding.py [--rounds 5]

For the largest corpus models by products per sample (tiny_unet 512x512, separable_conv 512x512,
the ESPCN super-resolution model, sdp attention; plus the largest io_parallel MLPs), times
qconv.design.folding.plan with a --target-ii at a few values, after compiling the graph (compiling is
not part of the search). Median of the rounds; the anchor is the 1 s budget, printed as a ratio.
The large-image models need io_stream on hardware: the guard is off (--unroll-limit 0) so the
search runs over every layer as it would for a streaming design.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qconv.design.folding import DesignOptions, plan  # noqa: E402
from qconv.design.parts import find_part  # noqa: E402
from qconv.pipeline import compile_model  # noqa: E402

MODELS = ["example-models/tiny_unet_ch_last.onnx", "example-models/separable_conv_model_ch_last.onnx",
          "qonnx/bsd300x3-espcn/subpixel/float_model.onnx", "qonnx/sdp.onnx", "example-models/dense_big_keras.onnx",
          "qonnx_model_zoo/kwsmlp_w3a3.onnx"]
TYPES = {"input_type": "ap_fixed<8,3>", "default_type": "ap_fixed<18,8,AP_RND_CONV,AP_SAT>"}
BUDGET = 1.0  # seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--root", default=str(ROOT.parent / "shared" / "models"))
    args = ap.parse_args()
    part = find_part("xcvu13p")
    print("| model | layers | products / sample | target II | search (ms, median) | of the 1 s budget |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for rel in MODELS:
        graph = compile_model(Path(args.root) / rel, **TYPES)
        full = plan(graph, DesignOptions(part, unroll_limit=0))
        products = sum(_products(graph, n) for n in full.layers)
        for target in (full.interval * 4, full.interval * 64):
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                plan(graph, DesignOptions(part, target_ii=target, unroll_limit=0))
                times.append(time.perf_counter() - t0)
            t = statistics.median(times)
            worst = max(worst, t)
            print(f"| {rel} | {len(full.layers)} | {products:,} | {target:,} | {1000 * t:.1f} | {t / BUDGET:.3f} |")
    print(f"\nslowest search: {1000 * worst:.1f} ms = {worst / BUDGET:.3f} of the {BUDGET:g} s budget")


def _products(graph, name: str) -> int:
    from qconv import ops
    from qconv.design.cost import fold_shape
    node = graph.node(name)
    if not ops.has(node.op, ops.FOLDS):
        return 0
    units, per = fold_shape(node)
    return units * per


if __name__ == "__main__":
    main()
