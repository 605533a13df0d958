"""Every corpus model on a part with --io auto: the smallest --target-ii (from a ladder) whose
design fits, by qconv's cost model, and which architecture --io auto chose for it (issue 13 and
14's README table).

    python bench/fit_corpus.py [--root ../shared/models] [--part xcvu13p] [--json conformance/fit.json]
                               [--markdown out.md] [-k text]

Each model compiles with its conformance options (conformance/expected.json, else `qconv
conform`'s default input/default types). For T in 1, 2, 4, 8, ... (up to 2^24) the --io auto
choice runs (design/folding.py plan_auto: io_parallel when it is synthesizable and fits, else
io_stream, each with the folding search for T); the first T whose design fits the part is the
model's row. bench/folding.py times the search.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qconv import ops  # noqa: E402
from qconv.conform import DEFAULT_DEFAULT_TYPE, DEFAULT_INPUT_TYPE, find_models  # noqa: E402
from qconv.design.folding import DesignError, DesignOptions, plan_auto  # noqa: E402
from qconv.design.parts import find_part  # noqa: E402
from qconv.errors import QconvError  # noqa: E402
from qconv.pipeline import compile_model  # noqa: E402

LADDER = [2 ** i for i in range(25)]


def _options(root: Path) -> dict:
    spec = json.loads((ROOT / "conformance" / "expected.json").read_text())
    return spec.get("options", {})


def fit(path: Path, rel: str, part, opts: dict) -> dict:
    row = {"model": rel, "input_type": opts.get("input_type", DEFAULT_INPUT_TYPE),
           "default_type": opts.get("default_type", DEFAULT_DEFAULT_TYPE)}
    try:
        graph = compile_model(path, input_type=row["input_type"], default_type=row["default_type"])
    except QconvError as exc:
        return {**row, "status": f"not compiled: {exc}"}
    last = None
    for target in LADDER:
        try:
            d, why = plan_auto(graph, DesignOptions(part, target_ii=target))
        except DesignError:
            continue
        last = d
        if d.fits:
            folded = [ld for ld in d.layers.values() if ld.reuse_factor > 1 or ld.folded]
            rs = sorted({ld.reuse_factor for ld in d.layers.values() if ops.has(ld.op, ops.MAC)})
            return {**row, "status": "fits", "io": d.io, **({"why": why} if why else {}), "target_ii": target,
                    "interval": d.interval, "latency": d.latency, "reuse_factors": rs, "folded_layers": len(folded),
                    "layers": len(d.layers), **{k: d.totals[k] for k in ("dsp", "lut", "ff", "bram18", "uram")},
                    "limiting": d.limiting_resource, "utilization": round(d.utilization()[d.limiting_resource], 3)}
    if last is None:
        return {**row, "status": "no target up to 2^24 gives a design"}
    worst = max(last.layers.values(), key=lambda ld: getattr(ld.cost, last.limiting_resource))
    return {**row, "status": f"does not fit at any II: {last.limiting_resource} "
                              f"{last.totals[last.limiting_resource]:,} (layer {worst.name}, {worst.op})"}


def markdown(rows: list[dict], part: str) -> str:
    lines = [f"| model | architecture | target II | interval | latency | R (Dense/Conv/MatMul) | DSP | LUT | FF | "
             f"BRAM18 | fits {part} |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] == "fits":
            rs = r["reuse_factors"]
            summary = "-" if not rs else (str(rs[0]) if len(rs) == 1 else f"{rs[0]}..{rs[-1]}")
            lines.append(f"| {r['model']} | {r['io']} | {r['target_ii']:,} | {r['interval']:,} | {r['latency']:,} | "
                         f"{summary} | {r['dsp']:,} | {r['lut']:,} | {r['ff']:,} | {r['bram18']:,} | yes "
                         f"({r['limiting']} {100 * r['utilization']:.0f}%) |")
        else:
            lines.append(f"| {r['model']} | - | - | - | - | - | - | - | - | - | {r['status']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(ROOT.parent / "shared" / "models"))
    ap.add_argument("--part", default="xcvu13p")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("-k")
    args = ap.parse_args()
    root, part = Path(args.root).resolve(), find_part(args.part)
    per_model = _options(root)
    rows = []
    for path in find_models(root):
        rel = str(path.relative_to(root))
        if args.k and args.k not in rel:
            continue
        rows.append(fit(path, rel, part, per_model.get(rel, {})))
        r = rows[-1]
        print(f"{rel}: {r['status']}" + (f" {r['io']} T={r['target_ii']} DSP {r['dsp']} LUT {r['lut']} latency {r['latency']}"
                                          if r["status"] == "fits" else ""), flush=True)
    fits = sum(r["status"] == "fits" for r in rows)
    stream = sum(r.get("io") == "io_stream" for r in rows)
    print(f"summary: {fits}/{len(rows)} fit {part.name} with --io auto, {stream} of them as io_stream")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows, part.name) + "\n")


if __name__ == "__main__":
    main()
