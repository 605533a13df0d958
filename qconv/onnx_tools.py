"""Small ONNX model surgery and construction helpers (examples, benchmarks, tests, conformance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"


def add_quant(nodes: list, inits: list, x: str, out: str, scale: float, bits: int, signed: bool,
              narrow: bool, rounding_mode: str = "ROUND") -> str:
    """Append a QONNX Quant node `out` = Quant(x) (zero point 0) and its parameter initializers."""
    names = [f"{out}_scale", f"{out}_zeropt", f"{out}_bits"]
    for n, v in zip(names, (scale, 0.0, float(bits))):
        inits.append(numpy_helper.from_array(np.array(v, np.float32), n))
    nodes.append(helper.make_node("Quant", [x, *names], [out], name=out, domain=QONNX_DOMAIN,
                                  signed=int(signed), narrow=int(narrow), rounding_mode=rounding_mode))
    return out


def cut_before(path: str | Path, op_type: str, out_path: str | Path) -> Path:
    """A copy of the model ending at the input of its (first) `op_type` node, e.g. the logits
    before a final Softmax; the model itself when it has no such node."""
    model = onnx.load(str(path))
    node = next((n for n in model.graph.node if n.op_type == op_type), None)
    return Path(path) if node is None else cut_at(model, [node.input[0]], out_path)


QUANTIZERS = {"Quant", "IntQuant", "BipolarQuant", "FloatQuant", "Trunc", "MultiThreshold"}  # qonnx / FINN domains
DATA_MOVEMENT = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"}


def _load(model: onnx.ModelProto | str | Path) -> onnx.ModelProto:
    return model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in graph.node for o in n.output if o}


def constant_tensors(graph: onnx.GraphProto) -> set[str]:
    """Tensors computed from initializers and Constant nodes only (weights and their quantizers,
    shapes, scales): repeated until stable, so an unsorted graph is handled too."""
    const = {i.name for i in graph.initializer}
    changed = True
    while changed:
        changed = False
        for node in graph.node:
            if not set(node.output) <= const and all(i in const for i in node.input if i):
                const.update(node.output)
                changed = True
    return const


def _is_quantizer(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> bool:
    """A QONNX/FINN quantizer, or a DequantizeLinear fed by QuantizeLinear (optionally via Clip)."""
    if node.op_type in QUANTIZERS:
        return node.domain not in ("", "ai.onnx")
    if node.op_type != "DequantizeLinear":
        return False
    src = producers.get(node.input[0])
    if src is not None and src.op_type == "Clip":
        src = producers.get(src.input[0])
    return src is not None and src.op_type == "QuantizeLinear"


def last_quantized(model: onnx.ModelProto | str | Path) -> list[str] | None:
    """The outputs of the last activation quantizers before the graph outputs, when a float tail
    (any op but data movement) follows them; None when the outputs are quantizer outputs (up to
    Reshape/Transpose/...) or the model has no activation quantizer. Walks back from each graph
    output and stops at the first quantizer whose input is not a constant (weights are skipped)."""
    graph = _load(model).graph
    const, producers = constant_tensors(graph), _producers(graph)
    found, tail = [], False
    stack, seen = [o.name for o in graph.output], set()
    while stack:
        name = stack.pop()
        node = producers.get(name)
        if name in seen or name in const or node is None:
            continue
        seen.add(name)
        if _is_quantizer(node, producers):
            found.append(name)
        elif node.op_type in DATA_MOVEMENT:
            stack.append(node.input[0])
        else:
            tail = True
            stack.extend(i for i in node.input if i)
    return list(dict.fromkeys(found)) if tail and found else None


def cut_at(model: onnx.ModelProto | str | Path, tensors: list[str], out_path: str | Path) -> Path:
    """A copy of the model whose outputs are `tensors`, keeping only the nodes, inputs and
    initializers they need. No checker or shape inference (they reject custom-domain ops): an
    output's shape is copied when the model declares it, else left for the reader to infer."""
    model = onnx.ModelProto.FromString(_load(model).SerializeToString())  # a copy
    graph = model.graph
    producers = _producers(graph)
    needed, stack = set(), list(tensors)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in producers:
            stack.extend(i for i in producers[name].input if i)
    declared = {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}
    outputs = [declared[t] if t in declared else helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
               for t in tensors]
    nodes = [n for n in graph.node if any(o in needed for o in n.output)]
    inputs = [v for v in graph.input if v.name in needed]
    inits = [i for i in graph.initializer if i.name in needed]
    infos = [v for v in graph.value_info if v.name in needed and v.name not in tensors]
    notes = [onnx.TensorAnnotation.FromString(a.SerializeToString())  # (FINN datatypes are types; copies:
             for a in graph.quantization_annotation if a.tensor_name in needed]  # CopyFrom below clears graph)
    model.graph.CopyFrom(helper.make_graph(nodes, graph.name, inputs, outputs, inits, value_info=infos))
    model.graph.quantization_annotation.extend(notes)
    onnx.save(model, str(out_path))
    return Path(out_path)
