"""How much memory the simulator needs per sample, and how many samples it may run at once.

The kernels work on whole int64 arrays: a Conv or Pool builds its input windows
(N, OH, OW, KH, KW, C) (sim/conv.py `windows`), an activation MatMul its products, every other
kernel a few arrays the size of its inputs and output. `sample_bytes` bounds that per node (with
a factor for the temporaries numpy makes along the way); `check` refuses a graph whose one sample
would need more than the memory budget, before anything is allocated, and `chunk_samples` picks
how many samples `sim.run` evaluates at once so that a chunk stays within the budget.
"""

from __future__ import annotations

from .. import ops
from ..errors import ModelError
from ..ir import Graph, Node

GIB = 1 << 30
DEFAULT_BUDGET = 4 * GIB  # simulator working memory (qconv --max-memory, in GiB)
TEMPORARIES = 3           # int64 arrays alive at once per element of the largest intermediate


def _largest_intermediate(node: Node, graph: Graph) -> tuple[int, str]:
    """(elements, what) of the biggest array the node's kernel builds for one sample."""
    a = node.attrs
    if ops.has(node.op, ops.SPATIAL):
        (_, _, c), (oh, ow, _), (kh, kw) = a["in_hwc"], a["out_hwc"], a["kernel"]
        return oh * ow * kh * kw * c, f"{oh}x{ow} windows of {kh}x{kw}x{c}"
    if node.op == "MatMul":
        k = a.get("k", 1)
        return node.out.size * k, f"{node.out.size}x{k} products"
    inputs = sum(graph.node(i).out.size for i in node.inputs)
    return inputs + node.out.size, f"{node.out.size} outputs"


def widest(graph: Graph) -> int:
    """The most values any kernel's arrays hold for one sample."""
    return max((_largest_intermediate(n, graph)[0] for n in graph.topo() if n.op != "Input"), default=1)


def sample_bytes(node: Node, graph: Graph) -> int:
    return _largest_intermediate(node, graph)[0] * 8 * TEMPORARIES


def check(graph: Graph, budget: int = DEFAULT_BUDGET) -> None:
    """Refuse a graph whose simulation of one sample would exceed `budget` bytes."""
    for node in graph.topo():
        need = sample_bytes(node, graph)
        if need > budget:
            _, what = _largest_intermediate(node, graph)
            raise ModelError(f"{node.describe()}: simulating one sample needs about {need / GIB:.1f} GiB ({what}), "
                             f"more than the {budget / GIB:g} GiB memory limit; check its sizes, pads and "
                             "strides, or raise --max-memory")


def chunk_samples(graph: Graph, most: int, budget: int = DEFAULT_BUDGET, widest_values: int | None = None) -> int:
    """How many samples (at most `most`) one pass of the simulator may evaluate within `budget`
    (`widest_values`: `widest(graph)` when the caller has it already)."""
    need = (widest(graph) if widest_values is None else widest_values) * 8 * TEMPORARIES
    return max(1, min(most, budget // max(need, 1)))


# glibc malloc returns freed blocks above a threshold to the system, and takes large blocks from
# mmap: fresh pages that fault in one by one when written. The simulator frees and allocates
# arrays of a few MB per chunk, so with glibc's adaptive defaults a stream of chunks spends up
# to a third of its time in page faults (measured: 460,000 faults per million jet-tagger samples,
# 2.7 s -> 1.9 s without them). `keep_heap` keeps blocks up to HEAP_BLOCK in the heap and returns
# memory only when more than twice that lies free, so a chunk reuses its predecessor's pages. Peak
# memory is unchanged: what stays mapped is what the chunks used.
HEAP_BLOCK = 32 << 20  # glibc's documented maximum for M_MMAP_THRESHOLD on 64-bit (2.36 takes more; older ones refuse)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
HEAP_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": str(HEAP_BLOCK), "MALLOC_TRIM_THRESHOLD_": str(2 * HEAP_BLOCK)}


def keep_heap() -> bool:
    """Set this process's glibc malloc thresholds as HEAP_ENVIRON does for a new process (the
    `qconv` command does at its start; worker processes get HEAP_ENVIRON). It is global to the
    process, so the library does not do it unasked. Returns False where there is no glibc."""
    import ctypes
    import platform
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mmap_set = mallopt(_M_MMAP_THRESHOLD, HEAP_BLOCK)
    trim_set = mallopt(_M_TRIM_THRESHOLD, 2 * HEAP_BLOCK)
    return bool(mmap_set) and bool(trim_set)
