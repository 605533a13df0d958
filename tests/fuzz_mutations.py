"""The mutations of the fuzz test (tests/fuzzing.py runs them): small named functions
`(ModelProto, rng) -> ModelProto | bytes | None` registered in `MUTATIONS` by `@mutation(expect)`.

A mutation edits the model in place and returns it (or the file's bytes, for damaged files), or
None when it does not apply to the model. `expect` says what qconv must make of the result:
SAME (semantics preserved: bit-identical outputs; a clean error is a failure), REFERENCE (a valid model with
other semantics: a clean error or the qonnx reference's outputs) or ERROR (malformed: a clean
error, or the reference accepts it too and agrees). Mutations with `on_inputs=True` change the
input data instead: `(inputs: list[np.ndarray], rng) -> list | None`.

REFERENCE mutations keep every value exact in the reference's float32 (power-of-two scales,
at most 8-bit operands), so that exact equality is the right test.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .randmodels import QD


# ------------------------------------------------------------------------------- proto helpers

def graph_inputs(g) -> list:
    """The graph inputs that are not initializers (data fed at run time), in order."""
    inits = {t.name for t in g.initializer}
    return [vi for vi in g.input if vi.name not in inits]


def _tensor_names(g) -> set[str]:
    names = {t.name for t in g.initializer} | {vi.name for vi in (*g.input, *g.output)}
    for node in g.node:
        names.update(node.input)
        names.update(node.output)
    return names - {""}


def _fresh(model, base: str = "fz") -> str:
    used = _tensor_names(model.graph) | {n.name for n in model.graph.node} | {vi.name for vi in model.graph.value_info}
    i = 0
    while f"{base}_{i}" in used:
        i += 1
    return f"{base}_{i}"


def _dynamic(g) -> set[str]:
    """Tensors computed from the graph inputs (the data path), as opposed to constants."""
    live = {vi.name for vi in graph_inputs(g)}
    changed = True
    while changed:
        changed = False
        for node in g.node:
            if live.intersection(node.input) and not live.issuperset(o for o in node.output if o):
                live.update(o for o in node.output if o)
                changed = True
    return live


def _producer_index(g, tensor: str) -> int | None:
    return next((i for i, n in enumerate(g.node) if tensor in n.output), None)


def _initializer(g, name: str):
    return next((t for t in g.initializer if t.name == name), None)


def _pick(rng, items):
    items = list(items)
    return items[int(rng.integers(len(items)))] if items else None


def _nodes(g, *ops: str) -> list:
    return [n for n in g.node if n.op_type in ops]


def _set_attr(node, name: str, value=None, attr=None) -> None:
    """Replace (or add) attribute `name`: a plain value, or a ready-made AttributeProto."""
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(attr if attr is not None else helper.make_attribute(name, value))


def _attr(node, name: str, default=None):
    a = next((a for a in node.attribute if a.name == name), None)
    return helper.get_attribute_value(a) if a is not None else default


def _feed(model, node, index: int, value, base: str = "fz_c") -> str:
    """Point input `index` of `node` at a new initializer holding `value` (a parameter shared
    with other nodes stays untouched)."""
    name = _fresh(model, base)
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    while len(node.input) <= index:
        node.input.append("")
    node.input[index] = name
    return name


def _rename(model, mapping: dict[str, str]):
    g = model.graph
    for node in g.node:
        node.input[:] = [mapping.get(i, i) for i in node.input]
        node.output[:] = [mapping.get(o, o) for o in node.output]
    for vi in (*g.input, *g.output, *g.value_info):
        vi.name = mapping.get(vi.name, vi.name)
    for t in g.initializer:
        t.name = mapping.get(t.name, t.name)
    return model


def _insert_after(model, tensor: str, op: str, inputs_after: tuple[str, ...] = (), **attrs) -> str:
    """Insert `op` reading `tensor` and replacing it for every reader (graph outputs included).
    Returns the name of the tensor the new node reads."""
    g = model.graph
    fresh = _fresh(model)
    index = _producer_index(g, tensor)
    if index is None:  # a graph input or initializer: readers are rewired to the new tensor
        for node in g.node:
            node.input[:] = [fresh if i == tensor else i for i in node.input]
        g.node.insert(0, helper.make_node(op, [tensor, *inputs_after], [fresh], name=fresh, **attrs))
        return tensor
    producer = g.node[index]
    producer.output[:] = [fresh if o == tensor else o for o in producer.output]
    g.node.insert(index + 1, helper.make_node(op, [fresh, *inputs_after], [tensor], name=fresh, **attrs))
    return fresh


def _edges(g, dynamic_only: bool = True) -> list[str]:
    """Tensors read by some node or listed as a graph output (optionally data-path ones only)."""
    read = {i for n in g.node for i in n.input if i} | {o.name for o in g.output}
    return sorted(read & _dynamic(g)) if dynamic_only else sorted(read)


def _quants(g, kind: str = "any") -> list:
    """Quant nodes: "act" (data input), "weight" (constant input) or "any"."""
    dynamic = _dynamic(g)
    return [n for n in g.node if n.op_type == "Quant"
            and (kind == "any" or (n.input[0] in dynamic) == (kind == "act"))]


def _weight_initializer(g, node, index: int):
    """The initializer feeding input `index` of `node`, directly or through one Quant."""
    if len(node.input) <= index:
        return None
    name = node.input[index]
    init = _initializer(g, name)
    if init is None:
        quant = next((n for n in g.node if name in n.output and n.op_type == "Quant"), None)
        init = _initializer(g, quant.input[0]) if quant is not None else None
    return init


def _replace_initializer(g, init, array: np.ndarray) -> None:
    init.CopyFrom(numpy_helper.from_array(np.asarray(array), init.name))


def _opset(model) -> int:
    """The default domain's opset version (0 when none is declared)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _quant_domain(model) -> str:
    domain = next((n.domain for n in model.graph.node if n.op_type == "Quant"), QD)
    if all(o.domain != domain for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(domain, 1))
    return domain


def _forget_shapes(model):
    """Drop value_info and the graph outputs' shapes (stale after a mutation that changes shapes)."""
    del model.graph.value_info[:]
    for vi in model.graph.output:
        vi.type.tensor_type.ClearField("shape")
    return model


def _float_initializers(g) -> list:
    """Non-empty float initializers that some node reads."""
    read = {i for n in g.node for i in n.input}
    return [t for t in g.initializer
            if t.data_type == TensorProto.FLOAT and t.name in read and numpy_helper.to_array(t).size > 0]


# ------------------------------------------------------------------------------ the registry

SAME, REFERENCE, ERROR = "same", "reference", "error"


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    expect: str              # SAME | REFERENCE | ERROR (see the module docstring)
    fn: Callable
    on_inputs: bool = False  # fn(inputs: list[np.ndarray], rng) -> list | None instead of the model
    backend: bool = False    # aimed at the C++ backend (names, comments): worth a C simulation

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0]


MUTATIONS: dict[str, Mutation] = {}


def mutation(expect: str, on_inputs: bool = False, backend: bool = False):
    """Register the decorated function in MUTATIONS under its own name."""
    def register(fn):
        MUTATIONS[fn.__name__] = Mutation(fn.__name__, expect, fn, on_inputs, backend)
        return fn
    return register


CPP_WORDS = ["int", "class", "float", "double", "void", "template", "namespace", "return", "ap_fixed",
             "ap_uint", "ap_int", "main", "std", "const", "auto", "register", "typedef", "struct",
             "operator", "delete", "new", "for", "if", "default", "union", "static", "inline", "hls",
             "nnet", "input", "output", "data", "config", "weights", "result", "x", "y", "w0", "b0", "this"]
ODD_NAMES = ["a.b/c:0", "x y", "名前", "ñandú", "-1", "0", "1abc", "::", "a+b", "(out)", "tab\tname",
             "line\nbreak", "emoji😀", '"quoted"', "back\\slash", "semi;colon", "/*c*/", "//x", "$",
             "#define", "a<b>", "...", "%d%s", "{}", "ap_fixed<8,3>", " ", "__x__", "?"]


def _rename_some(model, rng, new_names: list[str]):
    """Rename a random subset of tensors (graph inputs/outputs, initializers, intermediates)."""
    names = sorted(_tensor_names(model.graph))
    new_names = [n for n in new_names if n not in names]
    count = min(len(names), len(new_names), int(rng.integers(1, 9)))
    if count == 0:
        return None
    chosen = rng.choice(names, size=count, replace=False)
    return _rename(model, dict(zip(chosen, rng.permutation(new_names)[:count])))


@mutation(SAME, backend=True)
def rename_cpp_keywords(model, rng):
    """Tensors renamed to C++ keywords and names the generated code uses (int, class, ap_fixed, ...)."""
    return _rename_some(model, rng, CPP_WORDS)


@mutation(SAME, backend=True)
def rename_long(model, rng):
    """Tensors renamed to 300-character names that differ only at their end."""
    return _rename_some(model, rng, ["t" + "x" * 290 + f"{i:09d}" for i in range(8)])


@mutation(SAME, backend=True)
def rename_odd_characters(model, rng):
    """Tensors renamed to names with punctuation, whitespace, unicode, digits first."""
    return _rename_some(model, rng, ODD_NAMES)


@mutation(SAME, backend=True)
def rename_colliding(model, rng):
    """Tensors renamed to names equal after C++ mangling (t.0, t_0, t-0, t/0, ...)."""
    return _rename_some(model, rng, [f"t{sep}0" for sep in "._-/: +"] + ["_t_0", "t__0"])


@mutation(SAME, backend=True)
def rename_nodes(model, rng):
    """Node names made empty, duplicated, keywords or very long."""
    style = _pick(rng, ["empty", "duplicate", "keyword", "long", "odd"])
    for i, node in enumerate(model.graph.node):
        node.name = {"empty": "", "duplicate": "n", "keyword": CPP_WORDS[i % len(CPP_WORDS)],
                     "long": "n" * 300 + str(i), "odd": ODD_NAMES[i % len(ODD_NAMES)]}[style]
    return model


@mutation(SAME)
def insert_identity(model, rng):
    """An Identity node on a random edge (weights included)."""
    _insert_after(model, _pick(rng, _edges(model.graph, dynamic_only=False)), "Identity")
    return model


@mutation(SAME)
def insert_dropout(model, rng):
    """A Dropout node (an identity at inference) on a random data edge."""
    _insert_after(model, _pick(rng, _edges(model.graph)), "Dropout")
    return model


@mutation(SAME)
def insert_identity_chain(model, rng):
    """Several Identity nodes in a row on a random data edge, and one on a graph output."""
    g = model.graph
    edge = _pick(rng, _edges(g))
    for _ in range(int(rng.integers(2, 5))):
        _insert_after(model, edge, "Identity")
    _insert_after(model, _pick(rng, [o.name for o in g.output]), "Identity")
    return model


@mutation(SAME)
def identity_in_qdq(model, rng):
    """Identity or Dropout between QuantizeLinear (or its Clip) and DequantizeLinear."""
    g = model.graph
    inner = [o for n in g.node if n.op_type in ("QuantizeLinear", "Clip") for o in n.output
             if any(c.op_type in ("Clip", "DequantizeLinear") and o in c.input for c in g.node)]
    if not inner:
        return None
    _insert_after(model, _pick(rng, inner), _pick(rng, ["Identity", "Dropout"]))
    return model


@mutation(SAME)
def shuffle_nodes(model, rng):
    """The node list in random order (not topological)."""
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes[i] for i in rng.permutation(len(nodes)))
    return model


@mutation(SAME)
def weight_through_folds(model, rng):
    """A float weight stored flat behind a row of other values, and brought back by constant ops
    the importer folds: Reshape, a Slice to the end written INT64_MAX (as torch.onnx writes
    `w[1:]`), Reshape; their integers as initializers or Constant nodes."""
    g = model.graph
    read = {i for n in g.node for i in n.input}
    w = _pick(rng, [t for t in g.initializer if t.data_type == TensorProto.FLOAT and t.dims and t.name in read])
    if w is None:
        return None
    values = numpy_helper.to_array(w)
    stored = np.stack([rng.normal(0, 4, values.shape).astype(np.float32), values])  # row 0 is sliced away
    base = _fresh(model, "fold")
    ints = {"shape2": [2, *values.shape], "start": [1], "end": [2**63 - 1], "axis": [0], "shape": list(values.shape)}
    inits = [numpy_helper.from_array(stored.reshape(-1), f"{base}_flat")]
    nodes = []
    for key, v in ints.items():
        t = numpy_helper.from_array(np.array(v, np.int64), f"{base}_{key}")
        if rng.random() < 0.5:
            inits.append(t)
        else:
            nodes.append(helper.make_node("Constant", [], [t.name], value=t))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset >= 10:
        cut = helper.make_node("Slice", [f"{base}_{k}" for k in ("2", "start", "end", "axis")], [f"{base}_1"])
    else:  # Slice-1: attributes
        cut = helper.make_node("Slice", [f"{base}_2"], [f"{base}_1"], starts=[1], ends=[2**63 - 1], axes=[0])
        nodes = [n for n in nodes if n.output[0] in (f"{base}_shape2", f"{base}_shape")]
        inits = [t for t in inits if t.name not in (f"{base}_start", f"{base}_end", f"{base}_axis")]
    nodes += [helper.make_node("Reshape", [f"{base}_flat", f"{base}_shape2"], [f"{base}_2"]), cut,
              helper.make_node("Reshape", [f"{base}_1", f"{base}_shape"], [w.name])]
    g.initializer.remove(w)
    g.initializer.extend(inits)
    inputs = [vi for vi in g.input if vi.name != w.name]
    del g.input[:]
    g.input.extend(inputs)
    for node in reversed(nodes):
        g.node.insert(0, node)
    return model


@mutation(SAME)
def initializers_to_constants(model, rng):
    """Some initializers become Constant nodes."""
    g = model.graph
    inits = list(g.initializer)
    if not inits:
        return None
    chosen = {t.name for t in inits if rng.random() < 0.6} or {inits[0].name}
    keep = [t for t in inits if t.name not in chosen]
    consts = [helper.make_node("Constant", [], [t.name], name=f"const_{i}", value=t)
              for i, t in enumerate(inits) if t.name in chosen]
    del g.initializer[:]
    g.initializer.extend(keep)
    inputs = [vi for vi in g.input if vi.name not in chosen]
    del g.input[:]
    g.input.extend(inputs)
    for i, node in enumerate(consts):
        g.node.insert(int(rng.integers(0, len(g.node) + 1)) if i % 2 else 0, node)
    return model


@mutation(SAME)
def symbolic_batch(model, rng):
    """The batch dimension of graph inputs and outputs made symbolic ("N", "batch_size", ...), and
    sometimes no output shapes at all."""
    g = model.graph
    for vi in (*graph_inputs(g), *g.output):
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = _pick(rng, ["N", "batch_size", "unk__0", "?"])
    if rng.random() < 0.3:
        for vi in g.output:
            vi.type.tensor_type.ClearField("shape")
    return model


@mutation(SAME)
def extra_initializers(model, rng):
    """Unused initializers of other types and shapes (float64, int8, bool, float16, empty, string)."""
    g = model.graph
    tensors = [numpy_helper.from_array(a, "") for a in (
        rng.normal(size=(3, 4)), rng.integers(-128, 127, (5,)).astype(np.int8), np.array(True),
        np.zeros((0, 7), np.float32), rng.normal(size=(2, 2, 2)).astype(np.float16))]
    tensors.append(helper.make_tensor("", TensorProto.STRING, [2], [b"s", b"t"]))
    for i in rng.permutation(len(tensors))[:int(rng.integers(1, 4))]:
        tensors[i].name = _fresh(model, "unused")
        g.initializer.append(tensors[i])
    return model


@mutation(SAME)
def extra_value_info(model, rng):
    """value_info for tensors that do not exist, and type-only value_info for existing ones."""
    g = model.graph
    g.value_info.append(helper.make_tensor_value_info(_fresh(model, "ghost"), TensorProto.FLOAT, [1, 3, 7]))
    g.value_info.append(helper.make_tensor_value_info(_fresh(model, "ghost"), TensorProto.INT64, None))
    for name in rng.permutation(_edges(g))[:3]:
        if all(vi.name != name for vi in (*g.value_info, *g.input, *g.output)):
            g.value_info.append(helper.make_tensor_value_info(str(name), TensorProto.FLOAT, None))
    return model


@mutation(SAME)
def drop_shape_info(model, rng):
    """No value_info and no shapes on the graph outputs."""
    return _forget_shapes(model)


@mutation(SAME, backend=True)
def metadata_noise(model, rng):
    """Doc strings, metadata properties, producer and model version filled with odd text."""
    model.producer_name, model.producer_version, model.model_version = "fuzz\u00e9r", "0.0.0-\u03b1", 7
    model.doc_string = model.graph.doc_string = "*/ #include <bad> \"\n"
    helper.set_model_props(model, {"author": "*/", "k\ney": "v"})
    for node in model.graph.node:
        node.doc_string = "doc */"
    return model


@mutation(SAME)
def initializers_as_inputs(model, rng):
    """Initializers also listed as graph inputs (IR version 3 style), after the real inputs."""
    g = model.graph
    listed = {vi.name for vi in g.input}
    for t in g.initializer:
        if t.name not in listed:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return model


@mutation(SAME)
def gemm_transposed_weight(model, rng):
    """A Gemm's constant weight transposed and its transB flipped."""
    g = model.graph
    gemms = [n for n in _nodes(g, "Gemm") if _weight_initializer(g, n, 1) is not None]
    node = _pick(rng, gemms)
    if node is None:
        return None
    init = _weight_initializer(g, node, 1)
    quant = next((n for n in g.node if node.input[1] in n.output), None)
    if quant is not None and any(numpy_helper.to_array(_initializer(g, p)).size > 1
                                 for p in quant.input[1:] if _initializer(g, p) is not None):
        return None  # a per-channel scale would have to be transposed too
    _replace_initializer(g, init, numpy_helper.to_array(init).T)
    _set_attr(node, "transB", 1 - int(_attr(node, "transB", 0)))
    return model


# semantics-changing, valid (exact seeds; the reference decides)

QONNX_ROUNDING = ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN", "floor"]


@mutation(REFERENCE)
def quant_bitwidth(model, rng):
    """A Quant's bitwidth set to 1..8 (sums stay exact in float32)."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    _feed(model, node, 3, np.float32(rng.integers(1, 9)))
    return model


@mutation(REFERENCE)
def quant_scale_po2(model, rng):
    """A Quant's scale set to another power of two."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    _feed(model, node, 1, np.float32(2.0 ** int(rng.integers(-7, 4))))
    return model


@mutation(REFERENCE)
def quant_signed_narrow(model, rng):
    """A Quant's signed and/or narrow flag flipped."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    for name in rng.permutation(["signed", "narrow"])[:int(rng.integers(1, 3))]:
        _set_attr(node, str(name), 1 - int(_attr(node, str(name), 0)))
    return model


@mutation(REFERENCE)
def quant_rounding_mode(model, rng):
    """A Quant's rounding_mode set to another mode qonnx knows."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    _set_attr(node, "rounding_mode", _pick(rng, QONNX_ROUNDING))
    return model


@mutation(REFERENCE)
def quant_zero_point(model, rng):
    """A Quant with a non-zero integer zero point."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    _feed(model, node, 2, np.float32(_pick(rng, [1, -1, 2, -3])))
    return model


@mutation(REFERENCE)
def quant_insert(model, rng):
    """A new Quant (2..8 bits, power-of-two scale, random flags) on a data edge."""
    edge = _pick(rng, _edges(model.graph))
    if edge is None:
        return None
    params = []
    for value in (2.0 ** -int(rng.integers(0, 6)), 0.0, float(rng.integers(2, 9))):  # scale, zero point, bits
        params.append(_fresh(model, "fzq"))
        model.graph.initializer.append(numpy_helper.from_array(np.array(value, np.float32), params[-1]))
    _insert_after(model, edge, "Quant", tuple(params), domain=_quant_domain(model),
                  signed=int(rng.integers(0, 2)), narrow=int(rng.integers(0, 2)),
                  rounding_mode=_pick(rng, QONNX_ROUNDING[:4]))
    return model


@mutation(REFERENCE)
def input_quant_removed(model, rng):
    """The Quant on a graph input removed: the input is then typed by --input-type."""
    g = model.graph
    inputs = {vi.name for vi in graph_inputs(g)}
    node = _pick(rng, [n for n in _quants(g, "act") if n.input[0] in inputs])
    if node is None:
        return None
    out, src = node.output[0], node.input[0]
    g.node.remove(node)
    _forget_shapes(model)
    if out in {o.name for o in g.output}:
        g.node.insert(0, helper.make_node("Identity", [src], [out], name=_fresh(model)))
    else:
        _rename(model, {out: src})
    return model


@mutation(REFERENCE)
def weights_random(model, rng):
    """A quantized weight or bias initializer refilled with random values."""
    g = model.graph
    quant = _pick(rng, [n for n in _quants(g, "weight") if _initializer(g, n.input[0]) is not None])
    if quant is None:
        return None
    init = _initializer(g, quant.input[0])
    old = numpy_helper.to_array(init)
    _replace_initializer(g, init, rng.normal(0, float(np.std(old)) or 1.0, old.shape).astype(np.float32))
    return model


@mutation(REFERENCE)
def gemm_alpha_beta(model, rng):
    """A Gemm's alpha and/or beta set to a power of two."""
    node = _pick(rng, _nodes(model.graph, "Gemm"))
    if node is None:
        return None
    for name in rng.permutation(["alpha", "beta"])[:int(rng.integers(1, 3))]:
        _set_attr(node, str(name), float(_pick(rng, [0.25, 0.5, 2.0, 4.0])))
    return model


@mutation(REFERENCE)
def conv_geometry(model, rng):
    """A Conv's strides, dilations and pads changed, half of the time keeping the output size
    (stride 1, asymmetric "same" pads: later layers still fit); the output never gets empty."""
    node = _pick(rng, _nodes(model.graph, "Conv"))
    kernel = _attr(node, "kernel_shape") if node is not None else None
    if not kernel:
        return None
    same_size = rng.random() < 0.5
    dilations = [int(rng.integers(1, 3)) for _ in kernel]
    begin = [int(rng.integers(0, (k - 1) * d + 1)) for k, d in zip(kernel, dilations)]
    end = [(k - 1) * d - b + (0 if same_size else int(rng.integers(0, 2))) for k, d, b in zip(kernel, dilations, begin)]
    _set_attr(node, "strides", [1 if same_size else int(rng.integers(1, 4)) for _ in kernel])
    _set_attr(node, "dilations", dilations)
    _set_attr(node, "pads", begin + end)
    _set_attr(node, "auto_pad", "NOTSET")
    return _forget_shapes(model)


@mutation(REFERENCE)
def conv_auto_pad(model, rng):
    """A Conv switched to auto_pad SAME_UPPER, SAME_LOWER or VALID."""
    node = _pick(rng, _nodes(model.graph, "Conv"))
    kernel = _attr(node, "kernel_shape") if node is not None else None
    if not kernel:
        return None
    mode = _pick(rng, ["SAME_UPPER", "SAME_LOWER", "VALID"])
    for a in [a for a in node.attribute if a.name in ("pads", "dilations")]:
        node.attribute.remove(a)
    _set_attr(node, "auto_pad", mode)
    _set_attr(node, "strides", [int(rng.integers(1, 3)) for _ in kernel])
    return _forget_shapes(model)


@mutation(REFERENCE)
def pool_geometry(model, rng):
    """A MaxPool's kernel, strides, pads and ceil_mode changed, or an AveragePool's strides."""
    node = _pick(rng, _nodes(model.graph, "MaxPool", "AveragePool"))
    kernel = _attr(node, "kernel_shape") if node is not None else None
    if not kernel:
        return None
    _set_attr(node, "strides", [int(rng.integers(1, 4)) for _ in kernel])
    if node.op_type == "MaxPool":
        kernel = [int(rng.integers(1, 4)) for _ in kernel]
        _set_attr(node, "kernel_shape", kernel)
        begin = [int(rng.integers(0, k)) for k in kernel]
        _set_attr(node, "pads", begin + [k - 1 - b for k, b in zip(kernel, begin)])
        _set_attr(node, "ceil_mode", int(rng.integers(0, 2)))
        _set_attr(node, "auto_pad", "NOTSET")
    return _forget_shapes(model)


@mutation(REFERENCE)
def activation_swap(model, rng):
    """A Relu replaced by LeakyRelu/PRelu (power-of-two slope), Clip, Identity, Sigmoid, Tanh or Abs."""
    g = model.graph
    node = _pick(rng, _nodes(g, "Relu"))
    if node is None:
        return None
    op = _pick(rng, ["LeakyRelu", "PRelu", "Clip", "Identity", "Sigmoid", "Tanh", "Abs"])
    new = helper.make_node(op, list(node.input), list(node.output), name=node.name)
    if op == "LeakyRelu":
        _set_attr(new, "alpha", float(2.0 ** -int(rng.integers(1, 5))))
    elif op == "PRelu":
        _feed(model, new, 1, np.array([2.0 ** -int(rng.integers(1, 5))], np.float32))
    elif op == "Clip":
        lo, hi = -float(rng.integers(0, 9)) / 4, float(rng.integers(1, 17)) / 4
        if _opset(model) >= 11:
            _feed(model, new, 1, np.float32(lo))
            _feed(model, new, 2, np.float32(hi))
        else:
            _set_attr(new, "min", lo)
            _set_attr(new, "max", hi)
    g.node[list(g.node).index(node)].CopyFrom(new)
    return model


# malformed (a clean error, or the reference accepts and agrees)

@mutation(ERROR)
def cycle(model, rng):
    """A node reads its own output or the output of a later node."""
    g = model.graph
    index = int(rng.integers(len(g.node)))
    node = g.node[index]
    later = [o for n in list(g.node)[index:] for o in n.output if o]
    if not node.input or not later:
        return None
    node.input[int(rng.integers(len(node.input)))] = _pick(rng, later)
    return model


@mutation(ERROR)
def dangling_input(model, rng):
    """A node input that nothing produces."""
    node = _pick(rng, [n for n in model.graph.node if n.input])
    node.input[int(rng.integers(len(node.input)))] = "does_not_exist"
    return model


@mutation(ERROR)
def duplicate_producer(model, rng):
    """Two nodes write the same tensor (a copied node, or another node's output renamed)."""
    g = model.graph
    node = _pick(rng, [n for n in g.node if n.output])
    if rng.random() < 0.5:
        twin = onnx.NodeProto()
        twin.CopyFrom(node)
        twin.name += "_twin"
        g.node.append(twin)
    else:
        other = _pick(rng, [n for n in g.node if n is not node and n.output])
        if other is None:
            return None
        other.output[0] = node.output[0]
    return model


@mutation(ERROR)
def node_without_outputs(model, rng):
    """A node with no outputs."""
    del _pick(rng, model.graph.node).output[:]
    return model


@mutation(ERROR)
def empty_input_name(model, rng):
    """A required node input given the empty name (the 'omitted optional input' spelling)."""
    node = _pick(rng, [n for n in model.graph.node if n.input])
    node.input[0] = ""
    return model


@mutation(ERROR)
def graph_outputs_bad(model, rng):
    """No graph outputs, an output nothing produces, or an output with an empty name."""
    outputs = model.graph.output
    style = _pick(rng, ["none", "missing", "empty"])
    if style == "none":
        del outputs[:]
    else:
        outputs[0].name = "not_produced" if style == "missing" else ""
    return model


@mutation(ERROR)
def transpose_perm_bad(model, rng):
    """A Transpose perm out of range, repeated, negative or of the wrong length."""
    g = model.graph
    node = _pick(rng, _nodes(g, "Transpose"))
    if node is None:
        _insert_after(model, _pick(rng, _edges(g)), "Transpose", perm=[0, 1])
        node = next(n for n in g.node if n.op_type == "Transpose")
    rank = len(_attr(node, "perm", [0, 1]))
    _set_attr(node, "perm", _pick(rng, [list(range(rank + 1)), [0] * rank, [rank] + list(range(1, rank)),
                                        [-1] + list(range(1, rank)), list(range(rank))[:-1]]))
    return model


@mutation(ERROR)
def window_attrs_bad(model, rng):
    """Conv/pooling pads, strides or dilations of the wrong length, zero or negative; a zero
    kernel_shape, or one contradicting the Conv weights; a bad group or auto_pad."""
    node = _pick(rng, _nodes(model.graph, "Conv", "MaxPool", "AveragePool"))
    kernel = _attr(node, "kernel_shape") if node is not None else None
    if not kernel:
        return None
    n = len(kernel)
    choices = [("pads", [1] * (2 * n + 1)), ("pads", [1] * n), ("pads", [-1] * (2 * n)), ("strides", [0] * n),
               ("strides", [-1] * n), ("strides", [1] * (n + 1)), ("kernel_shape", [0] * n), ("auto_pad", "BOGUS")]
    if node.op_type != "AveragePool" or _opset(model) >= 19:
        choices += [("dilations", [0] * n), ("dilations", [1] * (n + 1))]
    if node.op_type == "Conv":  # a pooling's kernel_shape and group are its own to choose
        choices += [("kernel_shape", [k + 1 for k in kernel]), ("group", 0), ("group", 7)]
    name, value = _pick(rng, choices)
    _set_attr(node, name, value)
    return model


@mutation(ERROR)
def pads_huge(model, rng):
    """Pads of 10^4 .. 2^62 on a Conv, pooling or Pad (must not allocate the result)."""
    g = model.graph
    node = _pick(rng, _nodes(g, "Conv", "MaxPool", "AveragePool", "Pad"))
    if node is None:
        return None
    big = int(_pick(rng, [10**4, 10**6, 2**31 - 1, 2**62]))
    if node.op_type == "Pad":
        pads = node.input[1] if len(node.input) > 1 else None
        init = _initializer(g, pads) if pads else None
        if init is None:
            return None
        _replace_initializer(g, init, np.full(numpy_helper.to_array(init).shape, big, np.int64))
    else:
        n = len(_attr(node, "kernel_shape", [1, 1]))
        _set_attr(node, "pads", [big] * (2 * n))
        _set_attr(node, "auto_pad", "NOTSET")
    return model


@mutation(ERROR)
def weight_rank_wrong(model, rng):
    """A Conv/Gemm/MatMul weight with one axis too many or too few."""
    g = model.graph
    node = _pick(rng, [n for n in _nodes(g, "Conv", "Gemm", "MatMul") if _weight_initializer(g, n, 1) is not None])
    if node is None:
        return None
    init = _weight_initializer(g, node, 1)
    w = numpy_helper.to_array(init)
    _replace_initializer(g, init, w[None] if rng.random() < 0.5 or w.ndim < 2 else w.reshape(*w.shape[:-2], -1))
    return model


@mutation(ERROR)
def initializer_empty(model, rng):
    """A used float initializer (weight, bias, Quant parameter) with zero elements."""
    init = _pick(rng, _float_initializers(model.graph))
    if init is None:
        return None
    _replace_initializer(model.graph, init, np.zeros((0,) + tuple(init.dims[1:]), np.float32))
    return model


@mutation(ERROR)
def quant_scale_wrong_length(model, rng):
    """A Quant scale vector whose length matches no axis (7, or empty)."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    _feed(model, node, 1, np.full(_pick(rng, [7, 0, 1000]), 0.25, np.float32))
    return model


@mutation(ERROR)
def quant_bitwidth_bad(model, rng):
    """A Quant bitwidth of 0, -3, 2.5, 65, 1000, 1e10, NaN or inf."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    _feed(model, node, 3, np.float32(_pick(rng, [0, -3, 2.5, 65, 1000, 1e10, np.nan, np.inf])))
    return model


@mutation(ERROR)
def quant_scale_bad(model, rng):
    """A Quant scale that is negative, zero, NaN or infinite."""
    node = _pick(rng, _quants(model.graph))
    if node is None:
        return None
    _feed(model, node, 1, np.float32(_pick(rng, [-2.0, -0.25, 0.0, np.nan, np.inf, -np.inf])))
    return model


@mutation(ERROR)
def quant_inputs_bad(model, rng):
    """A Quant (or BipolarQuant) with a parameter missing or an extra input."""
    node = _pick(rng, _nodes(model.graph, "Quant", "BipolarQuant"))
    if node is None:
        return None
    if rng.random() < 0.5:
        del node.input[-1]
    else:
        node.input.append(node.input[-1])
    return model


@mutation(ERROR)
def attr_wrong_type(model, rng):
    """An attribute given the wrong type (signed as FLOAT/STRING/TENSOR, strides as FLOATS, ...)."""
    node = _pick(rng, [n for n in model.graph.node if n.attribute and n.op_type != "Constant"])
    if node is None:
        return None
    attr = _pick(rng, node.attribute)
    values = [1, 1.0, 0.5, "1", numpy_helper.from_array(np.array([1], np.int64)), [1.5, 2.0], ["a"], [1, 2]]
    wrong = [helper.make_attribute(attr.name, v) for v in values]
    _set_attr(node, attr.name, attr=_pick(rng, [a for a in wrong if a.type != attr.type]))
    return model


@mutation(ERROR)
def domain_unknown(model, rng):
    """A node moved to an unknown domain, a Quant to the standard domain, a standard op to qonnx's."""
    node = _pick(rng, model.graph.node)
    node.domain = _pick(rng, ["com.example.unknown", "", QD, "ai.onnx.ml", "qonnx.custom_op.channels_last"])
    return model


@mutation(ERROR)
def opset_bad(model, rng):
    """The default opset 0, 1, 99 or missing, or declared twice."""
    style = _pick(rng, [0, 1, 99, "missing", "twice"])
    ops = [o for o in model.opset_import if o.domain not in ("", "ai.onnx")]
    if style == "twice":
        ops += [helper.make_opsetid("", 13), helper.make_opsetid("", 7)]
    elif style != "missing":
        ops.append(helper.make_opsetid("", style))
    del model.opset_import[:]
    model.opset_import.extend(ops)
    return model


@mutation(ERROR)
def extra_node_input(model, rng):
    """A node given one input more than it takes (an existing tensor)."""
    g = model.graph
    node = _pick(rng, [n for n in g.node if n.op_type != "Constant"])
    node.input.append(_pick(rng, _edges(g, dynamic_only=False)))
    return model


@mutation(ERROR)
def input_dtype_bad(model, rng):
    """A graph input declared STRING, BOOL, COMPLEX64, UNDEFINED or FLOAT8."""
    vi = _pick(rng, graph_inputs(model.graph))
    vi.type.tensor_type.elem_type = _pick(rng, [TensorProto.STRING, TensorProto.BOOL, TensorProto.COMPLEX64,
                                                TensorProto.UNDEFINED, TensorProto.FLOAT8E4M3FN])
    return model


@mutation(ERROR)
def input_rank_bad(model, rng):
    """A graph input declared with rank 0, rank 1 or rank 5 (the data keeps its shape)."""
    vi = _pick(rng, graph_inputs(model.graph))
    shape = vi.type.tensor_type.shape
    dims = [d.dim_value for d in shape.dim]
    new = _pick(rng, [[], [int(np.prod(dims[1:] or [1]))], [1, 1, 1, 1, int(np.prod(dims[1:] or [1]))]])
    del shape.dim[:]
    for d in new:
        shape.dim.add().dim_value = d
    return _forget_shapes(model)


@mutation(ERROR)
def reshape_shape_bad(model, rng):
    """A Reshape target with the wrong element count, two -1s or a negative size."""
    g = model.graph
    node = _pick(rng, _nodes(g, "Reshape"))
    if node is None:
        target = _fresh(model, "shape")
        g.initializer.append(numpy_helper.from_array(np.array([1, -1], np.int64), target))
        _insert_after(model, _pick(rng, _edges(g)), "Reshape", (target,))
        node = next(n for n in g.node if n.op_type == "Reshape" and target in n.input)
    _feed(model, node, 1, np.array(_pick(rng, [[1, 7, -1, 5], [-1, -1], [1, -5], [1, 3, 1000]]), np.int64))
    return model


@mutation(ERROR)
def weights_nonfinite(model, rng):
    """NaN, +inf or -inf in a used float initializer (weight, bias or parameter)."""
    init = _pick(rng, _float_initializers(model.graph))
    if init is None:
        return None
    w = numpy_helper.to_array(init).copy()
    w.reshape(-1)[int(rng.integers(w.size))] = _pick(rng, [np.nan, np.inf, -np.inf])
    _replace_initializer(model.graph, init, w)
    return model


@mutation(ERROR, on_inputs=True)
def inputs_nonfinite(inputs, rng):
    """NaN, +inf or -inf in the input data (the model is unchanged)."""
    x = _pick(rng, inputs)
    x.reshape(-1)[rng.integers(x.size, size=int(rng.integers(1, 4)))] = _pick(rng, [np.nan, np.inf, -np.inf])
    return inputs


@mutation(ERROR)
def external_data_missing(model, rng):
    """An initializer whose data is in an external file that does not exist."""
    init = _pick(rng, _float_initializers(model.graph))
    if init is None:
        return None
    init.ClearField("raw_data")
    init.ClearField("float_data")
    init.data_location = TensorProto.EXTERNAL
    init.external_data.add(key="location", value=_pick(rng, ["missing.bin", "../../../etc/passwd", "/dev/zero"]))
    return model


@mutation(ERROR)
def file_bytes_damaged(model, rng):
    """The file truncated, empty, or not an ONNX file at all (returns bytes, not a model)."""
    data = model.SerializeToString()
    return _pick(rng, [data[:int(rng.integers(1, len(data)))], data[:int(rng.integers(1, len(data)))],
                       b"", b'{"graph": []}\n', rng.bytes(int(rng.integers(1, 2000)))])
