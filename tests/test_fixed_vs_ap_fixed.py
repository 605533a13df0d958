"""Differential test: qconv.fixed against the genuine Xilinx ap_fixed headers, bit for bit.

One generated C++ program (compiled once) evaluates thousands of random conversions:
(a) ``ap_[u]fixed<W,I,Q,O> x = (double)v`` and (b) ``ap_[u]fixed<W2,I2,Q,O> y = ap_[u]fixed<W1,I1>``,
over all 7 x 4 (rounding, overflow) pairs, signed and unsigned, widths 1..48, integer bits from
negative to beyond the width. It prints the raw result bits; Python compares them to qconv.fixed.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time

import numpy as np
import pytest

from qconv.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType, csim_cast_asserts
from qconv.toolchain import compile_cpp

from .conftest import require_toolchain

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("QCONV_DIFF_SEED", "20240611"))  # fixed unless explored on purpose
TYPES_PER_MODE = 3       # distinct destination types per (rounding, overflow, signed)
VALUES_PER_TYPE = 96     # cases per instantiation

MODE_COMBOS = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES, (True, False)))


def _random_width(rng, signed):
    r = rng.random()
    if r < 0.12:
        return int(rng.integers(1, 4))        # 1-bit types have their own quirks
    if r < 0.24:
        return int(rng.integers(33, 49))
    if r < 0.28:
        return int(rng.integers(49, 65 if signed else 64))  # int64 edge cases
    return int(rng.integers(1, 33))


def _random_type(rng, q, o, signed, width=None):
    w = width or _random_width(rng, signed)
    r = rng.random()
    if r < 0.1:
        i = int(rng.integers(-30, 1))                  # all-fraction, negative I
    elif r < 0.2:
        i = w + int(rng.integers(1, 30))               # I > W: lsb above 1
    else:
        i = int(rng.integers(-4, w + 5))
    return FixedType(w, i, signed, q, o)


def _double_values(rng, t: FixedType, n):
    """Doubles aimed at t: random, exact ties, near the bounds, huge, tiny, zero, subnormal."""
    lo, hi = t.min_mantissa, t.max_mantissa
    span = hi - lo + 1
    k = rng.integers(max(lo - span, -2**62), min(hi + span, 2**62), size=n, endpoint=True)
    k = k.astype(np.float64)
    kind = rng.integers(0, 8, size=n)
    frac = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                     [0.0, 0.5, rng.random(n), rng.choice([0.25, 0.75, 0.5 - 2.0**-20, 0.5 + 2.0**-20], n)],
                     rng.random(n))
    vals = list(np.ldexp(k + frac, -t.frac))
    # exact ties and edges around both bounds and zero (-0.5 lsb, max + 0.5 lsb, min - 0.5 lsb ...)
    for m in (lo, hi, 0, -1, 1, lo + 1, hi - 1):
        for d in (-1.0, -0.5, 0.0, 0.5, 1.0):
            vals.append(np.ldexp(m + d, -t.frac))
    big = rng.integers(2**52, 2**53, size=6).astype(np.float64)
    sh = rng.integers(0, 80, size=6)
    sign = rng.choice([-1.0, 1.0], size=6)
    vals += list(sign * np.ldexp(big, sh - t.frac))     # huge: wraps of values >= 2**63 lsb
    vals += [1e300, -1e300, 2.0**1000 * 3, -(2.0**70), 2.0**63, -(2.0**63), 2.0**64]
    vals += [0.0, -0.0, 5e-324, -5e-324, 2.0**-1000, -(2.0**-1000), -(2.0**-1074) * 3]
    vals += list(sign * np.ldexp(big, -sh - t.frac - 53))  # tiny fractions of an lsb
    return np.array(vals, dtype=np.float64)


def _source_mantissas(rng, src: FixedType, dst: FixedType, n):
    """Random src mantissas plus edges and exact ties at dst's lsb."""
    lo, hi = src.min_mantissa, src.max_mantissa
    m = rng.integers(lo, hi, size=n, dtype=np.int64, endpoint=True)
    sh = src.frac - dst.frac
    if 0 < sh < src.width:  # force dropped-bit patterns: exact half, half +- 1, zero
        pats = np.array([1 << (sh - 1), (1 << (sh - 1)) + 1, (1 << (sh - 1)) - 1, 0], dtype=np.int64)
        sel = rng.random(n) < 0.5
        low = pats[rng.integers(0, 4, size=n)]
        mask = np.int64((1 << sh) - 1)
        m = np.where(sel, ((m & ~mask) | low), m)
        m = np.clip(m, lo, hi)
    edges = np.array([lo, hi, 0, min(1, hi), max(-1, lo), lo + (hi > lo), hi - (hi > lo)], dtype=np.int64)
    return np.concatenate([m, edges])


def _build_cases():
    rng = np.random.default_rng(SEED)
    from_double, from_fixed = [], []
    for q, o, signed in MODE_COMBOS:
        for j in range(TYPES_PER_MODE):  # the first type per combo is 1 or 2 bits wide
            dst = _random_type(rng, q, o, signed, int(rng.integers(1, 3)) if j == 0 else None)
            from_double.append((dst, _double_values(rng, dst, VALUES_PER_TYPE)))
        for j in range(TYPES_PER_MODE):
            src = _random_type(rng, "TRN", "WRAP", bool(rng.random() < 0.6))
            if j == 0:
                dst = _random_type(rng, q, o, signed, int(rng.integers(1, 3)))
            elif rng.random() < 0.6:   # near the source: both rounding and overflow happen
                w = min(max(1, src.width + int(rng.integers(-6, 4))), 64 if signed else 63)
                i = src.integer + int(rng.integers(-5, 4))
                dst = FixedType(w, i, signed, q, o)
            else:
                dst = _random_type(rng, q, o, signed)
            from_fixed.append((src, dst, _source_mantissas(rng, src, dst, VALUES_PER_TYPE)))
    # int64 edges for every (rounding, overflow): 63/64-bit types, shifts around and beyond 64 bits
    for n, (q, o) in enumerate(itertools.product(ROUNDING_MODES, OVERFLOW_MODES)):
        signed = n % 2 == 0
        dst = FixedType(64 if signed else 63, [-10, 0, 11, 64, 80, 1, 40][n % 7], signed, q, o)
        from_double.append((dst, _double_values(rng, dst, VALUES_PER_TYPE)))
        src_signed = n % 3 != 2
        src = FixedType(64 if src_signed else 63, [-3, 0, 30, 64, 70][n % 5], src_signed)
        shift = [63, 64, 65, 90, 62, -1, -10, -63, -64, -70][n % 10]
        w = int(rng.choice([1, 2, 23, 64 if signed else 63]))
        dst = FixedType(w, w - (src.frac - shift), signed, q, o)
        from_fixed.append((src, dst, _source_mantissas(rng, src, dst, VALUES_PER_TYPE)))
    for dst in (FixedType(64, -1000, True, "RND_CONV", "SAT"), FixedType(40, -1030, False, "RND", "WRAP")):
        from_double.append((dst, _double_values(rng, dst, VALUES_PER_TYPE)))  # subnormal inputs
    return from_double, from_fixed


CPP_HEAD = """
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <ap_fixed.h>
typedef unsigned long long u64;
template <class D> u64 from_double(u64 bits) {
  double v; std::memcpy(&v, &bits, sizeof v);
  D d = v;
  return d.bits_to_uint64();
}
template <class S, class D> u64 from_fixed(u64 bits) {
  S s; s.setBits(bits);
  D d = s;
  return d.bits_to_uint64();
}
int main() {
  int id; u64 bits;
  while (std::scanf("%d %llx", &id, &bits) == 2) {
    u64 r = 0;
    switch (id) {
"""
CPP_TAIL = """
      default: std::printf("bad id %d\\n", id); return 1;
    }
    std::printf("%llx\\n", r);
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def header_results(tmp_path_factory):
    ap_types, _ = require_toolchain()
    from_double, from_fixed = _build_cases()
    cases, lines, cpp = [], [], [CPP_HEAD]
    for fid, (dst, vals) in enumerate(from_double):
        cpp.append(f"      case {fid}: r = from_double<{dst.to_cpp()} >(bits); break;\n")
        for v in vals:
            lines.append(f"{fid} {v.view(np.uint64):x}")
        cases.append(("double", None, dst, vals))
    for j, (src, dst, mants) in enumerate(from_fixed):
        fid = len(from_double) + j
        cpp.append(f"      case {fid}: r = from_fixed<{src.to_cpp()}, {dst.to_cpp()} >(bits); break;\n")
        for m in mants:
            lines.append(f"{fid} {int(m) & (2**64 - 1):x}")
        cases.append(("fixed", src, dst, mants))
    cpp.append(CPP_TAIL)
    work = tmp_path_factory.mktemp("ap_fixed_diff")
    (work / "diff.cpp").write_text("".join(cpp))
    (work / "cases.txt").write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    # -DNDEBUG: ap_private::get_bit asserts on a bit index beyond the source MSB, which
    # ap_fixed_base::operator= evaluates (then ignores) when rounding drops more bits than the source
    # has; see test_rounding_cast_beyond_source_msb_asserts.
    exe = compile_cpp([work / "diff.cpp"], work / "diff", [ap_types], opt="-O1", extra=["-DNDEBUG"])
    t1 = time.perf_counter()
    with open(work / "cases.txt") as fin:
        out = subprocess.run([str(exe)], stdin=fin, capture_output=True, text=True, check=True).stdout
    t2 = time.perf_counter()
    got = [int(tok, 16) for tok in out.split()]
    assert len(got) == len(lines), "the C++ program did not answer every case"
    print(f"\n{len(lines)} cases, {len(cases)} instantiations: g++ {t1 - t0:.1f}s, run {t2 - t1:.2f}s")
    results, pos = [], 0
    for kind, src, dst, inputs in cases:
        bits = np.array(got[pos:pos + len(inputs)], dtype=object)
        pos += len(inputs)
        results.append((kind, src, dst, inputs, [_signed_bits(int(b), dst) for b in bits]))
    return results


def _signed_bits(raw, t: FixedType):
    raw &= (1 << t.width) - 1
    return raw - (1 << t.width) if t.signed and raw >> (t.width - 1) else raw


def _compare(results, kind):
    mismatches, total, per_mode = [], 0, {}
    for k, src, dst, inputs, header in results:
        if k != kind:
            continue
        ours = dst.from_float(inputs) if kind == "double" else dst.cast(inputs, src)
        for x, h, o in zip(inputs, header, ours.tolist()):
            total += 1
            key = (dst.rounding, dst.overflow, dst.signed)
            per_mode[key] = per_mode.get(key, 0) + 1
            if h != o:
                what = (f"double {float(x)!r} ({float(x).hex()})" if kind == "double"
                        else f"{src.to_cpp()} mantissa {int(x)} (= {float(src.to_float(x))!r})")
                mismatches.append(f"{what} -> {dst.to_cpp()}: header {h}, qconv.fixed {o}")
    return mismatches, total, per_mode


def _check(results, kind):
    mismatches, total, per_mode = _compare(results, kind)
    assert set(per_mode) == set(MODE_COMBOS), "some (rounding, overflow, signed) combos were not tested"
    assert total > 5000
    assert not mismatches, (f"{len(mismatches)} of {total} {kind} conversions differ; first: "
                            + "\n".join(mismatches[:5]))


def test_double_to_ap_fixed_matches_headers(header_results):
    _check(header_results, "double")


def test_ap_fixed_to_ap_fixed_matches_headers(header_results):
    _check(header_results, "fixed")


@pytest.mark.parametrize("src, dst, aborts", [
    (FixedType(4, 2), FixedType(8, 11, True, "RND"), True),   # drops 5 bits of a 4-bit source
    (FixedType(4, 2), FixedType(8, 10, True, "RND"), False),  # drops exactly 4: fine
    (FixedType(3, -1, False), FixedType(2, 4, False, "RND_CONV", "SAT"), True),
    (FixedType(3, -1, False), FixedType(2, 4, False, "TRN_ZERO", "SAT"), False),
])
def test_rounding_cast_beyond_source_msb_asserts(tmp_path, src, dst, aborts):
    """Without NDEBUG, the header aborts on a rounding cast that drops more bits than src has."""
    ap_types, _ = require_toolchain()
    assert csim_cast_asserts(dst, src) == aborts
    assert not csim_cast_asserts(dst.with_modes("TRN"), src)
    cpp = tmp_path / "abort.cpp"
    cpp.write_text("#include <cstdio>\n#include <ap_fixed.h>\n"
                   f"int main() {{ {src.to_cpp()} s = 0; {dst.to_cpp()} d = s;\n"
                   "  std::printf(\"%d\\n\", d.to_int()); return 0; }\n")
    exe = compile_cpp([cpp], tmp_path / "abort", [ap_types])
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert (proc.returncode != 0 and "beyond MSB" in proc.stderr) == aborts, proc.stderr
