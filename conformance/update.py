"""Write conformance/expected.json's `expected` section from a `qconv conform --json` run,
keeping its `options` and `expected_status`. Exactness floors are the measured values rounded down to 4 digits.
With `--table`, print the README's Conformance table from the run instead; `--expected FILE` writes
another expectations file (conformance/expected_ort.json for the onnxruntime-quantized corpus)."""

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _floor(value: float) -> float:
    return math.floor(value * 1e4) / 1e4


def main(rows_path: str, path: Path = HERE / "expected.json") -> None:
    rows = json.loads(Path(rows_path).read_text())
    data = json.loads(path.read_text()) if path.exists() else {}
    expected = {}
    for r in rows:
        entry = {"status": r["status"].split(":")[0]}
        if entry["status"] == "ok":
            entry["min_exact"] = _floor(r["exact"])
            if r["argmax"] is not None:
                entry["min_argmax"] = _floor(r["argmax"])
            if r.get("tail_exact") is not None:
                entry["min_tail_exact"] = _floor(r["tail_exact"])
            if r["csim"] != "-":
                done, total = map(int, r["csim"].split("/"))
                entry["csim"] = done == total
        expected[r["model"]] = entry
    data["expected"] = expected
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(expected)} models")


def table(rows_path: str) -> str:
    """The README table: one row per model; an ok row's notes (first clause each) in brackets."""
    def fmt(v, f):
        return "-" if v is None else format(v, f)
    lines = ["| model | ops | status | exact elements | max abs err | argmax | last quantizer exact | csim bit-exact |",
             "|---|---|---|---|---|---|---|---|"]
    for r in json.loads(Path(rows_path).read_text()):
        notes = [n.split(";")[0] for n in r["notes"]]
        if r.get("ambiguous"):  # passes/float32_error.py
            a = r["ambiguous"]
            notes.append(f"{'at least ' if a['lower_bound'] else ''}{a['count']} of {a['total']} accumulator values "
                         "within float32 error of a rounding boundary")
        notes = "; ".join(notes)
        status = r["status"][:100] if r["status"] != "ok" else "ok" + (f" ({notes})" if notes else "")
        lines.append(f"| `{r['model']}` | {r['ops']} | {status} | {fmt(r['exact'], '.4f')} | "
                     f"{fmt(r['max_abs_err'], '.3g')} | {fmt(r['argmax'], '.3f')} | "
                     f"{fmt(r.get('tail_exact'), '.4f')} | {r['csim']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", help="a `qconv conform --json` file")
    ap.add_argument("--table", action="store_true", help="print the README table instead")
    ap.add_argument("--expected", type=Path, default=HERE / "expected.json", help="the expectations file to write")
    a = ap.parse_args()
    if a.table:
        print(table(a.rows))
    else:
        main(a.rows, a.expected)
