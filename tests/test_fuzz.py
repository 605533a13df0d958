"""The project's own mutation fuzz test (tests/fuzzing.py: the contract, the seeds, the mutations).

- test_fuzz_bounded: every mutation kind on a few cases drawn by hypothesis, derandomized (the
  same cases on every run), some through the `qconv sim` command and, for mutations aimed at the
  C++ backend, the g++ C simulation; about a minute on two cores. Any traceback, hang, crash,
  mismatch, accepted NaN, unverifiable acceptance, CLI or csim disagreement fails it with a
  reproducer: `python -m tests.fuzzing --replay <seed>.<mutation>.<number>`.
- test_fuzz_campaign (marker `fuzz`, skipped unless QCONV_FUZZ_CASES is set): a long campaign,
  `QCONV_FUZZ_CASES=2000 [QCONV_FUZZ_SEED=0] pytest -m fuzz tests/test_fuzz.py`; the failing
  cases are saved with their reproducers in QCONV_FUZZ_OUT (default build/fuzz-pytest).
- The harness tests below break qconv on purpose (monkeypatched before the fork) and check that
  each kind of failure is caught, so that a green fuzz run means something.
"""

from __future__ import annotations

import os
import signal
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from qconv.errors import ModelError

from . import fuzzing

CASES_PER_KIND = 8


@pytest.mark.parametrize("seed", sorted(fuzzing.SEEDS))
def test_seed_is_usable(seed):
    """qconv compiles every seed, and equals the qonnx reference on the exact ones."""
    fuzzing.baseline(seed)


@pytest.mark.slow  # ~80 s in all; CI runs it (make test), make test-fast does not
@pytest.mark.parametrize("mutation", sorted(fuzzing.MUTATIONS))
@settings(max_examples=CASES_PER_KIND, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
@given(start=st.integers(0, 10**6), number=st.integers(0, 2**31 - 1))
def test_fuzz_bounded(mutation, start, number):
    if not fuzzing.applies_somewhere(mutation):
        pytest.skip(f"{mutation} applies to none of the available seeds")
    # the same derandomized draws for every kind: the seed choice also depends on the kind
    case = fuzzing.draw_case(mutation, start + zlib.crc32(mutation.encode()), number)
    assume(case is not None)
    backend = fuzzing.MUTATIONS[mutation].backend  # C++ names, comments: also the g++ C simulation
    result = fuzzing.run_case(case, cli_check=number % fuzzing.CLI_EVERY == 0, csim_check=backend and number % 64 == 0)
    if result.failed:
        pytest.fail(f"{result.report(case)}\n{result.trace}", pytrace=False)


@pytest.mark.fuzz
@pytest.mark.skipif(not os.environ.get("QCONV_FUZZ_CASES"), reason="set QCONV_FUZZ_CASES=N for a long campaign")
def test_fuzz_campaign():
    out = Path(os.environ.get("QCONV_FUZZ_OUT", fuzzing.ROOT / "build" / "fuzz-pytest"))
    summary = fuzzing.campaign(int(os.environ["QCONV_FUZZ_CASES"]), int(os.environ.get("QCONV_FUZZ_SEED", "0")), out)
    print(summary.table())
    if summary.failures:
        pytest.fail(f"{summary.failures} failing cases, {len(summary.findings)} distinct (saved in {out}):\n"
                    f"{summary.findings_markdown()}\n{summary.table()}", pytrace=False)


# ------------------------------------------------------------------- the harness catches failures

SEED = "rand_eltwise"  # generated (no ../shared needed), with Quant nodes


def _case(mutation: str):
    return next(c for n in range(50) if (c := fuzzing.make_case(SEED, mutation, n)) is not None)


def _shifted(simulate):
    """A simulator one LSB off on every output."""
    def wrong(graph, inputs):
        result = simulate(graph, inputs)
        result.outputs = {k: v + 1 for k, v in result.outputs.items()}
        return result
    return wrong


def _loops_forever(*args, **kwargs):
    while True:
        pass


def _deaf_sleep(*args, **kwargs):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    time.sleep(3600)


def _segfaults(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGSEGV)


def _allocates(*args, **kwargs):
    return np.ones(fuzzing.MEMORY_LIMIT // 8 + (1 << 28), np.int64)  # beyond the child's limit


def _raises(*args, **kwargs):
    raise KeyError("boom")


def test_harness_accepts_good_behaviour():
    assert fuzzing.run_case(_case("dangling_input"), cli_check=True).outcome == fuzzing.CLEAN_ERROR
    assert fuzzing.run_case(_case("insert_identity"), cli_check=True).outcome == fuzzing.CHECKED
    assert fuzzing.run_case(_case("quant_scale_po2"), cli_check=True).outcome == fuzzing.CHECKED
    assert fuzzing.run_case(_case("rename_colliding"), csim_check=True).outcome == fuzzing.CHECKED


@pytest.mark.parametrize("patch,mutation,outcome", [
    (_raises, "insert_identity", fuzzing.TRACEBACK),
    (_allocates, "insert_identity", fuzzing.TRACEBACK),
    (_loops_forever, "insert_identity", fuzzing.HANG),
    (_deaf_sleep, "insert_identity", fuzzing.HANG),
    (_segfaults, "insert_identity", fuzzing.CRASH),
])
def test_harness_catches_broken_compiler(monkeypatch, patch, mutation, outcome):
    case = _case(mutation)
    fuzzing.baseline(case.seed)  # computed with the real compiler, at its usual time limit (cached)
    monkeypatch.setattr(fuzzing, "TIMEOUT", 1.0)
    monkeypatch.setattr(fuzzing, "KILL_GRACE", 1.0)
    monkeypatch.setattr(fuzzing, "compile_model", patch)
    result = fuzzing.run_case(case)
    assert result.outcome == outcome, result
    assert result.failed and result.site


def test_harness_catches_a_refused_equivalent_model(monkeypatch):
    """A clean error is a failure on a model equivalent to its seed (refused), and accepted on a
    malformed one."""
    def refuses(*args, **kwargs):
        raise ModelError("refused")
    case = _case("insert_identity")
    fuzzing.baseline(case.seed)
    monkeypatch.setattr(fuzzing, "compile_model", refuses)
    result = fuzzing.run_case(case)
    assert result.outcome == fuzzing.REFUSED and result.failed, result
    assert fuzzing.run_case(_case("dangling_input")).outcome == fuzzing.CLEAN_ERROR


@pytest.mark.parametrize("mutation", ["insert_identity", "quant_scale_po2"])
def test_harness_catches_wrong_outputs(monkeypatch, mutation):
    """A metamorphic (same) and a reference mismatch."""
    case = _case(mutation)
    fuzzing.baseline(case.seed)
    monkeypatch.setattr(fuzzing, "simulate", _shifted(fuzzing.simulate))
    assert fuzzing.run_case(case).outcome == fuzzing.MISMATCH


def test_harness_catches_accepted_nan(monkeypatch):
    simulate = fuzzing.simulate

    def nan_to_zero(graph, inputs):
        return simulate(graph, {k: np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in inputs.items()})
    case = _case("inputs_nonfinite")
    fuzzing.baseline(case.seed)
    monkeypatch.setattr(fuzzing, "simulate", nan_to_zero)
    assert fuzzing.run_case(case).outcome == fuzzing.NAN_ACCEPTED


def test_harness_catches_unverifiable_acceptance(monkeypatch):
    def no_reference(*args, **kwargs):
        raise RuntimeError("the reference cannot run this model")
    monkeypatch.setattr(fuzzing, "_reference", no_reference)
    assert fuzzing.run_case(_case("quant_scale_po2")).outcome == fuzzing.UNVERIFIED


def test_harness_catches_csim_mismatch(monkeypatch):
    import qconv.cli
    from qconv.errors import MismatchError

    def differs(*args, **kwargs):
        raise MismatchError("sample 0, output y: sim 1, csim 2")
    if not fuzzing.toolchain_available():
        pytest.skip("no g++ or ap_types headers")
    case = _case("rename_cpp_keywords")
    fuzzing.baseline(case.seed)
    monkeypatch.setattr(qconv.cli, "_csim", differs)
    result = fuzzing.run_case(case, csim_check=True)
    assert result.outcome == fuzzing.CSIM and "exit 1" in result.detail, result


def test_harness_catches_cli_traceback(monkeypatch):
    """The in-process pipeline fails cleanly, the CLI (patched) with a traceback."""
    import qconv.pipeline
    case = _case("dangling_input")
    fuzzing.baseline(case.seed)
    monkeypatch.setattr(qconv.pipeline, "compile_model", _raises)
    result = fuzzing.run_case(case, cli_check=True)
    assert result.outcome == fuzzing.CLI and "KeyError" in result.detail, result
