"""Validation of an ONNX model before import: what a careful user would check by hand.

`check_model(model, source)` runs before the importer sees a node, so a malformed file gives one
`ModelError`/`UnsupportedError` line naming the node, the tensor or the attribute, never a
traceback from deep inside a handler, and never a silently wrong output. It checks:

- opsets: a default-domain opset is declared, within the versions onnx knows and qconv reads
  (6 and up; `onnx.version_converter` upgrades older files);
- domains: every node is a standard ONNX op or one of the QONNX/FINN/Brevitas custom ops qconv
  knows (unknown domains are refused instead of being run as standard ops);
- graph structure: every node has an output, every tensor one producer, every input a producer,
  no cycle, at least one graph output and every graph output produced;
- standard nodes against their ONNX schema (`onnx.checker.check_node`: input/output counts,
  attribute names and types), custom QONNX nodes against `CUSTOM_OPS`;
- graph inputs: numeric element types only (no STRING/BOOL/complex);
- constants (initializers, `Constant` nodes): numeric and finite (fixed point has no NaN/Inf).

Shape and attribute consistency that needs the tensors' shapes (pads, strides, perms, weight
ranks) is checked where the shapes are known, in the op handlers.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, checker, numpy_helper

from ..errors import ModelError, UnsupportedError

OLDEST_OPSET = 6
STANDARD_DOMAINS = ("", "ai.onnx")
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "finn", "onnx.brevitas")
CHANNELS_LAST_DOMAINS = ("qonnx.custom_op.channels_last", "finn.custom_op.channels_last")
CHANNELS_LAST_OPS = ("Conv", "MaxPool", "BatchNormalization")  # qonnx's custom_op/channels_last

_INT, _STRING, _FLOAT = AttributeProto.INT, AttributeProto.STRING, AttributeProto.FLOAT
# custom op -> (fewest inputs, most inputs, {attribute: type}), as QONNX defines them
CUSTOM_OPS = {
    "Quant": (4, 4, {"signed": _INT, "narrow": _INT, "rounding_mode": _STRING}),
    "IntQuant": (4, 4, {"signed": _INT, "narrow": _INT, "rounding_mode": _STRING}),
    "BipolarQuant": (2, 2, {}),
    "FloatQuant": (6, 6, {"rounding_mode": _STRING, "has_inf": _INT, "has_nan": _INT, "has_subnormal": _INT,
                          "saturation": _INT}),
    "Trunc": (5, 6, {"rounding_mode": _STRING, "signed": _INT, "narrow": _INT}),
    "MultiThreshold": (2, 2, {"out_dtype": _STRING, "out_scale": _FLOAT, "out_bias": _FLOAT,
                              "data_layout": _STRING}),
}
FLOAT_INPUTS = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
NON_NUMERIC = {TensorProto.STRING: "STRING", TensorProto.BOOL: "BOOL", TensorProto.COMPLEX64: "COMPLEX64",
               TensorProto.COMPLEX128: "COMPLEX128"}


def node_name(n: onnx.NodeProto) -> str:
    return f"ONNX node '{n.name or (n.output[0] if n.output else '?')}' ({n.op_type})"


def check_model(model: onnx.ModelProto, source: str) -> None:
    """Raise a one-line QconvError for the first problem found in `model` (read from `source`)."""
    opset = _check_opsets(model, source)
    g = model.graph
    _check_inputs(g, source)
    _check_constants(g, source)
    _check_structure(g, source)
    ctx = checker.C.CheckerContext()
    ctx.ir_version = max(model.ir_version, 3)
    ctx.opset_imports = {"": opset}
    for n in g.node:
        _check_node(n, ctx, opset)


def _check_opsets(model: onnx.ModelProto, source: str) -> int:
    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in model.opset_import if o.domain in STANDARD_DOMAINS]
    if not versions:
        raise ModelError(f"{source}: the model declares no opset for the default ONNX domain "
                         "(opset_import); re-export it, or add one with onnx.helper.make_opsetid('', N)")
    if len(set(versions)) > 1:
        raise ModelError(f"{source}: the model declares the default ONNX domain's opset {len(versions)} times "
                         f"({', '.join(map(str, versions))}); keep one")
    version = versions[0]
    if not OLDEST_OPSET <= version <= newest:
        raise ModelError(f"{source}: ONNX opset {version} is outside the opsets qconv reads ({OLDEST_OPSET} to "
                         f"{newest}); convert it with onnx.version_converter.convert_version")
    return version


def _check_inputs(g: onnx.GraphProto, source: str) -> None:
    """Graph inputs (other than initializers listed as inputs) are float tensors: quantization is
    described by the model's quantizers or --input-type, never by an integer input type."""
    constants = {t.name for t in g.initializer}
    for vi in g.input:
        if vi.name in constants:
            continue
        kind = vi.type.WhichOneof("value")
        if kind is not None and kind != "tensor_type":
            raise UnsupportedError(f"{source}: graph input '{vi.name}' is a {kind}, not a tensor")
        elem = vi.type.tensor_type.elem_type
        if elem not in FLOAT_INPUTS:
            name = TensorProto.DataType.Name(elem) if elem in TensorProto.DataType.values() else str(elem)
            raise UnsupportedError(f"{source}: graph input '{vi.name}' has element type {name}; qconv reads FLOAT, "
                                   "DOUBLE or FLOAT16 inputs (give integer data as floats, typed by a quantizer or "
                                   "--input-type)")


def _constants(g: onnx.GraphProto):
    """(what, name, TensorProto) of every initializer and Constant node value."""
    for t in g.initializer:
        yield "initializer", t.name, t
    for n in g.node:
        if n.op_type == "Constant" and n.domain in STANDARD_DOMAINS:
            for a in n.attribute:
                if a.type == AttributeProto.TENSOR:
                    yield f"{node_name(n)} value", n.output[0] if n.output else "?", a.t


def _check_constants(g: onnx.GraphProto, source: str) -> None:
    """Constants that nodes read are numeric and finite; infinite Clip bounds mean "no bound"."""
    read = {i for n in g.node for i in n.input}
    bounds = {i for n in g.node if n.op_type == "Clip" for i in n.input[1:3]}
    for what, name, t in _constants(g):
        if name not in read:
            continue
        if t.data_type not in TensorProto.DataType.values() or t.data_type == TensorProto.UNDEFINED:
            raise ModelError(f"{source}: {what} '{name}' has no valid element type ({t.data_type})")
        if t.data_type in NON_NUMERIC and t.data_type != TensorProto.BOOL:
            raise UnsupportedError(f"{source}: {what} '{name}' has element type {NON_NUMERIC[t.data_type]}; "
                                   "qconv computes on real numbers")
        if t.data_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16):
            continue
        try:
            values = numpy_helper.to_array(t)
        except Exception:  # noqa: BLE001  (onnx raises several types for inconsistent raw data)
            raise ModelError(f"{source}: {what} '{name}' cannot be read (its data does not match its "
                             f"shape {list(t.dims)})") from None
        values = values.astype(np.float64)
        bad = int(np.count_nonzero(np.isnan(values) if name in bounds else ~np.isfinite(values)))
        if bad:
            raise ModelError(f"{source}: {what} '{name}' holds {bad} NaN/Inf value{'s' * (bad > 1)}; fixed point "
                             "has no NaN or infinity: fix the weights (e.g. a diverged training run or a "
                             "BatchNorm variance of 0)")


def _check_structure(g: onnx.GraphProto, source: str) -> None:
    producer: dict[str, str] = {}
    for vi in g.input:
        producer[vi.name] = f"graph input '{vi.name}'"
    for t in g.initializer:
        producer.setdefault(t.name, f"initializer '{t.name}'")
    for n in g.node:
        outs = [o for o in n.output]
        if not outs or not outs[0]:
            raise ModelError(f"{source}: {node_name(n)} has no output (its first output name is empty)")
        for o in outs:
            if not o:
                continue
            if o in producer:
                raise ModelError(f"{source}: tensor '{o}' is produced twice (by {producer[o]} and {node_name(n)}); "
                                 "every ONNX tensor has one producer")
            producer[o] = node_name(n)
    for n in g.node:
        for i in n.input:
            if i and i not in producer:
                raise ModelError(f"{source}: {node_name(n)} reads '{i}', which no node, initializer or graph "
                                 "input produces")
    if not g.output:
        raise ModelError(f"{source}: the graph declares no output")
    for vo in g.output:
        if vo.name not in producer:
            raise ModelError(f"{source}: graph output '{vo.name}' is produced by no node or graph input")
    _check_acyclic(g, source)


def _check_acyclic(g: onnx.GraphProto, source: str) -> None:
    """Kahn's algorithm over tensors; what is left over lies on (or after) a cycle."""
    ready = {vi.name for vi in g.input} | {t.name for t in g.initializer} | {""}
    pending = list(g.node)
    while pending:
        left = [n for n in pending if not all(i in ready for i in n.input)]
        if len(left) == len(pending):
            raise ModelError(f"{source}: the graph has a cycle through {node_name(left[0])} "
                             f"(it reads {', '.join(repr(i) for i in left[0].input if i not in ready)})")
        for n in pending:
            if n not in left:
                ready.update(n.output)
        pending = left


def _check_node(n: onnx.NodeProto, ctx, opset: int) -> None:
    where = node_name(n)
    names = [a.name for a in n.attribute]
    twice = sorted({a for a in names if names.count(a) > 1})
    if twice:
        raise ModelError(f"{where}: attribute{'s' * (len(twice) > 1)} {', '.join(map(repr, twice))} given twice")
    if n.domain in STANDARD_DOMAINS or n.domain in CHANNELS_LAST_DOMAINS:
        node = n
        if n.domain:  # 'ai.onnx' or a channels-last domain: checked as the standard op
            node = onnx.NodeProto()
            node.CopyFrom(n)
            node.domain = ""
        if n.domain in CHANNELS_LAST_DOMAINS:  # a standard op on channels-last data
            if n.op_type not in CHANNELS_LAST_OPS:
                raise UnsupportedError(f"{where}: domain '{n.domain}' defines only {', '.join(CHANNELS_LAST_OPS)}; "
                                       f"a channels-last {n.op_type} does not exist (use the standard domain '')")
        if not onnx.defs.has(node.op_type):
            return  # the importer names the unsupported op
        try:
            checker.check_node(node, ctx)
        except checker.ValidationError as exc:
            text = " ".join(str(exc).split())
            raise ModelError(f"{where}: {_checker_message(text, node.op_type, opset)} "
                             "(ONNX checker; fix the exporter or the file)") from None
        return
    if n.domain not in QONNX_DOMAINS:
        raise UnsupportedError(f"{where}: domain '{n.domain}' is not one qconv knows (standard ONNX, "
                               f"{', '.join(QONNX_DOMAINS + CHANNELS_LAST_DOMAINS)})")
    spec = CUSTOM_OPS.get(n.op_type)
    if spec is None:
        raise UnsupportedError(f"{where}: custom op '{n.op_type}' of domain '{n.domain}' is not supported "
                               f"(supported: {', '.join(CUSTOM_OPS)})")
    fewest, most, types = spec
    if not fewest <= len(n.input) <= most or not all(n.input[:fewest]):
        want = fewest if fewest == most else f"{fewest} to {most}"
        raise ModelError(f"{where}: has {len(n.input)} inputs; QONNX {n.op_type} takes {want}")
    for a in n.attribute:
        if a.name in types and a.type != types[a.name]:
            raise ModelError(f"{where}: attribute '{a.name}' is {AttributeProto.AttributeType.Name(a.type)}, "
                             f"QONNX defines it as {AttributeProto.AttributeType.Name(types[a.name])}")


def _checker_message(text: str, op: str, opset: int) -> str:
    """The ONNX checker's text without its C++ schema notation."""
    m = re.search(r"has (input|output) size (\d+) not in range \[min=(\d+), max=(\d+)\]", text)
    if m:
        kind, have, lo, hi = m.groups()
        want = lo if lo == hi else f"{lo} to {hi}"
        return f"has {have} {kind}s; ONNX {op} (opset {opset}) takes {want}"
    m = re.search(r"Mismatched attribute type in '[^:]*: (\w+)'. Expected: '(\w+)', actual: '(\w+)'", text)
    if m:
        name, want, have = m.groups()
        return f"attribute '{name}' is {have}, ONNX {op} defines it as {want}"
    return text.rstrip(".")
