"""Hardware architectures: what a project's shape depends on besides the layers themselves.

An `Architecture` gives the top-function template, the top-level pragmas (interface, pipeline,
port partitioning), how a layer's arrays are partitioned, the base of every layer's config
struct (templates/kernels/qconv_common.h) and the weight-layout hook; the per-layer templates
and contexts are registered per (op, architecture) (`TEMPLATES` here, `context.CONTEXT`).
`IO_PARALLEL`: every array a set of registers and the whole network one
pipelined function (hls4ml's io_parallel). A layer folded by design/folding.py (reuse factor > 1,
or fewer pixels per step than its image) is its own pipelined function inside it, as hls4ml's
io_parallel with the resource strategy; its weights are registers (latency strategy) or a BRAM
ROM of `block`-weight words (resource strategy, `weight_pragma`). `IO_STREAM`
(StreamArchitecture): a dataflow design of processes joined by FIFOs. (The Verilog backend,
backend/rtl.py, is not an HLS architecture: it writes its own files.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ops
from ..ir import Const, Node


@dataclass(frozen=True)
class Architecture:
    name: str          # io type: io_parallel
    strategy: str      # latency
    top_template: str  # the top function, under templates/
    layer_dir: str     # the per-op layer templates <layer_dir>/<Op>.j2, under templates/
    config_base: str   # the C++ struct every layer config derives from (qconv_common.h)

    def describe(self) -> str:
        return f"{self.name}, {self.strategy} strategy"

    def partition(self, var: str) -> str:
        """The pragma that partitions a layer's array (outputs, weights)."""
        return f"#pragma HLS ARRAY_PARTITION variable = {var} complete dim = 0"

    def top_pragmas(self, ports: list[dict]) -> list[str]:
        """The top function's pragmas: its ports' partitioning, their interface, the pipeline."""
        return [*(self.partition(p["var"]) for p in ports),
                f"#pragma HLS INTERFACE ap_vld port = {','.join(p['var'] for p in ports)}",
                "#pragma HLS PIPELINE"]

    def weight_pragma(self, var: str, folding: dict) -> str:
        """The pragma for a layer's weight array: partitioned into registers, except for a folded
        layer with the resource strategy: reshaped so that one word holds the `block` weights
        its multipliers read in one step (word r: weights m * RN + r, the order weight_layout writes)."""
        if folding["folded"] and folding["strategy"] == "resource" and folding["reuse_factor"] > 1:
            return f"#pragma HLS ARRAY_RESHAPE variable = {var} block factor = {folding['block']} dim = 1"
        return self.partition(var)

    def weight_layout(self, node: Node, key: str, const: Const, folding: dict) -> Const:
        """The constant `key` of `node` in the order this architecture's kernels read it: the IR's
        (input-major for Dense, ONNX's for Conv weights), except that a folded Dense reads its
        weights output-major (weights[j * n_in + i]) and the resource strategy pads them with
        zeros to block * RN (RN = ceil(N / block), the kernels' step count), so that the reshaped
        ROM has whole words: word r holds weights m * RN + r."""
        if key != "W" or not folding["folded"]:
            return const
        v = (const.values.T if node.op == "Dense" else const.values).reshape(-1)
        if folding["strategy"] == "resource":  # block words of RN = ceil(N / block) weights (the kernels' RN)
            block = folding["block"]
            v = np.concatenate([v, np.zeros(block * -(-v.size // block) - v.size, np.int64)])
        return Const(v, const.fixed)

    def layer_template(self, op: str) -> str:
        return TEMPLATES[(op, self.name)]


@dataclass(frozen=True)
class StreamArchitecture(Architecture):
    """io_stream: the top function takes and returns `hls::stream`s of tokens (`qconv::token`, one
    per pixel: the last axis of a tensor's memory order) and runs its layers as processes under
    `#pragma HLS DATAFLOW`, one FIFO per (producer, consumer). Each layer's process is one of
    design/dataflow.py's: a line or row buffer kernel (`<kernel>_stream`), its own kernel on one
    token at a time, or a buffered process that reads its inputs whole into the io_parallel layer's
    arrays and runs that code (the same kernels, so the same integers); its arrays are left to HLS
    to map (BRAM), not partitioned."""

    def partition(self, var: str) -> str:
        return f"// {var}: not partitioned (io_stream: memories)"

    def top_pragmas(self, ports: list[dict]) -> list[str]:
        return ["#pragma HLS DATAFLOW"]


IO_PARALLEL = Architecture("io_parallel", "latency", "firmware/top.cpp.j2", "layers", "qconv::layer_config")
IO_STREAM = StreamArchitecture("io_stream", "latency", "firmware/top_stream.cpp.j2", "layers", "qconv::stream_config")
ARCHITECTURES = {arch.name: arch for arch in (IO_PARALLEL, IO_STREAM)}

# (IR op, architecture name) -> the layer template; every layer op of the table, per architecture
TEMPLATES: dict[tuple[str, str], str] = {
    (op, arch.name): f"{arch.layer_dir}/{op}.j2" for arch in ARCHITECTURES.values() for op in sorted(ops.LAYERS)}
