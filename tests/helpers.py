"""Test helpers: run the CLI in-process and check the C simulation verdict."""

from __future__ import annotations

import re

import numpy as np
from click.testing import CliRunner

from qconv.cli import main


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def build_and_csim(model, out, *extra, samples: int | None = None):
    """`qconv build MODEL -o OUT --csim ...`; asserts the csim is bit-exact on every sample."""
    args = ["build", model, "-o", out, "--csim", *extra]
    if samples is not None:
        args += ["--samples", samples]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    m = re.search(r"bit-exact: (\d+)/(\d+) samples", r.output)
    assert m, r.output
    assert m.group(1) == m.group(2) and int(m.group(2)) > 0, r.output
    return int(m.group(2))


def save_inputs(path, name: str, x: np.ndarray):
    np.savez(path, **{name: x})
    return path
