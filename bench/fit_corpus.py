"""Every corpus model on a part: the smallest --target-ii (from a ladder) whose io_parallel design
qconv's cost model says fits, or why none does (issue 13's README table).

    python bench/fit_corpus.py [--root ../shared/models] [--part xcvu13p] [--json conformance/fit.json]
                               [--markdown out.md] [-k text]

Each model compiles with its conformance options (conformance/expected.json, else `qconv
conform`'s default input/default types). For T in 1, 2, 4, 8, ... (up to 2^24) the folding search
(qconv/design/folding.py) runs; the first T whose design passes the synthesizability guard and
fits the part is the model's row. A model whose input or some feature map alone is over the
unroll limit cannot be an io_parallel design at any T: its row says it needs the streaming
architecture. bench/folding.py times the search.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qconv import ops  # noqa: E402
from qconv.conform import DEFAULT_DEFAULT_TYPE, DEFAULT_INPUT_TYPE, find_models  # noqa: E402
from qconv.design.folding import DesignError, DesignOptions, plan  # noqa: E402
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
            d = plan(graph, DesignOptions(part, target_ii=target))
        except DesignError as exc:
            text = str(exc)
            if "streaming architecture" in text:
                return {**row, "status": "needs io_stream", "why": text}
            continue
        last = d
        if d.fits:
            folded = [ld for ld in d.layers.values() if ld.reuse_factor > 1 or ld.folded]
            rs = sorted({ld.reuse_factor for ld in d.layers.values() if ops.has(ld.op, ops.MAC)})
            return {**row, "status": "fits", "target_ii": target, "interval": d.interval, "latency": d.latency,
                    "reuse_factors": rs, "folded_layers": len(folded), "layers": len(d.layers),
                    **{k: d.totals[k] for k in ("dsp", "lut", "ff", "bram18", "uram")},
                    "limiting": d.limiting_resource, "utilization": round(d.utilization()[d.limiting_resource], 3)}
    if last is None:
        return {**row, "status": "no target up to 2^24 passes the guard"}
    worst = max(last.layers.values(), key=lambda ld: getattr(ld.cost, last.limiting_resource))
    return {**row, "status": f"does not fit at any II: {last.limiting_resource} "
                              f"{last.totals[last.limiting_resource]:,} (layer {worst.name}, {worst.op})"}


def _where(why: str) -> str:
    """What keeps a model out of io_parallel, short: the input or the layer output over the limit."""
    m = re.search(r"'([^']+)' has ([\d,]+) elements", why)
    if m:
        return f" (input {m.group(1)}: {m.group(2)} elements)"
    m = re.search(r"'([^']+)' \((\w+)\) partitions its output into ([\d,]+)", why)
    return f" ({m.group(2)} {m.group(1)}: {m.group(3)}-element output)" if m else ""


def markdown(rows: list[dict], part: str) -> str:
    lines = [f"| model | target II | interval | latency | R (Dense/Conv/MatMul) | DSP | LUT | FF | BRAM18 | "
             f"fits {part} |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] == "fits":
            rs = r["reuse_factors"]
            summary = "-" if not rs else (str(rs[0]) if len(rs) == 1 else f"{rs[0]}..{rs[-1]}")
            lines.append(f"| {r['model']} | {r['target_ii']:,} | {r['interval']:,} | {r['latency']:,} | {summary} | "
                         f"{r['dsp']:,} | {r['lut']:,} | {r['ff']:,} | {r['bram18']:,} | yes ({r['limiting']} "
                         f"{100 * r['utilization']:.0f}%) |")
        else:
            lines.append(f"| {r['model']} | - | - | - | - | - | - | - | - | {r['status']}{_where(r.get('why', ''))} |")
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
        print(f"{rel}: {r['status']}" + (f" T={r['target_ii']} DSP {r['dsp']} LUT {r['lut']} latency {r['latency']}"
                                          if r["status"] == "fits" else ""), flush=True)
    fits = sum(r["status"] == "fits" for r in rows)
    stream = sum(r["status"] == "needs io_stream" for r in rows)
    print(f"summary: {fits}/{len(rows)} fit {part.name} in io_parallel, {stream} need io_stream")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows, part.name) + "\n")


if __name__ == "__main__":
    main()
