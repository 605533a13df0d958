"""The op table: every canonical IR op once, with its attributes, constants and traits.

Frontend, passes, simulator, backend, report and qtools ask this table what an op *is* (a MAC
layer, layout-only, a quantizer...) instead of re-typing op names; `tests/test_ops_table.py`
checks that every op here has its simulator kernel, backend context and template and type rule,
and that no stage knows an op that is not here. The table imports nothing: it is data.

Traits (`Op.traits`, asked through `ops.has(op, TRAIT)` or the frozensets below):

  mac           a sum of products: Dense, Conv (constant weights) and MatMul (two activations)
  weighted      a MAC layer with constant weights W [fan-in first for Dense, (O, ...) for Conv],
                an optional bias b and an accumulator attrs["accum"]
  accumulator   may carry attrs["accum"], the type its sums are kept in (Pool: average mode only)
  spatial       a channels-last image layer: attrs in_hwc, out_hwc, kernel
  layout        moves values, never changes them (output type = input type)
  alias         keeps even the flat element order: the output is the input's memory
  elementwise   output i depends on input i only (and per-channel constants)
  homogeneous   f(s x) = s f(x) for a scalar s > 0 (commute_scales moves positive scales past it;
                Pool only in max mode, Dense/Conv only without bias: attribute checks stay there)
  float_chain   may stay a float step between a layer and a quantizer (fuse_requantizer fuses the
                chain into thresholds)
  selects       output values are input values or 0, at the same channel index (Relu; max Pool too,
                by attribute)
  quantizer     its output type is a declared quantizer's (type_source "quantizer")
  activation_arg  the QKeras layer it comes from takes an activation= argument (apply_config)
  folds         has a folded schedule (design/): a reuse factor divides its products (Dense, Conv,
                MatMul) and a parallelization counts the output pixels/rows done at once (Conv,
                Pool, MatMul)
  rtl           the Verilog backend writes it (backend/rtl.py; Dense as an adder graph, strategy da)
  da            strategy da builds it as an adder graph (design/da.py: Dense's matrix, Conv's filter
                bank; the `<kernel>_da` kernel)

`Op.stage`: "layer" (simulated, generated), "input" (a graph input), "transient" (the frontend
emits it and a pass removes it before validation: Quant). `Op.typing`: "rule" (a type rule in
passes/infer_types.RULES or analysis/activations.RULES), "quantizer" (typed by its quantizer),
"index" (an index, typed when emitted). `Op.family`: the op family, one name in every stage, so
that `grep -ril <family>` finds all of a family's parts: frontend/<family>.py (the ONNX handlers
that emit the op; shape-only ONNX ops in frontend/shape.py), sim/<family>.py (its kernel),
backend/<family>.py (its template context), templates/kernels/qconv_<family>.h and
tests/ops/test_<family>.py (None: not a generated layer, Input and Quant). `Op.header`: the kernel
header, the layer's kernels live in templates/kernels/qconv_<header>.h; the op's family, or None
when it has no kernel (an aliasing Reshape).
`Op.levels`: the constant holding every value the output can take (Table, Thresholds).
`Op.kernel`: the kernel function an op's template calls where its architecture variants sit side
by side: `<kernel>_folded` beside it in the same header is the folded schedule (ops that fold),
`<kernel>_stream` the io_stream process over a buffer (Conv, Pool, Gather; design/dataflow.py).
"""

from __future__ import annotations

from dataclasses import dataclass

MAC, WEIGHTED, ACCUMULATOR, SPATIAL = "mac", "weighted", "accumulator", "spatial"
LAYOUT, ALIAS, ELEMENTWISE, HOMOGENEOUS = "layout", "alias", "elementwise", "homogeneous"
FLOAT_CHAIN, SELECTS, QUANTIZER, ACTIVATION_ARG = "float_chain", "selects", "quantizer", "activation_arg"
FOLDS, RTL, DA = "folds", "rtl", "da"
TRAITS = frozenset({RTL, DA, MAC, WEIGHTED, ACCUMULATOR, SPATIAL, LAYOUT, ALIAS, ELEMENTWISE, HOMOGENEOUS,
                    FLOAT_CHAIN, SELECTS, QUANTIZER, ACTIVATION_ARG, FOLDS})

# the op families (= kernel headers), in the order parameters.h includes the headers
FAMILIES = HEADERS = ("dense", "activation", "conv", "eltwise", "threshold")


@dataclass(frozen=True)
class Op:
    name: str
    doc: str
    attrs: tuple[str, ...] = ()
    consts: tuple[str, ...] = ()
    traits: frozenset[str] = frozenset()
    header: str | None = None
    stage: str = "layer"
    typing: str = "rule"
    levels: str | None = None
    family: str | None = None
    kernel: str | None = None  # the kernel function; <kernel>_folded / <kernel>_stream its variants


def _op(name, doc, attrs=(), consts=(), traits=(), **kw) -> Op:
    kw.setdefault("family", kw.get("header"))  # an op's kernel header is its family's
    return Op(name, doc, tuple(attrs), tuple(consts), frozenset(traits), **kw)


TABLE: dict[str, Op] = {op.name: op for op in [
    _op("Input", "a graph input; out.fixed is the type the user's values are quantized to",
        ("onnx_name", "input_quant"), stage="input"),
    _op("Dense", "y = x @ W (+ b)", ("accum", "exact_output", "qkeras"), ("W", "b"),
        (MAC, WEIGHTED, ACCUMULATOR, HOMOGENEOUS, ACTIVATION_ARG, FOLDS, RTL, DA), header="dense",
        kernel="dense"),
    _op("MatMul", "y = a @ b of two activations, batched over leading axes: a [..., m, k], b [..., k, n]",
        ("k", "accum"), (), (MAC, ACCUMULATOR, FOLDS), header="dense", kernel="matmul"),
    _op("Conv", "2-D (or 1-D) convolution, channels last, grouped; W (O, I/g, kh, kw) as in ONNX",
        ("in_hwc", "out_hwc", "kernel", "strides", "pads", "group", "accum", "folded_bn"), ("W", "b"),
        (MAC, WEIGHTED, ACCUMULATOR, SPATIAL, HOMOGENEOUS, ACTIVATION_ARG, FOLDS, DA), header="conv",
        kernel="conv2d"),
    _op("Pool", "max or average pooling, channels last", ("mode", "in_hwc", "out_hwc", "kernel", "strides",
                                                          "dilations", "pads", "count_include_pad", "counts",
                                                          "accum", "average_quantizer"), ("recip",),
        (ACCUMULATOR, SPATIAL, HOMOGENEOUS, ACTIVATION_ARG, FOLDS), header="conv", kernel="pool2d"),
    _op("Eltwise", "add/sub/rsub/mul of two activations or an activation and a constant; muladd (BatchNorm)",
        ("fn", "inner", "period", "float_op", "batchnorm", "exact"), ("c", "t"), (ELEMENTWISE, FLOAT_CHAIN),
        header="eltwise"),
    _op("Relu", "y = max(x, 0)", (), (), (ELEMENTWISE, HOMOGENEOUS, FLOAT_CHAIN, SELECTS, RTL), header="activation"),
    _op("Reshape", "same data, new shape (Flatten, Reshape, Squeeze, Unsqueeze); no data movement", (), (),
        (LAYOUT, ALIAS, HOMOGENEOUS), family="eltwise"),
    _op("Transpose", "a permutation of the axes", ("perm",), (), (LAYOUT, HOMOGENEOUS), header="eltwise"),
    _op("Gather", "y[i] = x[idx[i]] (Gather, Slice)", (), ("idx",), (LAYOUT, HOMOGENEOUS), header="eltwise",
        kernel="gather"),
    _op("Concat", "inputs joined along one axis, each cast to the output type", ("axis",), (), (),
        header="eltwise"),
    _op("Quant", "an activation quantizer still to be absorbed", ("type", "quant", "integer_output"), (),
        (ELEMENTWISE, QUANTIZER), stage="transient", typing="quantizer"),
    _op("Cast", "y = (out type) x, a quantizer that could not be merged into its producer", (), (),
        (ELEMENTWISE, QUANTIZER, RTL), header="activation", typing="quantizer"),
    _op("Table", "y = fn(x) by a precomputed lookup table", ("fn", "params", "monotone", "quantizer", "lo", "hi"),
        ("table",), (ELEMENTWISE, RTL), header="activation", levels="table"),
    _op("Thresholds", "y = levels[number of thresholds x reaches], per channel (MultiThreshold, fused "
        "requantizers, monotone tables)", ("inner", "period", "float_thresholds", "chain"),
        ("thresholds", "levels"), (ELEMENTWISE, QUANTIZER, RTL), header="threshold", typing="quantizer",
        levels="levels"),
    _op("ArgMax", "the index of the largest value", (), (), (), header="eltwise", typing="index"),
    _op("PRelu", "y = x if x >= 0 else slope x (PRelu, LeakyRelu)", ("inner", "period", "slope_values"),
        ("slope",), (ELEMENTWISE,), header="activation"),
    _op("HardSigmoid", "y = clip(alpha x + beta, 0, 1)", ("alpha_value", "beta_value"), ("alpha", "beta"), (ELEMENTWISE,),
        header="activation"),
    _op("Clip", "y = min(max(x, lo), hi)", ("lo_const", "hi_const"), ("lo", "hi"), (ELEMENTWISE,), header="activation"),
    _op("Softmax", "softmax along one axis by exp and reciprocal tables", ("outer", "n", "inner", "input_scale"),
        ("exp",), (), header="activation"),
]}

LAYERS = frozenset(name for name, op in TABLE.items() if op.stage == "layer")
VALID = frozenset(name for name, op in TABLE.items() if op.stage != "transient")  # what validate accepts
RULE_TYPED = frozenset(name for name, op in TABLE.items() if op.typing == "rule")


def ops_with(trait: str) -> frozenset[str]:
    assert trait in TRAITS, trait
    return frozenset(name for name, op in TABLE.items() if trait in op.traits)


def has(op: str, trait: str) -> bool:
    """Whether IR op `op` has `trait` (False for an op not in the table)."""
    assert trait in TRAITS, trait
    spec = TABLE.get(op)
    return spec is not None and trait in spec.traits


def headers(op_names) -> list[str]:
    """The kernel header families the given ops use, in include order."""
    used = {TABLE[name].header for name in op_names}
    return [h for h in HEADERS if h in used]
