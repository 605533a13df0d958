"""The graph adapter: a qconv `Graph` described as qtools `Layer`s.

`graph_layers` describes a qconv `Graph` in these terms (every typed tensor is a
``quantized_bits`` of its ap_fixed type unless a recorded QKeras quantizer says more) and
`accumulator_type` gives the `FixedType` that ``--accumulator qtools`` uses for a Dense/Conv
node: qtools' ``fused_accumulator`` (the accumulator that accounts for auto_po2 scales).
"""

from __future__ import annotations

from .. import ops
from ..fixed import FixedType
from .rules import Layer, QType, from_fixed, from_quantizer, infer, to_fixed


# ----- qconv graphs --------------------------------------------------------------------------------
def _keras_kernel_shape(node) -> tuple:
    w = node.consts["W"].values
    if node.op == "Dense":
        return tuple(int(d) for d in w.shape)
    m, cpg, kh, kw = w.shape
    return (kh, kw, cpg, m) if kh != 1 or not _is_1d(node) else (kw, cpg, m)


def _is_1d(node) -> bool:
    return node.attrs.get("in_hwc", (2,))[0] == 1 and node.attrs.get("kernel", (2, 2))[0] == 1


def node_quantizers(node) -> dict:
    """The QKeras quantizers a config recorded on a node (attrs["qkeras"], see passes/apply_config)."""
    info = node.attrs.get("qkeras")
    return dict(info) if info else {}


def _const_type(node, key):
    c = node.consts.get(key)
    return None if c is None or c.fixed is None else from_fixed(c.fixed)


def _known(q):
    """`q` if qtools knows the quantizer, else None."""
    return q if q is not None and from_quantizer(q) is not None else None


def _output_quantized(node) -> bool:
    """True when a quantizer (not qconv's accumulator rule) typed a Dense/Conv/Pool output."""
    acc = node.attrs.get("accum")
    return node.out.fixed is not None and (acc is None or node.out.fixed != acc)


def graph_layers(graph, upto=None) -> tuple[list[Layer], list[QType]]:
    """The qconv graph as qtools layers (topological order), and the source quantizers. With
    `upto`, only that node and its ancestors (for sizing an accumulator during type inference)."""
    import networkx as nx
    nodes = list(graph.topo())
    if upto is not None:
        keep = nx.ancestors(graph.g, upto.name) | {upto.name}
        nodes = [n for n in nodes if n.name in keep]
    inputs = {name: i for i, name in enumerate(graph.inputs)}
    sources = []
    for name in graph.inputs:
        t = graph.node(name).out.fixed
        sources.append(from_fixed(t) if t is not None else None)
    layers = []
    for node in nodes:
        if node.op == "Input":
            continue
        layers.append(_node_layer(graph, node, inputs))
    return layers, sources


def _batch(shape) -> tuple:
    return (None, *[int(d) for d in shape])


def _node_layer(graph, node, inputs) -> Layer:
    prods = [graph.node(i) for i in node.inputs]
    names = ["" if p.op == "Input" else p.name for p in prods]
    index = inputs.get(prods[0].name, 0) if prods else 0
    in_shape = _batch(prods[0].attrs.get("out_hwc", prods[0].out.shape)) if prods else ()
    if ops.has(node.op, ops.SPATIAL):
        h, w, c = node.attrs["in_hwc"]
        oh, ow, m = node.attrs["out_hwc"]
        one_d = _is_1d(node)
        in_shape = (None, w, c) if one_d else (None, h, w, c)
        out_shape = (None, ow, m) if one_d else (None, oh, ow, m)
    else:
        out_shape = _batch(node.out.shape)
    layer = Layer(node.name, "", names, out_shape, in_shape, input_index=index)
    quantized_out = node.out.fixed is not None and _output_quantized(node)
    fill = _weighted_layer if ops.has(node.op, ops.WEIGHTED) else _layout_layer if ops.has(node.op, ops.LAYOUT) \
        else KERAS_LAYERS.get(node.op, _activation_layer)
    fill(node, layer, quantized_out)
    return layer


def _weighted_layer(node, layer: Layer, quantized_out: bool) -> None:
    rec = node_quantizers(node)
    # a quantizer qtools does not know (quantized_linear, HGQ ...): the ap_fixed type it gave
    layer.kernel_quantizer = _known(rec.get("kernel_quantizer")) or _const_type(node, "W")
    layer.bias_quantizer = _known(rec.get("bias_quantizer")) or _const_type(node, "b")
    layer.use_bias = "b" in node.consts
    layer.kernel_scale = rec.get("kernel_scale")
    layer.kernel_shape = _keras_kernel_shape(node)
    if quantized_out:
        layer.activation = _known(rec.get("activation")) or from_fixed(node.out.fixed)
    if node.op == "Dense":
        layer.layer_type = "QDense"
    else:
        c, m, g = node.attrs["in_hwc"][2], node.attrs["out_hwc"][2], node.attrs["group"]
        if _is_1d(node):
            layer.layer_type = "QConv1D"  # (grouped or not: qtools has no 1-D depthwise layer)
        elif g > 1 and g == c and m == c:
            layer.layer_type = "QDepthwiseConv2D"
            kh, kw = node.attrs["kernel"]
            layer.kernel_shape = (kh, kw, c, 1)
        else:
            layer.layer_type = "QConv2D"
    if node.attrs.get("folded_bn") and rec.get("kernel_quantizer") is not None and not _is_1d(node) \
            and node.op == "Conv":
        layer.layer_type = "QDepthwiseConv2DBatchnorm" if layer.layer_type == "QDepthwiseConv2D" \
            else "QConv2DBatchnorm"
        if "bias_quantizer" not in rec:
            layer.bias_quantizer = None  # populated from the accumulator, as QKeras does


def _pool_layer(node, layer: Layer, quantized_out: bool) -> None:
    if node.attrs["mode"] == "max":
        layer.layer_type = "MaxPooling2D"
    else:
        layer.layer_type = "AveragePooling2D"
        layer.pool_size = tuple(node.attrs["kernel"])
    if quantized_out and node.attrs["mode"] != "max":
        layer.activation = from_fixed(node.out.fixed)


def _eltwise_layer(node, layer: Layer, quantized_out: bool) -> None:
    fn = node.attrs["fn"]
    if fn == "muladd":
        layer.layer_type = "BatchNormalization"
        layer.extra_inputs = [from_fixed(node.consts["c"].fixed), from_fixed(node.consts["t"].fixed)]
    else:
        layer.layer_type = {"add": "Add", "sub": "Subtract", "rsub": "Subtract", "mul": "Multiply"}.get(fn, "Add")
        if len(node.inputs) == 1 and "c" in node.consts:
            layer.extra_inputs = [from_fixed(node.consts["c"].fixed)]
    if node.out.fixed is not None and node.out.fixed != node.attrs.get("exact"):
        layer.activation = from_fixed(node.out.fixed)


def _concat_layer(node, layer: Layer, quantized_out: bool) -> None:
    layer.layer_type = "Concatenate"


def _layout_layer(node, layer: Layer, quantized_out: bool) -> None:
    layer.layer_type = "Flatten" if node.source[1] == "Flatten" else "Reshape"


def _activation_layer(node, layer: Layer, quantized_out: bool) -> None:
    """Activations, casts, tables, thresholds: the tensor's type is the quantizer."""
    layer.layer_type = "QActivation"
    q = node.attrs.get("quantizer")
    layer.activation = q if (q is not None and from_quantizer(q) is not None) else (
        from_fixed(node.out.fixed) if node.out.fixed is not None else None)


# the ops with a Keras layer of their own (besides the weighted and layout ops); others: QActivation
KERAS_LAYERS = {"Pool": _pool_layer, "Eltwise": _eltwise_layer, "Concat": _concat_layer}


def analyze(graph) -> dict:
    """qtools' data type map of a compiled qconv graph (see `to_json` for the printed form)."""
    layers, sources = graph_layers(graph)
    return infer(layers, sources)


def layer_result(graph, node) -> dict:
    """qtools' entry for one Dense/Conv node of a (possibly partially typed) graph."""
    layers, sources = graph_layers(graph, upto=node)
    return infer(layers, sources)["layer_data_type_map"][node.name]


def _accumulator(entry: dict, node) -> FixedType:
    """A layer entry's accumulator (``fused_accumulator`` if any) as an ap_fixed type (TRN, WRAP)."""
    acc = entry.get("fused_accumulator") or entry["accumulator"]
    return to_fixed(acc.output, f"{node.describe()}: qtools accumulator").with_modes("TRN", "WRAP")


def accumulator_type(graph, node) -> FixedType:
    """``--accumulator qtools``: the node's qtools accumulator as an ap_fixed type. For a kernel
    layer that is ``fused_accumulator`` (equal to ``accumulator`` unless the kernel is an auto_po2
    quantized_bits, whose scales it accounts for); for a folded layer, its ``accumulator``."""
    return _accumulator(layer_result(graph, node), node)


def rule_for_node(graph, node, x_type: FixedType | None = None) -> dict:
    """qtools' entry for one Dense/Conv node applied to the input type it really has in `graph`
    (or `x_type`): the per-layer qtools rule, for comparisons with other sizing rules."""
    if x_type is None:
        x_type = graph.node(node.inputs[0]).out.fixed
    layer = _node_layer(graph, node, {})
    layer.inputs = [""]
    return infer([layer], [from_fixed(x_type)])["layer_data_type_map"][node.name]


def rule_accumulator(graph, node, x_type: FixedType | None = None) -> FixedType:
    """The qtools accumulator (fused_accumulator / folded accumulator) of `rule_for_node`."""
    return _accumulator(rule_for_node(graph, node, x_type), node)
