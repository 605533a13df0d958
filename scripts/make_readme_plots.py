"""The README's plots (issue 17), made by qconv itself: a sweep of three_layer_keras (a float
Keras MLP of ../shared/models, 16 -> 64 -> 32 -> 32 -> 5) over default types and reuse factors,
evaluated on 20,000 generated samples against the float model (argmax agreement), as a Pareto
plot; and the per-layer profile of the same data at ap_fixed<8,3>. Deterministic (seeded data,
exact counts), so a rerun writes the same numbers:

    .venv/bin/python scripts/make_readme_plots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from qconv.cli import main

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT.parent / "shared" / "models" / "example-models" / "three_layer_keras.onnx"
GRID = """\
default_type: ["ap_fixed<6,3>", "ap_fixed<8,3>", "ap_fixed<10,4>", "ap_fixed<12,5>", "ap_fixed<16,6>"]
reuse_factor: [1, 2, 4]
"""


def _qconv(*args) -> None:
    main([str(a) for a in args], standalone_mode=False)


def make(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "x.npy", np.random.default_rng(17).normal(0, 1, (20000, 16)).astype(np.float32))
        (tmp / "grid.yaml").write_text(GRID)
        _qconv("sweep", MODEL, "--grid", tmp / "grid.yaml", "--data", tmp / "x.npy", "-o", out / "sweep.csv",
               "--plot", out / "pareto.png", "--cache", tmp / "cache")
        _qconv("eval", MODEL, "--data", tmp / "x.npy", "--default-type", "ap_fixed<8,3>", "--profile",
               out / "profile.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    make(parser.parse_args().out)
