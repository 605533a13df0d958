"""design/fifo.py: the dataflow schedule model and the FIFO depths it gives, on graphs whose numbers
are derived by hand in the comments; line-buffer geometry against brute force; the bounded
simulation against a brute-force fixed point on random small graphs; speed on a 512x512 U-Net.

Conventions of every derivation (fifo.py module docstring): graph input token t is offered at
cycle t; a kernel of latency 1 writes the tokens of an iteration started at cycle s in cycle s
and they are readable from s + 1; a token holds a FIFO slot from its write cycle to its read
cycle inclusive (the Vitis FIFO's registered full flag), so a one-token-per-cycle stream needs 2."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from qconv.design.fifo import (MIN_DEPTH, Kernel, buffered, elementwise, fifo_depths, fifo_memory,
                               line_buffer, row_buffer, simulate, upsample, window_ends)

SKIP = ("clone", "add")


def conv3x3(name, src, size):
    return line_buffer(name, src, size, size, (3, 3), pads=(1, 1, 1, 1))


def residual():
    """x (8x8) -> clone -> conv1 -> conv2 -> add, and clone -> add (the skip)."""
    return [elementwise("clone", ["x"], 64), conv3x3("conv1", "clone", 8), conv3x3("conv2", "conv1", 8),
            elementwise("add", ["conv2", "clone"], 64)]


def unet_branch():
    """x (16x16) -> clone -> maxpool 2x2/2 -> conv 3x3 pad 1 (8x8) -> upsample x2 -> cat, and
    clone -> cat (the skip)."""
    return [elementwise("clone", ["x"], 256), line_buffer("pool", "clone", 16, 16, (2, 2), strides=(2, 2)),
            conv3x3("conv", "pool", 8), upsample("up", "conv", 8, 8, 2), elementwise("cat", ["up", "clone"], 256)]


def same_times(a, b):
    return a.times.keys() == b.times.keys() and all(np.array_equal(a.times[k], b.times[k]) for k in a.times)


# 1. Residual block. clone: token t at cycle t (visible t+1). conv1 scans the padded 10x10 grid,
# iteration 10y+x, reading pixel (y-1, x-1); pixel (r,c) = token 8r+c is read at iteration
# 10r+c+11 >= its arrival 8r+c+1, so conv1 never waits: iteration i at cycle i. Its first output
# is at iteration 22 (window end, padded (2,2), reading pixel (1,1) = token 9); output (oy,ox) is
# written at iteration 10oy+ox+22, visible at 10oy+ox+23. conv2 reads conv1 output (r,c) at its
# iteration 10r+c+11 but it arrives at 10r+c+23: from iteration 11 on conv2 runs 12 cycles behind
# (cycle i+12); its first output (iteration 22) reads conv1 output (1,1) (conv1 iteration 33,
# pixel (2,2) = clone token 18); its output (oy,ox) is visible at 10oy+ox+35, when add reads it
# together with skip token (oy,ox).
def test_residual_block():
    ks = residual()
    u = simulate(ks)
    assert u.starts == {"clone": 0, "conv1": 0, "conv2": 0, "add": 35}
    assert np.array_equal(np.flatnonzero(ks[1].writes)[:1], [22])            # first output of each conv
    assert (u.times["conv1"][22], u.times["conv2"][22]) == (22, 34)
    assert u.finishes == {"clone": 64, "conv1": 100, "conv2": 112, "add": 113} and u.latency == 113
    # Skip: the clone writes its last token (63) in cycle 63; by then add has read rows 0-2 (the
    # last at 20+7+35 = 62): 64 - 24 = 40 tokens held. clone->conv1: conv1 reads (r,c) at 10r+c+11;
    # before cycle 63 it read rows 0-4 and (5,0), (5,1): 64 - 42 = 22.
    depths = fifo_depths(ks)
    assert depths == {("clone", "conv1"): 22, ("conv1", "conv2"): 2, ("conv2", "add"): 2, SKIP: 40}
    again = simulate(ks, depths)
    assert again.deadlock is None and same_times(again, u) and again.finishes == u.finishes
    # One shallower does not deadlock: the clone waits (finishes at 67, not 64), the add does not.
    s39 = simulate(ks, {**depths, SKIP: 39})
    assert s39.deadlock is None and s39.finishes["clone"] == 67 and s39.latency == 113
    # The deadlock threshold: add's first read waits for conv2's first output, i.e. for clone token
    # 18, while the skip holds tokens 0..18: 19 slots. 19 runs (slowly), 18 deadlocks.
    assert simulate(ks, {**depths, SKIP: 19}).deadlock is None
    dead = simulate(ks, {**depths, SKIP: 18})
    assert dead.full == (SKIP,) and dead.latency is None and dead.interval is None
    assert "clone->add (depth 18) is full" in dead.deadlock
    assert "clone at iteration 18 waits for room in clone->add" in dead.deadlock
    assert "add at iteration 0 waits for data from conv2" in dead.deadlock


# preserve="outputs": conv1, conv2 and add already wait for their inputs in U, so they keep U;
# the clone writes token (r,c) as late as conv1 allows, at 10r+c+10, and add reads it at
# 10r+c+35. At the write of (r,5) (cycle 10r+15) add has read every token with 10r'+c'+35 <
# 10r+15, i.e. rows up to r-3: held are rows r-2, r-1 and (r,0..5): 22 (also at (r,6), (r,7)).
def test_residual_block_keeping_outputs():
    ks = residual()
    depths = fifo_depths(ks, preserve="outputs")
    assert depths == {("clone", "conv1"): 2, ("conv1", "conv2"): 2, ("conv2", "add"): 2, SKIP: 22}
    s = simulate(ks, depths)
    assert s.deadlock is None and s.latency == 113
    assert np.array_equal(s.times["add"], simulate(ks).times["add"])         # every output cycle kept
    assert simulate(ks, {**depths, SKIP: 21}).latency == 119                 # one less delays the outputs


# 2. U-Net branch. clone: token t at cycle t. pool (no padding: iteration i = pixel i) reads
# token i at cycle i+1; output (oy,ox) ends its window at pixel (2oy+1, 2ox+1), iteration
# 32oy+2ox+17, visible at 32oy+2ox+19; its first output is iteration 17. conv (10x10 padded grid)
# first writes at its iteration 22, reading pool output (1,1) = pool iteration 51 = clone token
# 51, visible at 53: conv writes at 53, visible 54 (output (oy,ox) at 32oy+2ox+54 for ox <= 6).
# up reads conv (0,0) at 54 and never waits again (it reads conv (oy,ox) at up iteration
# 32oy+2ox, cycle 54 + that), so up iteration i is at 54+i and cat reads token m at 55+m.
# Skip: token t written at t, read at t+55: at cycle t the tokens t-55..t are held: 56.
def test_unet_branch():
    ks = unet_branch()
    u = simulate(ks)
    assert u.starts["up"] == 54 and u.starts["cat"] == 55
    assert (u.times["pool"][17], u.times["conv"][22]) == (18, 53)
    assert u.finishes == {"clone": 256, "pool": 257, "conv": 269, "up": 310, "cat": 311}
    depths = fifo_depths(ks)
    assert depths[("clone", "cat")] == 56
    assert depths == {("clone", "pool"): 2, ("pool", "conv"): 2, ("conv", "up"): 8, ("up", "cat"): 2,
                      ("clone", "cat"): 56}
    assert fifo_depths(ks, preserve="outputs")[("clone", "cat")] == 56   # no rate mismatch: same
    again = simulate(ks, depths)
    assert again.deadlock is None and same_times(again, u)
    assert simulate(ks, {**depths, ("clone", "cat"): 55}).latency > u.latency
    # Deadlock threshold: cat token X (row 0, even X) needs up's read of conv (0, X/2), which needs
    # pool (1, X/2+1), which ends at clone pixel (3, X+3) = token 51+X: the skip holds X..51+X = 52.
    assert simulate(ks, {**depths, ("clone", "cat"): 52}).deadlock is None
    dead = simulate(ks, {**depths, ("clone", "cat"): 51})
    assert dead.full == (("clone", "cat"),) and "clone->cat (depth 51) is full" in dead.deadlock


def test_depths_are_minimal_for_the_schedule():
    """Any one FIFO one shallower (above MIN_DEPTH) changes the schedule (module docstring)."""
    for ks in (residual(), unet_branch(), buffered_skip(16)):
        u, depths = simulate(ks), fifo_depths(ks)
        for fifo, d in depths.items():
            if d > MIN_DEPTH:
                assert not same_times(simulate(ks, {**depths, fifo: d - 1}), u), fifo


def test_back_to_back_samples():
    # One sample's depths lose 3 cycles of interval on the U-Net branch (conv's trailing padding
    # delays its first read of the next sample); depths computed over 2 samples keep 256.
    ks = unet_branch()
    assert simulate(ks, samples=4).interval == 256
    assert simulate(ks, fifo_depths(ks), samples=2).interval == 259
    for preserve in ("schedule", "outputs"):
        depths = fifo_depths(ks, preserve=preserve, samples=2)
        assert [simulate(ks, depths, samples=n).interval for n in (2, 3, 4)] == [256] * 3
    assert simulate(ks).interval == 256                                  # one sample: busiest kernel


# 3. Line-buffer geometry against brute force.
@pytest.mark.parametrize("in_h, in_w, kernel, strides, pads, dilations", [
    (8, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (8, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (7, 9, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1)),      # asymmetric (TF "same" with stride 2)
    (9, 7, (3, 2), (2, 3), (1, 0, 2, 1), (1, 1)),
    (16, 16, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1)),
    (10, 11, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
    (12, 10, (5, 3), (2, 1), (2, 0, 1, 3), (1, 2)),
    (5, 5, (1, 1), (3, 2), (0, 1, 2, 0), (1, 1)),
    (6, 6, (6, 6), (1, 1), (0, 0, 0, 0), (1, 1)),
])
def test_line_buffer_geometry(in_h, in_w, kernel, strides, pads, dilations):
    (kh, kw), (sh, sw), (dh, dw), (top, left, bottom, right) = kernel, strides, dilations, pads
    hp, wp = in_h + top + bottom, in_w + left + right
    ends = []
    for oy in itertools.count():
        if oy * sh + (kh - 1) * dh >= hp:
            break
        for ox in itertools.count():
            if ox * sw + (kw - 1) * dw >= wp:
                break
            window = [(oy * sh + ky * dh) * wp + ox * sw + kx * dw for ky in range(kh) for kx in range(kw)]
            ends.append(max(window))                     # the window's last position in scan order
    reads = [int(top <= y < top + in_h and left <= x < left + in_w) for y in range(hp) for x in range(wp)]
    k = line_buffer("lb", "x", in_h, in_w, kernel, strides, pads, dilations)
    assert k.iterations == hp * wp and k.reads[0].tolist() == reads
    assert np.flatnonzero(k.writes).tolist() == ends and k.writes.max() == 1
    assert window_ends(in_h, in_w, kernel, strides, pads, dilations).tolist() == ends


@pytest.mark.parametrize("in_h, in_w, kernel, strides, pads, dilations, steps", [
    (8, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (16, 16, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1),
    (9, 7, (3, 2), (2, 3), (1, 0, 2, 1), (1, 1), 2),
    (10, 11, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1),
    (5, 4, (1, 1), (1, 1), (3, 0, 1, 0), (1, 1), 3),     # rows in the top padding come first
])
def test_row_buffer_follows_the_kernel_loops(in_h, in_w, kernel, strides, pads, dilations, steps):
    # qconv_conv.h conv2d_stream's loop nest, transliterated: (reads, writes) per iteration.
    (kh, _), (sh, _), (dh, _), top = kernel, strides, dilations, pads[0]
    out_h = (in_h + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (in_w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    events, oh = [], 0
    for ih in range(-1, in_h):
        if ih >= 0:
            events += [(1, 0)] * in_w                                  # ReadRow
        while oh < out_h and max(-1, min(oh * sh + (kh - 1) * dh - top, in_h - 1)) == ih:
            events += ([(0, 0)] * (steps - 1) + [(0, 1)]) * out_w     # OutCols
            oh += 1
    k = row_buffer("rb", "x", in_h, in_w, kernel, strides, pads, dilations, out_steps=steps)
    assert list(zip(k.reads[0].tolist(), k.writes.tolist())) == events and oh == out_h


def test_line_buffer_without_output_is_refused():
    with pytest.raises(ValueError, match="no output pixel"):
        line_buffer("lb", "x", 2, 2, (3, 3))


def test_upsample_reads_the_first_copy_of_each_row():
    k = upsample("up", "x", 2, 3, 2)                     # 4 x 6 outputs
    assert k.writes.tolist() == [1] * 24
    assert np.flatnonzero(k.reads[0]).tolist() == [0, 2, 4, 12, 14, 16]
    assert upsample("up", "x", 2, 2, (1, 3)).reads[0].tolist() == [1, 0, 0, 1, 0, 0] * 2


# 4. buffered. (a) A Dense that reads a token every 4 cycles (ii 4) behind a rate-1 producer:
# relu writes token t at cycle t; dense reads it at iteration t, cycle max(s_{t-1} + 4, t + 1) =
# 4t + 1. When relu writes its last token (cycle 15) the dense has read 4 (cycles 1, 5, 9, 13):
# 16 - 4 = 12 held (N - ceil((N-2)/ii)). Keeping only the dense's output cycles, relu can write
# each token just before it is read: 2. (b) A skip around a buffered Dense: add needs the dense's
# first output, which comes after all 16 inputs, so the clone writes all 16 before the add reads
# one: depth 16; with 15 the clone waits for room the add never makes (it waits for the dense,
# which waits for token 15): deadlock.
def buffered_skip(n):
    return [elementwise("clone", ["x"], n), buffered("dense", "clone", n, n),
            elementwise("add", ["dense", "clone"], n)]


def test_buffered():
    slow = [elementwise("relu", ["x"], 16), buffered("dense", "relu", 16, 5, ii=4)]
    assert simulate(slow).times["dense"][:4].tolist() == [1, 5, 9, 13]
    assert fifo_depths(slow) == {("relu", "dense"): 12}
    late = fifo_depths(slow, preserve="outputs")
    assert late == {("relu", "dense"): 2}
    assert simulate(slow, late).finishes["dense"] == simulate(slow).finishes["dense"] == 1 + 4 * 20 + 1
    ks = buffered_skip(16)
    depths = fifo_depths(ks)
    assert depths == {("clone", "dense"): 2, ("dense", "add"): 2, SKIP: 16}
    assert simulate(ks, depths).deadlock is None
    dead = simulate(ks, {**depths, SKIP: 15})
    assert dead.full == (SKIP,) and "dense at iteration 15 waits for data from clone" in dead.deadlock


def test_buffered_gap_delays_the_writes():
    k = buffered("sm", "x", 3, 2, gap=4)
    assert k.reads[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0] and k.writes.tolist() == [0] * 7 + [1, 1]


# 5. A chain of rate-1 elementwise kernels: token t is written by a in cycle t and read by b in
# cycle t+1, so tokens t and t+1 share cycle t+1: depth 2 everywhere (the model's own number, not
# the floor). With depth 1, a's write of token t needs token t-1 read before, b's read of t waits
# for a: a, b, c run at 2t, 2t+1, 2t+2 and the chain takes twice as long.
def test_elementwise_chain():
    ks = [elementwise(n, [s], 10) for n, s in (("a", "x"), ("b", "a"), ("c", "b"), ("d", "c"))]
    assert fifo_depths(ks) == dict.fromkeys([("a", "b"), ("b", "c"), ("c", "d")], 2)
    assert fifo_depths(ks, preserve="outputs") == dict.fromkeys([("a", "b"), ("b", "c"), ("c", "d")], 2)
    assert simulate(ks).occupancy == dict.fromkeys([("a", "b"), ("b", "c"), ("c", "d")], 2)
    assert simulate(ks).finishes["d"] == 9 + 3 + 1
    one = simulate(ks, dict.fromkeys([("a", "b"), ("b", "c"), ("c", "d")], 1))
    assert one.times["a"].tolist() == [2 * t for t in range(10)]
    assert one.finishes["d"] == 2 * 9 + 3 + 1
    assert simulate(ks, input_interval=2).occupancy[("a", "b")] == 1   # a token every other cycle


def test_fan_out_waits_for_every_consumer_and_multi_token_writes():
    # p writes 2 tokens per iteration to q (ii 1) and r (reads 1 per 3 cycles): each write needs
    # room in both FIFOs.
    p = Kernel("p", ("x",), (np.ones(4, np.int64),), np.full(4, 2))
    ks = [p, elementwise("q", ["p"], 8), elementwise("r", ["p"], 8, ii=3)]
    u = simulate(ks)
    depths = fifo_depths(ks)
    assert depths == {("p", "q"): u.occupancy[("p", "q")], ("p", "r"): u.occupancy[("p", "r")]}
    # p writes tokens 2j, 2j+1 in cycle j (visible j+1). q reads token m at max(s + 1, m//2 + 1)
    # = m+1, r at max(s + 3, m//2 + 1) = 3m+1. In cycle 3 p has written all 8; q has read tokens
    # 0, 1 (cycles 1, 2) and r token 0 (cycle 1) before it: 6 and 7 held.
    assert depths[("p", "r")] == 7 and depths[("p", "q")] == 6
    assert same_times(simulate(ks, depths), u)
    assert simulate(ks, {("p", "r"): 2}).finishes["p"] > u.finishes["p"]
    assert simulate(ks, {("p", "q"): 1}).deadlock is not None          # 2 tokens in one cycle, 1 slot


def reference_times(kernels, depths, interval=1):
    """Brute force: the least fixed point of every constraint, one token at a time (Kleene
    iteration from 0), or None when it exceeds any finite schedule's bound (a deadlock)."""
    ks = {k.name: k for k in kernels}
    s = {k.name: [0] * k.iterations for k in kernels}
    tokens = {}                                          # (p, c) -> [(writer iteration, reader iteration)]
    for c in kernels:
        for port, p in enumerate(c.inputs):
            readers = [j for j, n in enumerate(c.reads[port]) for _ in range(n)]
            writers = ([j for j, n in enumerate(ks[p].writes) for _ in range(n)] if p in ks else [None] * len(readers))
            tokens[p, c.name] = list(zip(writers, readers))
    bound = (sum(k.iterations * max(k.ii, k.latency) for k in kernels)       # any finite schedule's
             + interval * max(len(t) for t in tokens.values()) + 1)          # critical path is shorter
    changed = True
    while changed:                                      # in place: converges to the same least point
        changed = False
        for n, k in ks.items():
            for j in range(1, k.iterations):
                if s[n][j] < s[n][j - 1] + k.ii:
                    s[n][j], changed = s[n][j - 1] + k.ii, True
        for (p, c), toks in tokens.items():
            d = depths.get((p, c))
            for t, (w, r) in enumerate(toks):
                arrive = t * interval if w is None else s[p][w] + ks[p].latency
                if s[c][r] < arrive:
                    s[c][r], changed = arrive, True
                if w is not None and d is not None and t >= d:
                    room = s[c][toks[t - d][1]] - ks[p].latency + 2
                    if s[p][w] < room:
                        s[p][w], changed = room, True
        if max(max(v, default=0) for v in s.values()) > bound:
            return None
    return s


def random_graph(rng):
    """clone -> two branches of size-preserving kernels -> add, on an h x w image."""
    h, w = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    n, ks = h * w, [elementwise("clone", ["x"], h * w, latency=int(rng.integers(1, 3)))]
    heads = []
    for b in range(2):
        src = "clone"
        for i in range(int(rng.integers(0, 3))):
            name, kind, lat = f"b{b}k{i}", int(rng.integers(5)), int(rng.integers(1, 4))
            if kind == 0:
                ks.append(elementwise(name, [src], n, ii=int(rng.integers(1, 3)), latency=lat))
            elif kind == 1:
                ks.append(line_buffer(name, src, h, w, (3, 3), pads=(1, 1, 1, 1), latency=lat))
            elif kind == 2:
                ks.append(buffered(name, src, n, n, gap=int(rng.integers(0, 4)), latency=lat))
            elif kind == 3:
                ks.append(row_buffer(name, src, h, w, (3, 3), pads=(1, 1, 1, 1), out_steps=int(rng.integers(1, 3))))
            else:
                ks.append(upsample(name + "u", src, h, w, 2, latency=lat))
                ks.append(line_buffer(name, name + "u", 2 * h, 2 * w, (2, 2), strides=(2, 2)))
            src = name
        heads.append(src)
    if heads[0] == heads[1]:                              # both branches empty
        ks.append(elementwise("b1", ["clone"], n))
        heads[1] = "b1"
    return ks + [elementwise("add", heads, n)]


def test_bounded_simulation_matches_brute_force():
    rng, deadlocks = np.random.default_rng(7), 0
    for case in range(60):
        ks = random_graph(rng)
        computed = fifo_depths(ks)
        depths = {f: max(1, d - int(rng.integers(0, d + 1))) for f, d in computed.items()}
        s, ref = simulate(ks, depths), reference_times(ks, depths)
        assert (s.deadlock is None) == (ref is not None), (case, depths, s.deadlock)
        if ref is None:
            deadlocks += 1
        else:
            assert {n: t.tolist() for n, t in s.times.items()} == ref, case
    assert 5 < deadlocks < 55                            # both outcomes were exercised


def test_outputs_mode_keeps_outputs_on_random_graphs():
    rng = np.random.default_rng(11)
    for case in range(30):
        ks = random_graph(rng)
        depths = fifo_depths(ks, preserve="outputs")
        s = simulate(ks, depths)
        assert s.deadlock is None and np.array_equal(s.times["add"], simulate(ks).times["add"]), case


def test_fifo_memory():
    # SRL while depth * width <= 1024 bits: width * ceil(depth / 32) LUTs.
    assert fifo_memory(2, 16) == fifo_memory(1, 16) == fifo_memory(32, 16)
    assert (fifo_memory(2, 16).lut, fifo_memory(64, 16).lut, fifo_memory(2, 512).bram18) == (16, 32, 0)
    # Memory above: 65 x 16 fits one 1024 x 18 BRAM18; 3 x 512 bits takes 15 (512 x 36, 15 x 36 >= 512).
    assert fifo_memory(65, 16).bram18 == 1 and fifo_memory(3, 512).bram18 == 15
    assert fifo_memory(6681, 64).bram18 == 7 * 4                       # 1024 x 18: 7 deep, 4 wide (or 512 x 36: 14 x 2)


def test_malformed_graphs_are_refused():
    a = elementwise("a", ["x"], 4)
    with pytest.raises(ValueError, match="a writes 4 tokens but b reads 5"):
        simulate([a, elementwise("b", ["a"], 5)])
    with pytest.raises(ValueError, match="cycle"):
        simulate([elementwise("p", ["q"], 2), elementwise("q", ["p"], 2)])
    with pytest.raises(ValueError, match="graph input x is read by a, b"):
        simulate([a, elementwise("b", ["x"], 4)])
    with pytest.raises(ValueError, match="does not have"):
        simulate([a, elementwise("b", ["a"], 4)], {("b", "a"): 2})
    with pytest.raises(ValueError, match="appears twice"):
        elementwise("b", ["a", "a"], 4)
    with pytest.raises(ValueError, match="latency"):
        elementwise("b", ["a"], 4, latency=0)
    with pytest.raises(ValueError, match="preserve"):
        fifo_depths([a], preserve="fast")
    with pytest.raises(ValueError):
        a.writes[0] = 2                                  # read-only arrays


# 6. Speed: a 512x512 U-Net (16 kernels, 2 levels, 2.6M iterations): about 1.1 s here.
def unet(n):
    h, q, e = n, n // 2, n // 4
    return [conv3x3("c1", "x", h), conv3x3("c2", "c1", h), elementwise("clone1", ["c2"], h * h),
            line_buffer("pool1", "clone1", h, h, (2, 2), strides=(2, 2)), conv3x3("c3", "pool1", q),
            conv3x3("c4", "c3", q), elementwise("clone2", ["c4"], q * q),
            line_buffer("pool2", "clone2", q, q, (2, 2), strides=(2, 2)), conv3x3("c5", "pool2", e),
            upsample("up2", "c5", e, e, 2), elementwise("cat2", ["up2", "clone2"], q * q), conv3x3("c6", "cat2", q),
            upsample("up1", "c6", q, q, 2), elementwise("cat1", ["up1", "clone1"], h * h), conv3x3("c7", "cat1", h),
            elementwise("out", ["c7"], h * h)]


def test_unet_512_speed():
    ks = unet(512)
    start = time.process_time()  # this process's CPU time: the other test process may share the cores
    u = simulate(ks)
    depths = fifo_depths(ks)
    again = simulate(ks, depths)
    elapsed = time.process_time() - start
    assert again.deadlock is None and again.finishes == u.finishes and again.latency == u.latency
    assert u.interval == 514 * 514                                     # a padded 512x512 line buffer
    assert elapsed < 5, elapsed
