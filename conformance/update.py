"""Write conformance/expected.json's `expected` section from a `qconv conform --json` run,
keeping its `options`. Exactness floors are the measured values rounded down to 4 digits."""

import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(rows_path: str) -> None:
    rows = json.loads(Path(rows_path).read_text())
    path = HERE / "expected.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    expected = {}
    for r in rows:
        entry = {"status": r["status"].split(":")[0]}
        if entry["status"] == "ok":
            entry["min_exact"] = math.floor(r["exact"] * 1e4) / 1e4
            if r["argmax"] is not None:
                entry["min_argmax"] = math.floor(r["argmax"] * 1e4) / 1e4
            if r["csim"] != "-":
                done, total = map(int, r["csim"].split("/"))
                entry["csim"] = done == total
        expected[r["model"]] = entry
    data["expected"] = expected
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(expected)} models")


if __name__ == "__main__":
    main(sys.argv[1])
