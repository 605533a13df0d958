#!/usr/bin/env python3
"""Prove that a refactoring changed no generated project: fingerprint every file qconv writes for
every model of the corpus, then compare two fingerprints.

    python scripts/snapshot_projects.py write ../shared/models before.json   # on the old commit
    python scripts/snapshot_projects.py write ../shared/models after.json    # on the new commit
    python scripts/snapshot_projects.py compare before.json after.json
    python scripts/snapshot_projects.py write ../shared/models after.json --keep after_dir   # keep the projects
    python scripts/snapshot_projects.py diff before_dir after_dir [MODEL [FILE]]            # unified diffs

Each model is compiled as `qconv conform` does (conformance/expected.json's per-model types, its
--input-type/--default-type defaults, the float-weight fallback) and written with `write_project`
and 2 random test samples (seed 0). A file's fingerprint is the SHA-256 of its text without
comment lines (`//` and `#` comments) and, in parameters.h, without `#include` lines: what a
refactoring may change freely. `compare` prints the models, files and first differing line and
exits 1 on any difference; models that fail to compile must fail the same way in both.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qconv.conform import DEFAULT_DEFAULT_TYPE, DEFAULT_INPUT_TYPE, _compile, find_models  # noqa: E402


def normalized(path: Path) -> list[str]:
    lines = path.read_text(errors="replace").splitlines()
    keep = []
    for line in lines:
        text = line.strip()
        if text.startswith("//") or (text.startswith("#") and not text.startswith(("#include", "#pragma", "#define",
                                                                                   "#if", "#endif", "#else"))):
            continue
        if path.name == "parameters.h" and text.startswith("#include"):
            continue
        keep.append(line.rstrip())
    return keep


def fingerprint(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project)): hashlib.sha256("\n".join(normalized(p)).encode()).hexdigest()
            for p in sorted(project.rglob("*")) if p.is_file()}


def write(root: Path, out: Path, keep: Path | None = None) -> None:
    from qconv.backend.project import write_project
    from qconv.errors import QconvError
    from qconv.pipeline import random_inputs
    from qconv.sim import run
    options = json.loads((ROOT / "conformance" / "expected.json").read_text()).get("options", {})
    result = {}
    for path in find_models(root):
        key = str(path.relative_to(root))
        opts = {"input_type": DEFAULT_INPUT_TYPE, "default_type": DEFAULT_DEFAULT_TYPE, **options.get(key, {})}
        try:
            graph = _compile(path, opts["input_type"], opts["default_type"], [])
            inputs = random_inputs(graph, 2, 0)
            with tempfile.TemporaryDirectory() as tmp:
                project = Path(tmp) if keep is None else keep / key
                write_project(graph, project, inputs, run(graph, inputs).outputs)
                result[key] = fingerprint(project)
        except QconvError as exc:
            result[key] = {"error": str(exc)}
        print(f"{key}: {len(result[key])} files", file=sys.stderr)
    out.write_text(json.dumps(result, indent=1, sort_keys=True))


def compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    differ = 0
    for model in sorted(set(a) | set(b)):
        fa, fb = a.get(model, {}), b.get(model, {})
        changed = sorted(f for f in set(fa) | set(fb) if fa.get(f) != fb.get(f))
        if changed:
            differ += 1
            print(f"{model}: {len(changed)} files differ: {', '.join(changed[:8])}")
    files = sum(len(v) for v in a.values())
    print(f"{len(a)} models, {files} files before, {sum(len(v) for v in b.values())} after; "
          f"{differ} models differ")
    return 1 if differ else 0


def diff(before: Path, after: Path, model: str | None = None, name: str | None = None) -> int:
    """Unified diffs of the kept projects (`write ... --keep DIR`), comment lines and parameters.h's
    includes removed as in the fingerprint; all models and files, one model's, or one file's."""
    import difflib
    differ = 0
    models = [model] if model else sorted(str(p.parent.relative_to(before)) for p in before.rglob("firmware"))
    for key in models:
        a_dir, b_dir = before / key, after / key
        files = sorted({str(p.relative_to(a_dir)) for p in a_dir.rglob("*") if p.is_file()}
                       | {str(p.relative_to(b_dir)) for p in b_dir.rglob("*") if p.is_file()})
        for rel in files:
            if name and rel != name and Path(rel).name != name:
                continue
            a = normalized(a_dir / rel) if (a_dir / rel).is_file() else []
            b = normalized(b_dir / rel) if (b_dir / rel).is_file() else []
            if a != b:
                differ += 1
                sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
                    a, b, f"before/{key}/{rel}", f"after/{key}/{rel}", lineterm=""))
    return 1 if differ else 0


if __name__ == "__main__":
    cmd = sys.argv[1:2]
    if cmd == ["write"] and len(sys.argv) == 6 and sys.argv[4] == "--keep":
        write(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[5]))
    elif cmd == ["write"] and len(sys.argv) == 4:
        write(Path(sys.argv[2]), Path(sys.argv[3]))
    elif cmd == ["diff"] and 4 <= len(sys.argv) <= 6:
        sys.exit(diff(Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:]))
    elif cmd == ["compare"] and len(sys.argv) == 4:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
