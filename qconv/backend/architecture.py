"""Hardware architectures: what a project's shape depends on besides the layers themselves.

An `Architecture` gives the top-function template, the top-level pragmas (interface, pipeline,
port partitioning), how a layer's arrays are partitioned, the base of every layer's config
struct (templates/kernels/qconv_common.h) and the weight-layout hook; the per-layer templates
and contexts are registered per (op, architecture) (`TEMPLATES` here, `context.CONTEXT`).
Today there is one: `IO_PARALLEL`, every array a set of registers and the whole network one
pipelined function (hls4ml's io_parallel with the latency strategy).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def weight_layout(self, node: Node, key: str, const: Const) -> Const:
        """The constant `key` of `node` in the order this architecture's kernels read it (the
        IR's order, ONNX's for Conv weights, for io_parallel)."""
        return const

    def layer_template(self, op: str) -> str:
        return TEMPLATES[(op, self.name)]


IO_PARALLEL = Architecture("io_parallel", "latency", "firmware/top.cpp.j2", "layers", "qconv::layer_config")
ARCHITECTURES = {arch.name: arch for arch in (IO_PARALLEL,)}

# (IR op, architecture name) -> the layer template; every layer op of the table, per architecture
TEMPLATES: dict[tuple[str, str], str] = {
    (op, arch.name): f"{arch.layer_dir}/{op}.j2" for arch in ARCHITECTURES.values() for op in sorted(ops.LAYERS)}
