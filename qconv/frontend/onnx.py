"""ONNX / QONNX -> qconv `Graph`.

Each supported ONNX op has one handler below (see `HANDLERS`). Constants (initializers,
`Constant` nodes, and QONNX `Quant` nodes applied to constants) are evaluated at import, so
weights arrive on `Dense` nodes already quantized when the model quantizes them. Activation
`Quant` nodes become `Quant` IR nodes that the absorption pass merges into their producers.

The first dimension of every graph input is the batch; IR shapes exclude it. Anything the
importer does not understand raises `UnsupportedError`/`ModelError` naming the ONNX node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError, UnsupportedError
from ..ir import Const, Graph, Node, TensorType
from ..quantizers import IntQuant

QUANT_OPS = {"Quant", "IntQuant"}


def load_model(path: str | Path) -> onnx.ModelProto:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, truncated files, ...
        raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node:
        raise ModelError(f"{path}: the ONNX graph has no nodes (is this an ONNX model?)")
    return model


class _Importer:
    def __init__(self, model: onnx.ModelProto, source: str):
        self.model = model
        self.source = source
        self.graph = Graph(_cpp_name(Path(source).stem))
        self.consts: dict[str, Const] = {}   # ONNX tensor name -> constant value
        self.tensors: dict[str, str] = {}    # ONNX tensor name -> IR node producing it
        for init in model.graph.initializer:
            self.consts[init.name] = Const(numpy_helper.to_array(init).astype(np.float64))

    # -- helpers ----------------------------------------------------------------------------
    def where(self, n: onnx.NodeProto) -> str:
        return f"ONNX node '{n.name or n.output[0]}' ({n.op_type})"

    def const(self, n: onnx.NodeProto, name: str, what: str) -> Const:
        if name not in self.consts:
            raise UnsupportedError(f"{self.where(n)}: {what} '{name}' must be a constant")
        return self.consts[name]

    def act(self, n: onnx.NodeProto, name: str) -> Node:
        if name in self.consts:
            raise UnsupportedError(f"{self.where(n)}: operating on two constants is not supported")
        if name not in self.tensors:
            raise ModelError(f"{self.where(n)}: input '{name}' is produced by no node or graph input")
        return self.graph.node(self.tensors[name])

    def emit(self, n: onnx.NodeProto, op: str, inputs: list[Node], shape, **kw) -> Node:
        name = _cpp_name(n.name or n.output[0])
        while name in self.graph:
            name += "_"
        node = Node(name, op, [i.name for i in inputs], TensorType(tuple(int(d) for d in shape)),
                    origin=self.where(n), **kw)
        self.graph.add(node)
        self.tensors[n.output[0]] = name
        return node

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        init_names = set(self.consts)
        for vi in g.input:
            if vi.name in init_names:
                continue
            dims = vi.type.tensor_type.shape.dim
            shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
            if len(shape) < 2 or any(d is None or d <= 0 for d in shape[1:]):
                raise ModelError(f"{self.source}: graph input '{vi.name}' needs a static shape "
                                 f"[batch, ...], got {shape}")
            node = Node(_cpp_name(vi.name), "Input", [], TensorType(tuple(shape[1:])),
                        attrs={"onnx_name": vi.name}, origin=f"graph input '{vi.name}'")
            self.graph.add(node)
            self.graph.inputs.append(node.name)
            self.tensors[vi.name] = node.name
        if not self.graph.inputs:
            raise ModelError(f"{self.source}: the graph has no (non-constant) input")
        for n in g.node:
            handler = HANDLERS.get(n.op_type)
            if handler is None:
                raise UnsupportedError(
                    f"{self.where(n)}: op '{n.op_type}' is not supported "
                    f"(supported: {', '.join(sorted(HANDLERS))})")
            handler(self, n, {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
        for vo in g.output:
            if vo.name not in self.tensors:
                raise UnsupportedError(f"{self.source}: graph output '{vo.name}' is a constant")
            self.graph.outputs.append(self.tensors[vo.name])
            self.graph.output_names.append(vo.name)
        return self.graph


# -- op handlers ----------------------------------------------------------------------------
def _alias(imp: _Importer, n, attrs):
    src = n.input[0]
    if src in imp.consts:
        imp.consts[n.output[0]] = imp.consts[src]
    else:
        imp.tensors[n.output[0]] = imp.tensors[src]


def _constant(imp: _Importer, n, attrs):
    if "value" not in attrs:
        raise UnsupportedError(f"{imp.where(n)}: only the 'value' form of Constant is supported")
    imp.consts[n.output[0]] = Const(numpy_helper.to_array(attrs["value"]).astype(np.float64))


def _quant(imp: _Importer, n, attrs):
    params = [imp.const(n, name, "quantizer parameter").values for name in n.input[1:4]]
    q = IntQuant.from_inputs(*params, signed=attrs.get("signed", 1), narrow=attrs.get("narrow", 1),
                             rounding_mode=attrs.get("rounding_mode", "ROUND"), where=imp.where(n))
    if n.input[0] in imp.consts:
        src = imp.consts[n.input[0]]
        if src.quantized:
            raise UnsupportedError(f"{imp.where(n)}: re-quantizing a quantized constant is not supported")
        mant, ftype = q.quantize_constant(src.values)
        imp.consts[n.output[0]] = Const(mant, ftype)
        return
    x = imp.act(n, n.input[0])
    imp.emit(n, "Quant", [x], x.out.shape, attrs={"type": q.fixed_type()})


def _scaled(imp: _Importer, n, c: Const, factor: float, what: str) -> Const:
    """alpha * W (or beta * C): exact on quantized constants only for powers of two."""
    if factor == 1.0:
        return c
    if not c.quantized:
        return Const(c.values * factor)
    m, e = np.frexp(abs(factor))
    if m != 0.5 or factor < 0:
        raise UnsupportedError(f"{imp.where(n)}: {what}={factor} on a quantized constant must be a "
                               "positive power of two to stay exact")
    f = c.fixed
    return Const(c.values, type(f)(f.width, f.integer + int(e) - 1, f.signed, f.rounding, f.overflow))


def _dense(imp: _Importer, n, x: Node, w: Const, b: Const | None):
    if len(x.out.shape) != 1:
        raise UnsupportedError(f"{imp.where(n)}: input of shape {list(x.out.shape)} per sample; "
                               "Dense layers need a flat input (add a Flatten)")
    n_in, n_out = w.values.shape
    if x.out.shape[0] != n_in:
        raise ModelError(f"{imp.where(n)}: input has {x.out.shape[0]} features but the weight has {n_in} rows")
    consts = {"W": w}
    if b is not None:
        bv = b.values.reshape(-1)
        if bv.size == 1:
            bv = np.repeat(bv, n_out)
        if bv.size != n_out:
            raise ModelError(f"{imp.where(n)}: bias of {b.values.size} values for {n_out} outputs")
        consts["b"] = Const(bv, b.fixed)
    imp.emit(n, "Dense", [x], (n_out,), consts=consts)


def _gemm(imp: _Importer, n, attrs):
    x = imp.act(n, n.input[0])
    if attrs.get("transA", 0):
        raise UnsupportedError(f"{imp.where(n)}: transA=1 on an activation input is not supported")
    w = imp.const(n, n.input[1], "weight B")
    if w.values.ndim != 2:
        raise ModelError(f"{imp.where(n)}: weight B must be 2-D")
    if attrs.get("transB", 0):
        w = Const(w.values.T.copy(), w.fixed)
    w = _scaled(imp, n, w, float(attrs.get("alpha", 1.0)), "alpha")
    b = None
    if len(n.input) > 2 and n.input[2]:
        b = _scaled(imp, n, imp.const(n, n.input[2], "bias C"), float(attrs.get("beta", 1.0)), "beta")
    _dense(imp, n, x, w, b)


def _matmul(imp: _Importer, n, attrs):
    x = imp.act(n, n.input[0])
    w = imp.const(n, n.input[1], "weight")
    if w.values.ndim != 2:
        raise UnsupportedError(f"{imp.where(n)}: only MatMul by a 2-D constant is supported")
    _dense(imp, n, x, w, None)


def _add(imp: _Importer, n, attrs):
    a, b = n.input[0], n.input[1]
    if a in imp.consts:
        a, b = b, a
    x = imp.act(n, a)
    c = imp.const(n, b, "addend")
    imp.emit(n, "BiasAdd", [x], x.out.shape, consts={"b": Const(c.values.reshape(-1), c.fixed)})


def _relu(imp: _Importer, n, attrs):
    x = imp.act(n, n.input[0])
    imp.emit(n, "Relu", [x], x.out.shape)


def _sigmoid(imp: _Importer, n, attrs):
    x = imp.act(n, n.input[0])
    imp.emit(n, "Table", [x], x.out.shape, attrs={"fn": "sigmoid"})


def _flatten(imp: _Importer, n, attrs):
    x = imp.act(n, n.input[0])
    if attrs.get("axis", 1) != 1:
        raise UnsupportedError(f"{imp.where(n)}: Flatten with axis != 1 is not supported")
    imp.emit(n, "Reshape", [x], (x.out.size,))


def _reshape(imp: _Importer, n, attrs):
    x = imp.act(n, n.input[0])
    target = [int(d) for d in imp.const(n, n.input[1], "shape").values.reshape(-1)]
    dims = [x.out.shape[i - 1] if d == 0 and 0 < i <= len(x.out.shape) else d for i, d in enumerate(target)][1:]
    if dims.count(-1) > 1:
        raise ModelError(f"{imp.where(n)}: more than one -1 in shape {target}")
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        dims[dims.index(-1)] = x.out.size // max(known, 1)
    if int(np.prod(dims, dtype=np.int64)) != x.out.size or (target and target[0] not in (-1, 0, 1)):
        raise UnsupportedError(f"{imp.where(n)}: reshape of {list(x.out.shape)} per sample to {target} "
                               "must keep the batch dimension first")
    imp.emit(n, "Reshape", [x], tuple(dims))


HANDLERS = {
    "Quant": _quant, "IntQuant": _quant,
    "Identity": _alias, "Dropout": _alias, "Constant": _constant,
    "Gemm": _gemm, "MatMul": _matmul, "Add": _add, "Relu": _relu, "Sigmoid": _sigmoid,
    "Flatten": _flatten, "Reshape": _reshape,
}


def _cpp_name(name: str) -> str:
    """A valid, readable C++ identifier for an ONNX name."""
    out = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "t"
    return ("n_" + out) if out[0].isdigit() else out


def import_onnx(path: str | Path) -> Graph:
    """Read an ONNX/QONNX file into an (untyped, un-optimized) `Graph`."""
    return _Importer(load_model(path), str(path)).run()
