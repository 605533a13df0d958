"""FIFO depths of a streaming (io_stream) design, computed from a cycle-level model of its dataflow
schedule instead of measured by RTL co-simulation (what hls4ml does: "FIFO Buffer Depth
Optimization", hls4ml docs advanced/fifo_depth: co-simulate with every FIFO 100,000 deep, read
each FIFO's maximum occupation from the waveform, set the depth to it + 1).

The hardware modelled
  Kernels connected by `hls::stream` FIFOs under `#pragma HLS DATAFLOW`, one token per transfer
  (e.g. all channels of one pixel). A kernel is a pipelined loop: iteration k (0-based, program
  order) reads `reads[i][k]` tokens from input stream i and writes `writes[k]` tokens to its
  output; iterations start at most one every `ii` cycles; the tokens of iteration k are written in
  cycle s_k + latency - 1 and can be read from cycle s_k + latency. Reads and writes block
  (UG1399 "HLS Stream Library": an internal hls::stream is a FIFO, default depth 2; `config_dataflow
  -fifo_depth` default 2): an iteration starts when every token it reads is in its FIFOs and, for
  every token it writes, each of its output FIFOs (one per consumer on fan-out, as an explicit
  clone kernel makes) will have a free slot in the write cycle. A stalled write freezes a real
  pipeline mid-iteration; here the iteration waits at its start instead. The two agree whenever
  no write blocks, which is all the depth computation needs (below).
  Graph inputs offer token t at cycle t * input_interval (an external AXI stream holds the rest:
  it is not a FIFO of the design); graph outputs (kernels nobody reads) are drained as written.

Occupancy, from the FIFO RTL Vitis HLS generates (e.g. Vitis HLS 2022.2 `fifo_w32_d4_S`: `push =
if_write & full_n`, `full_n` and `empty_n` are registers updated at the clock edge):
  a pushed token can be popped from the next cycle, and a full FIFO accepts no push in the cycle
  it is popped (full_n only rises after the pop). So token t holds a slot from its write cycle
  W_t to its read cycle R_t inclusive, and a write needs occupancy(x) = #{t: W_t <= x <= R_t} <=
  depth at its cycle x. A stream of one token per cycle therefore needs depth 2 (the HLS
  default): with depth 1 producer and consumer alternate, one token every 2 cycles. hls4ml's "+ 1"
  is the same slot: the RTL count it profiles excludes the token being pushed in that cycle.

The schedule (`simulate`)
  As soon as possible: s_k = max(s_{k-1} + ii, arrival of its last input token, cycle its writes
  find room), a max-plus recurrence (the least schedule meeting every constraint; adding a
  constraint, e.g. a shallower FIFO, never makes any iteration earlier: "increasing FIFO depths
  never reduces performance", Vitis tutorial XD099 "Manual FIFO Sizing"). With unbounded FIFOs the
  graph is a DAG and each kernel's recurrence is solved at once in topological order:
  s_k = k*ii + max(0, cummax_{m<=k}(r_m - m*ii)) with r_m its input arrivals (numpy). With bounded
  FIFOs that schedule is returned as is when it already fits them (every write finds room, so no
  constraint binds); otherwise each kernel repeatedly computes the prefix of its iterations whose
  inputs and room are already determined, until every kernel is done or none can proceed: that
  is a deadlock (the wait-for relation between the kernels' next iterations has a cycle), reported
  with the full FIFOs and what each waiting kernel waits for. That fallback takes about
  tokens / depth rounds where a shallow FIFO throttles its producer (slow on 10^6-token images;
  the computed depths never need it).

The depths (`fifo_depths`), preserve="schedule" (default)
  Each FIFO's maximum occupancy under the unbounded schedule U, at least MIN_DEPTH = 2 (Vitis's
  default; below 2 only for a stream slower than a token every other cycle, and no cheaper: one
  SRLC32E per bit either way, UG574). Sufficient: under these depths every write of U finds room,
  so U meets every constraint of the bounded design; the bounded design's schedule is the least
  one meeting them, and it cannot be earlier than U (fewer constraints), so it is U: the same
  cycle for every iteration of every kernel (finishes, latency, interval), hence deadlock-free.
  Minimal in this sense: with any one FIFO one shallower (above MIN_DEPTH), some write of U finds
  no room, so its producer stalls and the schedule changes (exactly hls4ml's criterion, which
  also keeps the co-simulated schedule). It does not minimize
  memory for the same outputs: a FIFO also fills when its producer is faster than its consumer
  (a line buffer spends iterations on padding, so it consumes less than one token per cycle and
  the skip FIFO beside it grows over the whole image), and a shallower one only stalls that
  producer without delaying any output. Nor is it the deadlock threshold (far smaller: the tokens
  a branch must buffer before the other branch can emit), nor does it weigh the FIFOs' memory
  (a depth just over a BRAM boundary, `fifo_memory`).
preserve="outputs"
  Keeps only what is observed: the cycle of every graph-output token (so the latency; computed
  over `samples` >= 2 back-to-back samples, also the interval). L = the as-late-as-possible
  schedule: graph-output kernels, and the iterations after each kernel's last write (they only
  read), keep U; going backwards through the graph, iteration k starts at min(L_{k+1} - ii, L of
  the first consumer iteration reading its tokens - latency) (a reversed cummin). L >= U meets
  every data and ii constraint, so with depths = its occupancies it is a schedule of the bounded
  design, whose own schedule B is the least one: U <= B <= L, equal on the outputs (other kernels
  may finish later, never later than their tokens are needed). L also delays reads, so
  `_tighten` then runs each kernel as early as its data and the room L's consumers make allow
  (sound at every pass, TIGHTEN_PASSES of them: later passes gain little). Usually far smaller
  where a producer outruns its consumer (the line-buffer skip case above); not minimal either
  (the minimum is a search over depth vectors: FIFOAdvisor, arXiv:2510.20981, runs a fast
  dataflow simulator inside a black-box optimizer).
Both are checked before they are returned: the schedule they keep is verified constraint by
constraint against the depths (`_violation`).

Memory (`fifo_memory`): a FIFO is shift registers (SRLC32E: a 32-deep shift register per LUT6 and
bit, UG574) while depth * width <= SRL_MAX_BITS (UG1399 `config_storage fifo -auto_srl_max_bits`,
default 1024), else a memory in BRAM18 of the cheapest UG573 aspect ratio (cost.bram18_blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from .cost import bram18_blocks

MIN_DEPTH = 2                   # Vitis's default; depth 1 costs the same SRL LUTs (module doc)
SRL_MAX_BITS = 1024             # UG1399 config_storage: auto SRL up to depth * width bits
SRL_DEPTH = 32                  # UG574: SRLC32E, 32 bits deep per LUT6
PRESERVE = ("schedule", "outputs")
TIGHTEN_PASSES = 2              # forward passes refining the "outputs" schedule (each one sound)
_NEVER = np.int64(1) << 60      # a cycle later than any event ("not read yet", "no bound")

FifoKey = tuple[str, str]       # (producer kernel, consumer kernel)


def _ints(values, what: str) -> np.ndarray:
    a = np.array(values, dtype=np.int64)          # a copy, frozen below
    if a.ndim != 1 or (a < 0).any():
        raise ValueError(f"{what}: expected a 1-D array of token counts >= 0")
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Kernel:
    """One dataflow process (module docstring): `inputs` are producer kernel or graph-input names,
    `reads[i][k]` the tokens iteration k reads from inputs[i], `writes[k]` the tokens it writes
    (to every consumer's FIFO); iterations start `ii` cycles apart at best and their tokens can be
    read `latency` (>= 1) cycles after their start. Arrays are copied and made read-only."""

    name: str
    inputs: tuple[str, ...]
    reads: tuple[np.ndarray, ...]
    writes: np.ndarray
    ii: int = 1
    latency: int = 1

    def __post_init__(self):
        inputs = tuple(self.inputs)
        reads = tuple(_ints(r, f"kernel {self.name} reads[{i}]") for i, r in enumerate(self.reads))
        writes = _ints(self.writes, f"kernel {self.name} writes")
        if len(reads) != len(inputs):
            raise ValueError(f"kernel {self.name}: {len(inputs)} inputs but {len(reads)} read arrays")
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"kernel {self.name}: an input appears twice ({inputs}); clone it first")
        if any(len(r) != len(writes) for r in reads):
            raise ValueError(f"kernel {self.name}: read and write arrays differ in length")
        if self.ii < 1 or self.latency < 1:
            raise ValueError(f"kernel {self.name}: ii and latency must be >= 1 (a write is seen a cycle later)")
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "reads", reads)
        object.__setattr__(self, "writes", writes)

    @property
    def iterations(self) -> int:
        return len(self.writes)


def elementwise(name: str, inputs: Sequence[str], tokens: int, ii: int = 1, latency: int = 1) -> Kernel:
    """A kernel that reads one token from each input and writes one, `tokens` times: activation,
    requantizer, Add/Concat of two streams (two inputs), a clone (one input, its output fanning out)."""
    ones = np.ones(tokens, dtype=np.int64)
    return Kernel(name, tuple(inputs), tuple(ones for _ in inputs), ones, ii, latency)


def buffered(name: str, input: str | Sequence[str], n_in: int | Sequence[int], n_out: int, gap: int = 0,
             ii: int = 1, latency: int = 1) -> Kernel:
    """A kernel that reads all `n_in` tokens (of each input in turn: `input` and `n_in` may be
    sequences), idles `gap` iterations (e.g. the steps of a folded sum), then writes `n_out`: a
    Dense on a flat stream, a Softmax over a row, a Transpose, a MatMul of two buffered operands."""
    inputs, counts = ((input,), (n_in,)) if isinstance(input, str) else (tuple(input), tuple(n_in))
    n = sum(counts) + gap + n_out
    reads, start = [], 0
    for c in counts:
        r = np.zeros(n, np.int64)
        r[start:start + c] = 1
        reads.append(r)
        start += c
    writes = np.zeros(n, np.int64)
    writes[start + gap:] = 1
    return Kernel(name, inputs, tuple(reads), writes, ii, latency)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def _geometry(in_h: int, in_w: int, kernel, strides, pads, dilations):
    """(kh, kw), (sh, sw), (dh, dw), (top, left, bottom, right), (out_h, out_w) of a window op."""
    (kh, kw), (sh, sw), (dh, dw) = _pair(kernel), _pair(strides), _pair(dilations)
    top, left, bottom, right = (int(p) for p in pads)
    out_h = (in_h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    out_w = (in_w + left + right - dw * (kw - 1) - 1) // sw + 1
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(top, left, bottom, right) < 0 or out_h < 1 or out_w < 1:
        raise ValueError(f"window {kh}x{kw} on {in_h}x{in_w}, strides {sh},{sw}, dilations {dh},{dw}, "
                         f"pads {tuple(pads)}: no output pixel")
    return (kh, kw), (sh, sw), (dh, dw), (top, left, bottom, right), (out_h, out_w)


def window_ends(in_h: int, in_w: int, kernel, strides=(1, 1), pads=(0, 0, 0, 0),
                dilations=(1, 1)) -> np.ndarray:
    """The iteration at which a line buffer writes each output pixel (raster order): it scans the
    padded image (in_h + top + bottom) x (in_w + left + right) row by row, one position per
    iteration, and output (oy, ox) is complete at the last position of its window, padded row
    oy*sh + (kh-1)*dh and column ox*sw + (kw-1)*dw. Distinct outputs end at distinct positions, in
    raster order, so the kernel writes at most one token per iteration."""
    (kh, kw), (sh, sw), (dh, dw), (_, left, _, right), (out_h, out_w) = _geometry(
        in_h, in_w, kernel, strides, pads, dilations)
    rows = np.arange(out_h) * sh + (kh - 1) * dh
    cols = np.arange(out_w) * sw + (kw - 1) * dw
    return (rows[:, None] * (in_w + left + right) + cols[None, :]).ravel()


def line_buffer(name: str, input: str, in_h: int, in_w: int, kernel, strides=(1, 1),
                pads=(0, 0, 0, 0), dilations=(1, 1), ii: int = 1, latency: int = 1) -> Kernel:
    """A convolution or pooling with a line buffer: one iteration per position of the padded image
    (pads = top, left, bottom, right), reading the input pixel there (padding reads nothing), and
    writing an output pixel where its window ends (`window_ends`)."""
    top, left, bottom, right = (int(p) for p in pads)
    hp, wp = in_h + top + bottom, in_w + left + right
    reads = np.zeros((hp, wp), np.int64)
    reads[top:top + in_h, left:left + in_w] = 1
    writes = np.zeros(hp * wp, np.int64)
    writes[window_ends(in_h, in_w, kernel, strides, pads, dilations)] = 1
    return Kernel(name, (input,), (reads.ravel(),), writes, ii, latency)


def row_buffer(name: str, input: str, in_h: int, in_w: int, kernel, strides=(1, 1), pads=(0, 0, 0, 0),
               dilations=(1, 1), out_steps: int = 1, ii: int = 1, latency: int = 1) -> Kernel:
    """A convolution or pooling that works a row at a time (templates/kernels/qconv_conv.h
    conv2d_stream / pool2d_stream as first written): for each input row ih, in_w iterations
    reading its pixels, then out_w output pixels (`out_steps` iterations each, writing on the last)
    for every output row whose last real input row is ih (its window's bottom row clamped to the
    image; rows whose window lies in the top padding come first, before any read). Padding costs
    no iteration; an output row waits for its whole last input row, up to a row later than in
    `line_buffer`."""
    (kh, _), (sh, _), (dh, _), (top, *_), (out_h, out_w) = _geometry(
        in_h, in_w, kernel, strides, pads, dilations)
    last = np.clip(np.arange(out_h) * sh + (kh - 1) * dh - top, -1, in_h - 1)
    rows = np.bincount(last + 1, minlength=in_h + 1)          # output rows emitted after input row -1..in_h-1
    step = np.zeros(out_steps, np.int64)
    step[-1] = 1
    reads, writes = [], []
    for ih in range(-1, in_h):
        n_out = int(rows[ih + 1]) * out_w * out_steps
        if ih >= 0:
            reads.append(np.ones(in_w, np.int64))
            writes.append(np.zeros(in_w, np.int64))
        reads.append(np.zeros(n_out, np.int64))
        writes.append(np.tile(step, n_out // out_steps))
    return Kernel(name, (input,), (np.concatenate(reads),), np.concatenate(writes), ii, latency)


def upsample(name: str, input: str, in_h: int, in_w: int, factor, ii: int = 1, latency: int = 1) -> Kernel:
    """Nearest-neighbour resize by `factor` (int or (fh, fw)): one iteration per output pixel in
    raster order, each writing one; the first copy of each input row reads its pixels (at every
    fw-th column) into a row buffer, the other fh - 1 copies replay it and read nothing."""
    fh, fw = _pair(factor)
    y, x = np.meshgrid(np.arange(in_h * fh), np.arange(in_w * fw), indexing="ij")
    reads = ((y % fh == 0) & (x % fw == 0)).astype(np.int64).ravel()
    return Kernel(name, (input,), (reads,), np.ones(reads.size, np.int64), ii, latency)


@dataclass(frozen=True, eq=False)
class Schedule:
    """What `simulate` found. Cycles count from 0, when the first input token is offered.
    `occupancy`: per FIFO, the most slots in use at once (module docstring). `starts`/`finishes`:
    per kernel, the start of its first iteration and the cycle its last iteration's writes are
    visible (absent when it never started / did not finish). `latency`: the cycle the first
    sample's last graph-output token is visible. `interval`: cycles between samples, measured
    between the last two samples when `samples` >= 2, else the slowest kernel's iterations * ii
    (a dataflow region is as fast as its slowest process, UG1399 "Dataflow"). On a deadlock both
    are None, `deadlock` says why, `full` names the full FIFOs. `times`: each kernel's iteration
    start cycles (only the iterations that ran, on a deadlock)."""

    occupancy: dict[FifoKey, int]
    starts: dict[str, int]
    finishes: dict[str, int]
    latency: int | None
    interval: int | None
    deadlock: str | None = None
    full: tuple[FifoKey, ...] = ()
    times: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=False)
class _Fifo:
    producer: str
    consumer: str
    port: int                   # consumer input index
    need: np.ndarray            # per consumer iteration: producer iteration writing its last token (-1: none)


class _Graph:
    """The kernels tiled over `samples`, in topological order, with cumulative token counts."""

    def __init__(self, kernels: Iterable[Kernel], samples: int, input_interval: int):
        ks = list(kernels)
        if samples < 1 or input_interval < 1:
            raise ValueError("samples and input_interval must be >= 1")
        self.k = {k.name: k for k in ks}
        if len(self.k) != len(ks):
            raise ValueError("two kernels share a name")
        self.interval, self.samples = input_interval, samples
        self.reads = {k.name: [np.tile(r, samples) for r in k.reads] for k in ks}
        self.writes = {k.name: np.tile(k.writes, samples) for k in ks}
        self.cr = {n: [np.cumsum(r) for r in rs] for n, rs in self.reads.items()}
        self.cw = {n: np.cumsum(w) for n, w in self.writes.items()}
        readers: dict[str, list[str]] = {}
        for k in ks:
            for src in k.inputs:
                readers.setdefault(src, []).append(k.name)
        for src, names in readers.items():
            if src not in self.k and len(names) > 1:
                raise ValueError(f"graph input {src} is read by {', '.join(names)}: a stream has one "
                                 f"consumer; read it through a clone kernel")
        self.order = self._topological(ks, readers)
        self.fifos: list[_Fifo] = []
        self.outs: dict[str, list[_Fifo]] = {n: [] for n in self.k}
        self.ins: dict[str, list[_Fifo]] = {n: [] for n in self.k}
        for name in self.order:
            for port, src in enumerate(self.k[name].inputs):
                if src not in self.k:
                    continue
                cr, cw = self.cr[name][port], self.cw[src]
                total_r, total_w = (int(cr[-1]) if cr.size else 0), (int(cw[-1]) if cw.size else 0)
                if total_r != total_w:
                    raise ValueError(f"FIFO {src}->{name}: {src} writes {total_w} tokens but {name} "
                                     f"reads {total_r}")
                need = np.where(cr > 0, np.searchsorted(cw, cr - 1, side="right"), -1)
                f = _Fifo(src, name, port, need)
                self.fifos.append(f)
                self.outs[src].append(f)
                self.ins[name].append(f)

    def _topological(self, ks: list[Kernel], readers: dict[str, list[str]]) -> list[str]:
        pending = {k.name: sum(src in self.k for src in k.inputs) for k in ks}
        ready = [k.name for k in ks if pending[k.name] == 0]
        order = []
        while ready:
            name = ready.pop(0)
            order.append(name)
            for c in readers.get(name, ()):
                pending[c] -= 1
                if pending[c] == 0:
                    ready.append(c)
        if len(order) != len(ks):
            raise ValueError(f"the kernels form a cycle through {sorted(set(self.k) - set(order))}")
        return order

    def arrivals(self, name: str, lo: int, hi: int, times: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per iteration lo..hi-1 of `name`: the cycle its last input token arrives (0 if none)."""
        k, r = self.k[name], np.zeros(hi - lo, np.int64)
        for port, src in enumerate(k.inputs):
            if src in self.k:
                continue
            cr = self.cr[name][port][lo:hi]
            r = np.maximum(r, np.where(cr > 0, (cr - 1) * self.interval, 0))
        for f in self.ins[name]:
            idx = f.need[lo:hi]
            r = np.maximum(r, np.where(idx >= 0, times[f.producer][np.maximum(idx, 0)] + self.k[f.producer].latency, 0))
        return r

    def room(self, f: _Fifo, depth: int) -> np.ndarray:
        """Per producer iteration: the consumer iteration that must have read the token `depth`
        before its last written one (-1: none), so that the write finds a slot."""
        u = self.cw[f.producer] - 1 - depth
        return np.where(u >= 0, np.searchsorted(self.cr[f.consumer][f.port], u, side="right"), -1)


def _advance(carry: int, lo: int, r: np.ndarray, ii: int) -> np.ndarray:
    """s_k = max(s_{k-1} + ii, r_k) for k = lo.., with carry = s_{lo-1} - (lo-1)*ii (0 at lo = 0,
    which also keeps s >= 0): s_k = k*ii + max(carry, cummax(r - k*ii))."""
    base = (lo + np.arange(r.size, dtype=np.int64)) * ii
    return base + np.maximum(carry, np.maximum.accumulate(r - base))


def _asap(g: _Graph) -> dict[str, np.ndarray]:
    times: dict[str, np.ndarray] = {}
    for name in g.order:
        n = len(g.writes[name])
        times[name] = _advance(0, 0, g.arrivals(name, 0, n, times), g.k[name].ii) if n else np.zeros(0, np.int64)
    return times


def _alap(g: _Graph, asap: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The as-late-as-possible schedule that keeps every graph-output cycle (module docstring)."""
    late: dict[str, np.ndarray] = {}
    for name in reversed(g.order):
        s, w, k = asap[name], g.writes[name], g.k[name]
        writing = np.flatnonzero(w)
        if not g.outs[name] or writing.size == 0:
            late[name] = s.copy()
            continue
        bound = np.full(s.size, _NEVER)
        bound[writing[-1] + 1:] = s[writing[-1] + 1:]
        first = g.cw[name][writing] - w[writing]
        for f in g.outs[name]:
            reader = np.searchsorted(g.cr[f.consumer][f.port], first, side="right")
            bound[writing] = np.minimum(bound[writing], late[f.consumer][reader] - k.latency)
        base = np.arange(s.size, dtype=np.int64) * k.ii
        late[name] = base + np.minimum.accumulate((bound - base)[::-1])[::-1]
    return late


def _tighten(g: _Graph, late: dict[str, np.ndarray], passes: int) -> dict[str, np.ndarray]:
    """From a schedule S that keeps the outputs: S' = as soon as possible, with each write waiting
    for room that S's consumers make at depths occ(S). S' <= S (induction in topological order),
    S' meets those constraints (its consumers are no later than S's), so S' is a schedule of the
    design at depths occ(S) keeping the outputs, and occ(S') <= occ(S). Repeated `passes` times or
    until the occupancies stop changing."""
    occupancy = None
    for _ in range(passes):
        depths = {id(f): max(MIN_DEPTH, _occupancy(g, f, late)) for f in g.fifos}
        if depths == occupancy:
            break
        occupancy, times = depths, {}
        for name in g.order:
            k, n = g.k[name], len(g.writes[name])
            r = g.arrivals(name, 0, n, times)
            for f in g.outs[name]:
                idx = g.room(f, depths[id(f)])
                r = np.maximum(r, np.where(idx >= 0, late[f.consumer][np.maximum(idx, 0)] - k.latency + 2, 0))
            times[name] = _advance(0, 0, r, k.ii)
        late = times
    return late


def _occupancy(g: _Graph, f: _Fifo, times: Mapping[str, np.ndarray]) -> int:
    """max over write cycles x of #{t: W_t <= x <= R_t}; unread tokens (deadlock) stay in."""
    sp, sc = times[f.producer], times[f.consumer]
    wc = np.repeat(sp + g.k[f.producer].latency - 1, g.writes[f.producer][:sp.size])
    if wc.size == 0:
        return 0
    rc = np.repeat(sc, g.reads[f.consumer][f.port][:sc.size])
    rc = np.concatenate([rc, np.full(wc.size - rc.size, _NEVER)])
    return int((np.searchsorted(wc, wc, side="right") - np.searchsorted(rc, wc, side="left")).max())


def _violation(g: _Graph, times: Mapping[str, np.ndarray], depths: Mapping[FifoKey, int]) -> str | None:
    """The first constraint a complete schedule breaks (None: it is a schedule of the design)."""
    for name in g.order:
        s, k = times[name], g.k[name]
        if s.size and (s[0] < 0 or (np.diff(s) < k.ii).any()):
            return f"{name}: iterations closer than ii={k.ii} or before cycle 0"
        if (s < g.arrivals(name, 0, s.size, times)).any():
            return f"{name}: an iteration starts before its input tokens arrive"
    for f in g.fifos:
        d = depths.get((f.producer, f.consumer))
        if d is not None and _occupancy(g, f, times) > d:
            return f"FIFO {f.producer}->{f.consumer}: more than {d} tokens at once"
    return None


def _bounded(g: _Graph, depths: Mapping[FifoKey, int]
             ) -> tuple[dict[str, np.ndarray], tuple[str, tuple[FifoKey, ...]] | None]:
    """The schedule under bounded FIFOs, prefix by prefix (module docstring). Returns the times of
    the iterations that ran and, on a deadlock, (description, full FIFOs)."""
    room = {id(f): g.room(f, depths[f.producer, f.consumer]) for f in g.fifos
            if (f.producer, f.consumer) in depths}
    n = {name: len(g.writes[name]) for name in g.order}
    times = {name: np.zeros(n[name], np.int64) for name in g.order}
    done = dict.fromkeys(g.order, 0)

    def limit(name: str) -> int:
        lim = n[name]
        for f in g.ins[name]:
            lim = min(lim, int(np.searchsorted(f.need, done[f.producer], side="left")))
        for f in g.outs[name]:
            if id(f) in room:
                lim = min(lim, int(np.searchsorted(room[id(f)], done[f.consumer], side="left")))
        return lim

    sweep = list(g.order)
    while any(done[m] < n[m] for m in g.order):
        progress = False
        for name in sweep:
            lo, hi = done[name], limit(name)
            if hi <= lo:
                continue
            k, s = g.k[name], times[name]
            r = g.arrivals(name, lo, hi, times)
            for f in g.outs[name]:
                if id(f) in room:
                    idx = room[id(f)][lo:hi]
                    r = np.maximum(r, np.where(idx >= 0, times[f.consumer][np.maximum(idx, 0)] - k.latency + 2, 0))
            carry = int(s[lo - 1]) - (lo - 1) * k.ii if lo else 0
            s[lo:hi] = _advance(carry, lo, r, k.ii)
            done[name], progress = hi, True
        if not progress:
            break
        sweep.reverse()                 # alternate: data flows forward, room flows backward
    times = {name: times[name][:done[name]] for name in g.order}
    if all(done[m] == n[m] for m in g.order):
        return times, None
    waits, full = [], []
    for name in g.order:
        j = done[name]
        if j == n[name]:
            continue
        why = [f"data from {f.producer}" for f in g.ins[name] if f.need[j] >= done[f.producer]]
        for f in g.outs[name]:
            if id(f) in room and room[id(f)][j] >= done[f.consumer]:
                full.append((f.producer, f.consumer))
                why.append(f"room in {f.producer}->{f.consumer}")
        waits.append(f"{name} at iteration {j} waits for {' and '.join(why)}")
    held = [f"{p}->{c} (depth {depths[p, c]})" for p, c in full]
    text = f"deadlock: FIFO {', '.join(held)} {'is' if len(held) == 1 else 'are'} full; " + "; ".join(waits)
    return times, (text, tuple(full))


def _schedule(g: _Graph, times: dict[str, np.ndarray], deadlock=None) -> Schedule:
    occupancy = {(f.producer, f.consumer): _occupancy(g, f, times) for f in g.fifos}
    starts = {m: int(s[0]) for m, s in times.items() if s.size}
    finishes = {m: int(s[-1]) + g.k[m].latency for m, s in times.items()
                if s.size == len(g.writes[m]) and s.size}
    if deadlock:
        return Schedule(occupancy, starts, finishes, None, None, deadlock[0], deadlock[1], times)
    ends = np.zeros(g.samples, np.int64)        # per sample: its last graph-output token visible
    for m in g.order:
        if g.outs[m] or not times[m].size:
            continue
        per = g.k[m].iterations
        w = np.flatnonzero(g.k[m].writes)
        last = w[-1] if w.size else per - 1
        ends = np.maximum(ends, times[m][last + per * np.arange(g.samples)] + g.k[m].latency)
    interval = (int(ends[-1] - ends[-2]) if g.samples > 1
                else max(g.k[m].iterations * g.k[m].ii for m in g.order))
    return Schedule(occupancy, starts, finishes, int(ends[0]), interval, times=times)


def simulate(kernels: Iterable[Kernel], depths: Mapping[FifoKey, int] | None = None,
             input_interval: int = 1, samples: int = 1) -> Schedule:
    """The cycle-level schedule of the dataflow graph (module docstring): `depths` per FIFO
    (producer, consumer), None or a FIFO left out: unbounded; graph inputs offer a token every
    `input_interval` cycles; `samples` back-to-back runs (>= 2 measures the interval). Vectorized
    per kernel when the unbounded schedule fits the depths (0.4 s for a 512x512 U-Net of 16
    kernels); otherwise prefix by prefix, about tokens / depth rounds where a FIFO throttles."""
    g = _Graph(kernels, samples, input_interval)
    depths = dict(depths or {})
    unknown = set(depths) - {(f.producer, f.consumer) for f in g.fifos}
    if unknown:
        raise ValueError(f"depths given for FIFOs the graph does not have: {sorted(unknown)}")
    if any(int(d) < 1 for d in depths.values()):
        raise ValueError("FIFO depths must be >= 1")
    times = _asap(g)
    if _violation(g, times, depths) is None:
        return _schedule(g, times)
    times, deadlock = _bounded(g, depths)
    return _schedule(g, times, deadlock)


def fifo_depths(kernels: Iterable[Kernel], preserve: str = "schedule", input_interval: int = 1,
                samples: int = 1) -> dict[FifoKey, int]:
    """Each FIFO's depth (module docstring): "schedule" keeps every iteration's cycle of the
    unbounded schedule (its maximum occupancies), "outputs" keeps every graph-output cycle (the
    occupancies of the late schedule, tightened); at least MIN_DEPTH. The schedule that
    proves them sufficient is re-checked against them before they are returned.

    They hold for `samples` back-to-back samples. Depths from one sample can cost a design that
    streams samples back to back a few cycles of interval (a line buffer's trailing padding delays
    its first read of the next sample: 259 instead of 256 cycles on tests' U-Net branch); with
    samples=2 the interval holds (for 3 and 4 samples too in the tests). Under "schedule" a FIFO
    whose producer outruns its consumer grows with every sample (the tests' residual skip: 40, 64,
    82 for 1, 2, 3 samples; 22 each time under "outputs")."""
    if preserve not in PRESERVE:
        raise ValueError(f"preserve must be one of {PRESERVE}, got {preserve!r}")
    g = _Graph(kernels, samples, input_interval)
    times = _asap(g)
    if preserve == "outputs":
        times = _tighten(g, _alap(g, times), TIGHTEN_PASSES)
    depths = {(f.producer, f.consumer): max(MIN_DEPTH, _occupancy(g, f, times)) for f in g.fifos}
    problem = _violation(g, times, depths)
    if problem:
        raise RuntimeError(f"internal error: the {preserve} schedule does not fit its own depths: {problem}")
    return depths


@dataclass(frozen=True)
class FifoMemory:
    """What a FIFO's storage costs: shift-register LUTs or BRAM18 (control logic not counted)."""

    lut: int
    bram18: int


def fifo_memory(depth: int, width: int) -> FifoMemory:
    """A FIFO of `depth` tokens of `width` bits (module docstring): SRL LUTs up to SRL_MAX_BITS
    bits, else BRAM18 in the cheapest UG573 aspect ratio."""
    if depth < 1 or width < 1:
        raise ValueError("a FIFO has depth and width >= 1")
    if depth * width <= SRL_MAX_BITS:
        return FifoMemory(lut=width * -(-depth // SRL_DEPTH), bram18=0)
    return FifoMemory(lut=0, bram18=bram18_blocks(depth, width))
