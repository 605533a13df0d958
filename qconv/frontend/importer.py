"""The ONNX import machinery: constants, tensor views with their memory layout, the op registry.

Every ONNX op has one handler, registered with `@handler("OpType")` in the module of the family of the IR op it emits
(`<family>.py`; quantizers in `quant.py`, QDQ chains in `qdq.py`, shape-only ops in `shape.py`).
Constants (initializers, `Constant` nodes, Quant of constants) are evaluated at import.

Layout. The first dimension of every graph input is the batch; IR shapes exclude it and are
*memory* shapes. An ONNX tensor is a view `(node, order)`: memory axis i of the node's output
holds the tensor's per-sample semantic axis `order[i]`. Kernels see channels-last memory
(conv, pooling); an ONNX Transpose only relabels axes (no data movement), and a real
`Transpose` IR node is emitted only where an op needs another memory order (Flatten/Reshape
need row-major semantic order, graph inputs/outputs keep ONNX's layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import BatchAxisError, ModelError, UnsupportedError
from ..ir import Const, Graph, Node, TensorType
from .annotation import annotated_mantissas, annotations

HANDLERS: dict[str, Callable] = {}


def handler(*ops: str):
    """Register the decorated function as the importer of the given ONNX op types."""
    def register(fn):
        for op in ops:
            HANDLERS[op] = fn
        return fn
    return register


def load_model(path: str | Path) -> onnx.ModelProto:
    """Read and validate an ONNX file (frontend/validate.py); one clear line for any problem."""
    from onnx import external_data_helper

    from . import qoperator
    from .validate import check_model
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001  (protobuf raises DecodeError and others for a damaged file)
        raise ModelError(f"{path}: not a readable ONNX model (the file is truncated, damaged or not an ONNX "
                         "protobuf)") from None
    external = sorted({entry.value for t in external_data_helper._get_all_tensors(model)
                       if external_data_helper.uses_external_data(t) for entry in t.external_data
                       if entry.key == "location"})
    if external:
        try:
            external_data_helper.load_external_data_for_model(model, str(path.parent))
        except Exception:  # noqa: BLE001  (missing, unreadable or too short data files)
            raise ModelError(f"{path}: its weights are stored in external data file(s) "
                             f"{', '.join(repr(e) for e in external)} that cannot be read; keep the .onnx and its "
                             "data file(s) together in one folder") from None
    if not model.graph.node:
        raise ModelError(f"{path}: the ONNX graph has no nodes (is this an ONNX model?)")
    model = qoperator.expand(model)
    check_model(model, str(path))
    return model


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_last(rank: int) -> tuple[int, ...]:
    """Memory order with the semantic channel axis (0) last: (1, 2, ..., 0)."""
    return tuple(range(1, rank)) + (0,)


def _topological(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes in an order where every input is produced first (ONNX requires it,
    some exporters don't keep it); a cycle or a missing producer keeps the file's order."""
    produced = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in produced for i in n.input)]
        if not ready:
            return ordered + pending  # the handler then names the missing input
        for n in ready:
            ordered.append(n)
            produced.update(n.output)
        pending = [n for n in pending if n not in ready]
    return ordered


class Importer:
    def __init__(self, model: onnx.ModelProto, source: str, max_memory: int | None = None):
        self.model = model
        self.source = source
        self.max_memory = max_memory
        self.graph = Graph(Path(source).stem)
        self.consts: dict[str, Const] = {}                       # ONNX name -> constant
        self.views: dict[str, tuple[str, tuple[int, ...]]] = {}  # ONNX name -> (IR node, order)
        self.qdq: dict[str, object] = {}  # integer tensors between QuantizeLinear and DequantizeLinear
        self.onnx_forms: dict[str, np.ndarray | np.dtype] = {}  # ONNX name -> see `remember`
        read = {i for n in model.graph.node for i in n.input}
        self.annotations = annotations(model)  # FINN datatypes of inputs and initializers (frontend/annotation.py)
        for init in model.graph.initializer:
            if init.name in read:  # (validate.py checked these; unread ones may hold anything)
                onnx_value = numpy_helper.to_array(init)
                self.remember(init.name, onnx_value)
                values = onnx_value.astype(np.float64)
                if init.name in self.annotations:  # typed exactly, as a Quant of the constant would be
                    datatype, t = self.annotations[init.name]
                    self.consts[init.name] = Const(annotated_mantissas(init.name, values, datatype, t, source), t)
                else:
                    self.consts[init.name] = Const(values)

    # -- helpers for handlers ---------------------------------------------------------------
    def check_size(self, where: str, shape) -> None:
        """Refuse a per-sample tensor of `shape` larger than the memory limit (int64 values), before
        a handler allocates anything of that size."""
        shape = [int(d) for d in shape]
        size = int(np.prod(shape, dtype=object))
        if self.max_memory is not None and size * 8 > self.max_memory:
            raise ModelError(f"{where}: its output {shape} needs {size * 8 / 2**30:.1f} GiB per sample, more "
                             f"than the {self.max_memory / 2**30:g} GiB memory limit; check its sizes, or raise "
                             "--max-memory")

    def where(self, n: onnx.NodeProto) -> str:
        return f"ONNX node '{n.name or n.output[0]}' ({n.op_type})"

    def const(self, n: onnx.NodeProto, name: str, what: str, quantized: bool = False, scaled: bool = False) -> Const:
        """The constant `name`, in the form the caller handles: float values unless `quantized`
        (the caller handles fixed-point mantissas) and, for integers with a float scale (a Quant
        with a non-power-of-two scale), the float32 values q * s the reference computes with
        unless `scaled` (the caller applies the scale itself, as Dense/Conv do)."""
        if name not in self.consts:
            raise UnsupportedError(f"{self.where(n)}: {what} '{name}' must be a constant")
        c = self.consts[name]
        if c.scale is not None and not scaled:
            return Const(c.dequantized())
        if c.fixed is not None and c.scale is None and not quantized:
            return Const(c.as_float())
        return c

    def scalar(self, n: onnx.NodeProto, name: str, what: str) -> float:
        """The constant `name` that ONNX defines as one value (a Clip bound, a Pad value), as a float;
        a tensor of any other size is one error line (its first element is not taken)."""
        c = self.const(n, name, what).values
        if c.size != 1:
            raise ModelError(f"{self.where(n)}: {what} must be one value (a scalar), got shape {list(c.shape)}")
        return float(c.reshape(-1)[0])

    def is_const(self, name: str) -> bool:
        return name in self.consts

    def view(self, n: onnx.NodeProto, name: str) -> tuple[Node, tuple[int, ...]]:
        if name in self.consts:
            raise UnsupportedError(f"{self.where(n)}: operating on two constants is not supported")
        if name in self.qdq:
            raise UnsupportedError(f"{self.where(n)}: reads the integers between a QuantizeLinear and its "
                                   "DequantizeLinear; only Clip, Identity or Dropout may stand there")
        if name not in self.views:
            raise ModelError(f"{self.where(n)}: input '{name}' is produced by no node or graph input")
        node, order = self.views[name]
        return self.graph.node(node), order

    def act(self, n: onnx.NodeProto, name: str) -> Node:
        """The node producing `name`, whatever its memory order (for layout-free ops)."""
        return self.view(n, name)[0]

    def order(self, name: str) -> tuple[int, ...]:
        if name not in self.views:
            raise ModelError(f"tensor '{name}' is produced by no node or graph input qconv could import")
        return self.views[name][1]

    def semantic_shape(self, n: onnx.NodeProto, name: str) -> tuple[int, ...]:
        node, order = self.view(n, name)
        shape = [0] * len(order)
        for mem_axis, sem_axis in enumerate(order):
            shape[sem_axis] = node.out.shape[mem_axis]
        return tuple(shape)

    def in_order(self, n: onnx.NodeProto, name: str, order: tuple[int, ...]) -> Node:
        """The tensor `name` with memory order `order`, emitting a Transpose node if needed."""
        node, have = self.view(n, name)
        if have == tuple(order):
            return node
        cached = self.views.get(f"{name}@{tuple(order)}")
        if cached:
            return self.graph.node(cached[0])
        if len(have) != len(order):
            raise UnsupportedError(f"{self.where(n)}: input '{name}' has rank {len(have)}, expected {len(order)}")
        # out memory axis i holds semantic axis order[i], found at memory axis have.index(order[i])
        perm = tuple(have.index(s) for s in order)
        shape = tuple(node.out.shape[p] for p in perm)
        t = self.add_node(f"{node.name}_T", "Transpose", [node], shape, origin=f"layout change for {self.where(n)}",
                          attrs={"perm": perm})
        self.views[f"{name}@{tuple(order)}"] = (t.name, tuple(order))
        return t

    def semantic(self, n: onnx.NodeProto, name: str) -> Node:
        """The tensor in ONNX's own row-major order (for Flatten, Reshape, Dense...)."""
        return self.in_order(n, name, identity(len(self.view(n, name)[1])))

    def add_node(self, base: str, op: str, inputs: list[Node], shape, **kw) -> Node:
        name = self.graph.fresh_name(base)
        node = Node(name, op, [i.name for i in inputs], TensorType(tuple(int(d) for d in shape)), **kw)
        self.check_size(node.describe(), node.out.shape)
        return self.graph.add(node)

    def emit(self, n: onnx.NodeProto, op: str, inputs: list[Node], shape, order=None, **kw) -> Node:
        """Add the IR node computing ONNX node `n`'s first output; `order` defaults to the
        first input's (element-wise ops keep the layout) or identity."""
        node = self.add_node(n.name or n.output[0], op, inputs, shape, origin=self.where(n),
                             source=(n.name or n.output[0], n.op_type), **kw)
        if order is None:
            order = self.order(n.input[0]) if n.input and n.input[0] in self.views else identity(len(shape))
        self.views[n.output[0]] = (node.name, tuple(order))
        return node

    def alias(self, onnx_name: str, node: Node, order: tuple[int, ...]) -> None:
        self.views[onnx_name] = (node.name, tuple(order))

    def relabel(self, src: str, dst: str, perm, where: str = "") -> None:
        """View `dst` = ONNX Transpose(src, perm): the same memory, axes relabelled."""
        name, order = self.views[src]
        if sorted(perm) != list(range(len(order) + 1)):
            raise ModelError(f"{where or 'tensor ' + repr(src)}: Transpose perm {list(perm)} is not a permutation "
                             f"of the input's {len(order) + 1} axes (batch included)")
        if perm[0] != 0:
            raise BatchAxisError(f"{where or 'tensor ' + repr(src)}: a Transpose that moves the batch axis is "
                                 "not supported")
        sem = [p - 1 for p in perm[1:]]  # new semantic axis j = old semantic axis sem[j]
        inverse = {old: new for new, old in enumerate(sem)}
        self.views[dst] = (name, tuple(inverse[s] for s in order))

    def channels_last_node(self, n: onnx.NodeProto, fn, attrs) -> None:
        """qonnx's channels-last domain: the op on NCHW between two transposes (relabels here)."""
        rank = len(self.view(n, n.input[0])[1]) + 1
        if rank < 3:
            raise ModelError(f"{self.where(n)}: a channels-last op needs an input with channel and spatial "
                             f"axes (rank >= 3), got rank {rank}; is the domain '{n.domain}' right?")
        inner = onnx.NodeProto()
        inner.CopyFrom(n)
        inner.input[0], inner.output[0] = n.input[0] + "@nchw", n.output[0] + "@nchw"
        to_first = [0, rank - 1] + list(range(1, rank - 1))
        self.relabel(n.input[0], inner.input[0], to_first)
        if n.op_type == "Conv":  # the weights are channels-last too (O, spatial..., I)
            w = self.const(n, n.input[1], "weight", quantized=True, scaled=True)
            inner.input[1] = n.input[1] + "@nchw"
            self.consts[inner.input[1]] = Const(np.ascontiguousarray(w.values.transpose(to_first)), w.fixed,
                                                None if w.scale is None else
                                                np.ascontiguousarray(w.scale.transpose(to_first)))
        fn(self, inner, attrs)
        self.relabel(inner.output[0], n.output[0], [0] + list(range(2, rank)) + [1])

    # operators whose constant inputs carry quantization meaning: handled by their importers
    NOT_FOLDED = {"Quant", "IntQuant", "BipolarQuant", "FloatQuant", "Trunc", "Constant", "Identity", "Dropout",
                  "QuantizeLinear", "DequantizeLinear"}
    LAYOUT_OPS = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Gather", "Slice", "Concat"}

    def fold_constant(self, n: onnx.NodeProto) -> bool:
        """Evaluate a standard ONNX node whose inputs are all float constants (e.g. a Reshape or
        Transpose of a weight) with onnx's reference evaluator; True if folded."""
        ins = [i for i in n.input if i]
        if n.domain not in ("", "ai.onnx") or n.op_type in self.NOT_FOLDED or not ins:
            return False
        if not all(i in self.consts for i in ins):
            return False
        quantized = self.consts[ins[0]].fixed
        if n.op_type == "Concat":  # every input holds values: all float, or all of one fixed type
            kinds = {(self.consts[i].fixed, self.consts[i].scale is None) for i in ins}
            if len(kinds) > 1 or self.consts[ins[0]].scale is not None:
                return False  # the handler refuses what it cannot join exactly
        elif any(self.consts[i].quantized for i in ins[1:]):
            return False  # a quantized shape, axis or index: meaningless
        if quantized and n.op_type not in self.LAYOUT_OPS:
            return False  # arithmetic on quantized constants would change their meaning
        from onnx.reference import ReferenceEvaluator
        inputs = [onnx.helper.make_tensor_value_info(i, onnx.TensorProto.UNDEFINED, None) for i in ins]
        outputs = [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in n.output if o]
        graph = onnx.helper.make_graph([n], "fold", inputs, outputs)
        opsets = [o for o in self.model.opset_import if o.domain in ("", "ai.onnx")]
        try:
            results = ReferenceEvaluator(onnx.helper.make_model(graph, opset_imports=opsets)).run(
                None, {i: self._as_onnx_value(i) for i in ins})
        except Exception as exc:
            raise ModelError(f"{self.where(n)}: cannot fold this constant expression ({exc})") from None
        scale = self.consts[ins[0]].scale
        if scale is not None:  # move the float scales of scaled integers the same way
            scales = ReferenceEvaluator(onnx.helper.make_model(graph, opset_imports=opsets)).run(
                None, {i: (scale.astype(np.float32) if k == 0 else self._as_onnx_value(i)) for k, i in enumerate(ins)})
        for k, (name, value) in enumerate(zip([o for o in n.output if o], results)):
            value = np.asarray(value)
            if quantized:
                self.consts[name] = Const(value.astype(np.int64), quantized,
                                          None if scale is None else np.asarray(scales[k], np.float64))
            else:
                self.consts[name] = Const(value.astype(np.float64))
                self.remember(name, value)
        return True

    def remember(self, name: str, onnx_value: np.ndarray) -> None:
        """Keep what folding needs to give an unquantized constant back to ONNX as ONNX held it
        (consts hold float64): an integer or bool constant itself (an int64 above 2^53, such as
        Slice's customary end INT64_MAX, has no exact float64), a float one's element type."""
        onnx_value = np.asarray(onnx_value)
        self.onnx_forms[name] = onnx_value if onnx_value.dtype.kind in "biu" else onnx_value.dtype

    def _as_onnx_value(self, name: str) -> np.ndarray:
        """A constant as ONNX holds it (`remember`; constants qconv made itself: float32), quantized
        constants as their int64 mantissas."""
        if self.consts[name].quantized:
            return self.consts[name].values.astype(np.int64)
        form = self.onnx_forms.get(name, np.dtype(np.float32))
        return form if isinstance(form, np.ndarray) else self.consts[name].values.astype(form)

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        for vi in g.input:
            if vi.name in self.consts or any(t.name == vi.name for t in g.initializer):
                continue
            dims = vi.type.tensor_type.shape.dim
            shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
            if len(shape) < 2 or any(d is None or d <= 0 for d in shape[1:]):
                raise ModelError(f"{self.source}: graph input '{vi.name}' needs a static shape "
                                 f"[batch, ...], got {shape}")
            node = Node(self.graph.fresh_name(vi.name, is_input=True), "Input", [], TensorType(tuple(shape[1:])),
                        attrs={"onnx_name": vi.name}, origin=f"graph input '{vi.name}'")
            if vi.name in self.annotations:  # its type, unless a quantizer on it declares one (infer_types)
                node.attrs["annotation"] = self.annotations[vi.name][1]
            self.graph.add(node)
            self.graph.inputs.append(node.name)
            self.alias(vi.name, node, identity(len(shape) - 1))
        if not self.graph.inputs:
            raise ModelError(f"{self.source}: the graph has no (non-constant) input")
        for n in _topological(g):
            if self.fold_constant(n):
                continue
            fn = HANDLERS.get(n.op_type)
            if fn is None:
                raise UnsupportedError(
                    f"{self.where(n)}: op '{n.op_type}' is not supported (supported: {', '.join(sorted(HANDLERS))})")
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.domain.endswith("channels_last"):
                self.channels_last_node(n, fn, attrs)
            else:
                fn(self, n, attrs)
        for vo in g.output:
            if vo.name not in self.views:
                raise UnsupportedError(f"{self.source}: graph output '{vo.name}' is a constant")
            node = self.in_order(onnx.NodeProto(name=vo.name, op_type="output", output=[vo.name]), vo.name,
                                 identity(len(self.order(vo.name))))
            self.graph.outputs.append(node.name)
            self.graph.output_names.append(vo.name)
        return self.graph
