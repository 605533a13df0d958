"""QKeras' qtools type inference, reproduced (SEMANTICS.md section 4): the rules.

qtools derives, layer by layer, the data type of every multiplier, accumulator, bias addition and
output of a QKeras model from the quantizers alone (`qkeras/qtools/quantized_operators`,
`generate_layer_data_type_map.py`, `interface.populate_quantizer`, GitHub HEAD). This module
re-implements those rules on plain Python objects, with qtools' own conventions:

* a type is a `QType` (qtools' ``IQuantizer``): ``bits``, ``int_bits`` **without** the sign bit,
  ``is_signed``, a ``mode`` that selects the multiplier implementation (0 fixed point, 1 power of
  two, 2 ternary, 3 binary +-1, 4 binary 0/1, 5 float) and, for po2, ``max_val_po2``;
* `make_multiplier` follows ``MultiplierFactory``'s table (fixed x fixed multiplier, po2 shifter,
  po2 x po2 exponent adder, binary/ternary mux, xor and and gates, float);
* `make_accumulator` grows the multiplier by ceil(log2(n)) bits over the kernel's fan-in
  (``prod(kernel_shape[:-1])``, depthwise kernels count ``kh * kw``), `make_adder` adds a bias
  with fractional alignment (``int = max + 1``, ``frac = max``);
* `adjust_multiplier_for_auto_po2` / `adjust_accumulator_for_auto_po2` widen the multiplier by
  the per-channel power-of-two scales of an ``alpha="auto_po2"`` ``quantized_bits`` kernel (the
  result is qtools' ``fused_accumulator``); `populate_bias_quantizer_from_accumulator` gives a
  folded (QConv2DBatchnorm) layer without bias quantizer the accumulator's type;
* `merge` (Add, Multiply, Maximum, Minimum, Average, Concatenate), pooling accumulators and
  `operation_count` (``qtools_util.get_operation_count``).

`infer` runs these rules over a list of `Layer` descriptions (Keras class names, quantizer
objects or `QType`s, shapes in Keras' channels-last layout) and returns qtools' layer data type
map; `to_json` prints it exactly as ``interface.map_to_json`` does, so that the golden
``qtools_types.json`` is reproduced character for character (including qtools' habit of printing
``is_signed`` as ``true`` or ``1`` depending on where the flag came from).
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from ..fixed import FixedType, _make
FLOATINGPOINT_BITS = 32
DEFAULT_SOURCE_QUANTIZER = "quantized_bits(8,0,1)"   # qtools settings: default_source_quantizer
DEFAULT_INTERM_QUANTIZER = "fp32"                    # qtools settings: default_interm_quantizer


# ----- types ---------------------------------------------------------------------------------------
@dataclass
class QType:
    """qtools' ``IQuantizer``: int_bits excludes the sign bit; is_signed keeps its Python type."""

    name: str | None = None
    mode: int = -1
    bits: Any = -1
    int_bits: Any = -1
    is_signed: Any = 0
    is_floating_point: bool = False
    max_val_po2: Any = -1
    is_po2: int = 0
    use_01: bool = False
    inference_value_counts: int = -1
    op_type: str = "quantizer"

    @property
    def frac(self) -> int:
        return int(self.bits) - int(self.is_signed) - int(self.int_bits)

    def copy(self) -> "QType":
        return copy.deepcopy(self)

    def __str__(self) -> str:
        if self.is_floating_point:
            return f"float{self.bits}"
        if self.is_po2:
            return f"{self.name}(bits={self.bits}, max={self.max_val_po2})"
        sign = "s" if self.is_signed else "u"
        return f"{self.name}<{self.bits},{self.int_bits}{sign}>"


def quantized_bits_type(bits=-1, int_bits=-1, is_signed=1) -> QType:
    """``QuantizedBits()``: qtools' fixed-point type (default is_signed 1)."""
    return QType("quantized_bits", 0, bits, int_bits, is_signed)


def power_of_two_type(is_signed=True) -> QType:
    return QType("quantized_po2" if is_signed else "quantized_relu_po2", 1, is_signed=is_signed, is_po2=1)


def binary_type(use_01=False, name="binary") -> QType:
    return QType(name, 4 if use_01 else 3, 1, 1, 0 if use_01 else 1, use_01=use_01)


def ternary_type(name="ternary") -> QType:
    return QType(name, 2, 2, 2, 1)


def float_type(bits) -> QType:
    return QType("floating_point", 5, bits, -1, 1, is_floating_point=True)


def from_quantizer(q) -> QType | None:
    """``QuantizerFactory.make_quantizer`` for a qconv QKeras quantizer object (None: unsupported)."""
    if isinstance(q, QType):
        return q.copy()
    name = getattr(q, "name", None)
    if name in ("quantized_bits", "quantized_hswish"):
        return quantized_bits_type(q.bits, q.integer, q.keep_negative)
    if name == "quantized_relu":
        mode = 4 if (q.bits == 1 and q.integer == 1) else 0
        return QType("quantized_relu", mode, q.bits, q.integer, 1 if q.negative_slope != 0 else 0)
    if name == "quantized_tanh":
        return QType("quantized_tanh", 0, q.bits, -1, 1)
    if name == "quantized_ulaw":
        return QType("quantized_ulaw", 0, q.bits, q.integer, 1)
    if name in ("quantized_po2", "quantized_relu_po2"):
        t = power_of_two_type(name == "quantized_po2")
        t.is_signed = 1 if name == "quantized_po2" else 0
        t.bits = t.int_bits = q.bits
        t.max_val_po2 = q.max_value if q.max_value else -1
        return t
    if name == "binary":
        return binary_type(bool(q.use_01))
    if name == "stochastic_binary":
        return binary_type(False, "stochastic_binary")
    if name == "bernoulli":
        return binary_type(True, "bernoulli")
    if name in ("ternary", "stochastic_ternary"):
        return ternary_type(name)
    return None


def default_quantizer(mode: str) -> QType:
    """``QuantizerFactory.make_default_quantizer``: fp32/fp16, int8/16/32, or a quantizer string."""
    if mode in ("fp32", "fp16"):
        return float_type(int(mode[2:]))
    fixed = {"int8": (8, 0), "int16": (16, 7), "int32": (32, 10)}
    if mode in fixed:
        return quantized_bits_type(*fixed[mode], True)
    from ..quantizers import get_quantizer
    t = from_quantizer(get_quantizer(mode))
    if t is None:
        raise UnsupportedError(f"qtools: unaccepted quantizer {mode}")
    return t


def make_quantizer(q) -> QType:
    """A QType from a quantizer object / QType / default name; None -> the default interm type."""
    if q is None:
        return default_quantizer(DEFAULT_INTERM_QUANTIZER)
    if isinstance(q, str):
        return default_quantizer(q)
    t = from_quantizer(q)
    return t if t is not None else default_quantizer(DEFAULT_INTERM_QUANTIZER)


def from_fixed(t: FixedType) -> QType:
    """An ap_fixed type seen by qtools: ``quantized_bits(W, I - sign, keep_negative=sign)``."""
    return quantized_bits_type(t.width, t.integer - int(t.signed), t.signed)


def to_fixed(t: QType, what: str = "qtools type") -> FixedType:
    """The ap_fixed type of a fixed-point (or po2, via po2_to_qbits) QType."""
    if t.is_floating_point:
        raise UnsupportedError(f"{what} is floating point in qtools; it has no ap_fixed form")
    if t.is_po2:
        bits, int_bits = po2_to_qbits(t)
        return _make(bits, int_bits + int(t.is_signed), bool(t.is_signed), what)
    return _make(int(t.bits), int(t.int_bits) + int(t.is_signed), bool(t.is_signed), what)


# ----- po2 helpers ---------------------------------------------------------------------------------
def get_exp(t: QType) -> tuple[int, int]:
    """``quantizer_impl.get_exp``: (number of fraction bits, number of integer bits) of a po2 type."""
    non_sign_bits = t.bits - 1 if t.is_signed else t.bits
    min_exp = -2 ** (non_sign_bits - 1)
    max_exp_orig = 2 ** (non_sign_bits - 1) - 1
    max_exp = max_exp_orig
    if t.max_val_po2 != -1:
        if t.max_val_po2 <= 0:
            max_exp = 0
        else:
            max_exp = min(math.ceil(np.log2(t.max_val_po2)), max_exp_orig)
    return -min_exp, max(0, max_exp)


def po2_to_qbits(t: QType) -> tuple[int, int]:
    min_exp, max_exp = get_exp(t)
    return int(t.is_signed + min_exp + max_exp), int(max_exp)


def po2_qbits_converter(t: QType) -> QType:
    bits, int_bits = po2_to_qbits(t)
    return quantized_bits_type(bits, int_bits, t.is_signed)


# ----- operators -----------------------------------------------------------------------------------
@dataclass
class Op:
    """A multiplier, accumulator, adder or merge: its output type and how qtools implements it."""

    output: QType
    implemented_as: str
    gate_factor: float = 1.0
    gate_bits: float = 0.0


_BITS, _PO2, _TERN, _BIN, _BIN01, _FLOAT = "bits", "po2", "ternary", "binary", "binary01", "float"
# MultiplierFactory.multiplier_impl_table[weight mode][input mode] = (implementation, output type)
MULTIPLIER_TABLE = [
    [("mul", _BITS), ("shifter", _BITS), ("mux", _BITS), ("mux", _BITS), ("and", _BITS), ("float", _FLOAT)],
    [("shifter", _BITS), ("adder", _PO2), ("mux", _PO2), ("mux", _PO2), ("and", _PO2), ("float", _FLOAT)],
    [("mux", _BITS), ("mux", _PO2), ("mux", _TERN), ("mux", _TERN), ("and", _TERN), ("float", _FLOAT)],
    [("mux", _BITS), ("mux", _PO2), ("mux", _TERN), ("xor", _BIN), ("and", _TERN), ("float", _FLOAT)],
    [("and", _BITS), ("and", _PO2), ("and", _TERN), ("and", _TERN), ("and", _BIN01), ("float", _FLOAT)],
    [("float", _FLOAT)] * 6,
]


def _new_output(kind: str) -> QType:
    return {_BITS: quantized_bits_type, _PO2: power_of_two_type, _TERN: ternary_type,
            _BIN: lambda: binary_type(False), _BIN01: lambda: binary_type(True),
            _FLOAT: lambda: float_type(None)}[kind]()


def make_multiplier(weight: QType, x: QType) -> Op:
    """``MultiplierFactory.make_multiplier(weight_quantizer, input_quantizer)``."""
    impl, out_kind = MULTIPLIER_TABLE[weight.mode][x.mode]
    w, x, out = weight.copy(), x.copy(), _new_output(out_kind)
    out.op_type = "multiplier"
    if impl == "mul":
        out.int_bits = x.int_bits + w.int_bits
        frac = (x.bits - int(x.is_signed) - x.int_bits) + (w.bits - int(w.is_signed) - w.int_bits)
        out.is_signed = x.is_signed | w.is_signed
        out.bits = out.int_bits + frac + int(out.is_signed)
        out.is_floating_point = False
        return Op(out, "mul", 1.0, float(np.sqrt(x.bits * w.bits)))
    if impl == "shifter":
        po2, qb = (w, x) if w.mode == 1 else (x, w)
        min_exp, max_exp = get_exp(po2)
        out.bits = int(qb.bits + max_exp + min_exp)
        if not qb.is_signed and po2.is_signed:
            out.bits += 1
        out.int_bits = int(qb.int_bits + max_exp)
        out.is_signed = qb.is_signed | po2.is_signed
        out.is_floating_point = False
        if po2.inference_value_counts > 0:
            return Op(out, "shifter", po2.inference_value_counts * 0.3, qb.bits)
        b = float(np.sqrt(2 ** po2.bits * qb.bits))
        return Op(out, "shifter", 1.0, b * float(np.log10(b)))
    if impl == "mux":
        out.is_signed = x.is_signed | w.is_signed
        if any(s in w.name for s in ("binary", "ternary")):
            out.bits, out.int_bits = x.bits, x.int_bits
            if not x.is_signed and w.is_signed:
                out.bits += 1
            gate_factor, gate_bits = (0.3 if "binary" in w.name else 0.6), x.bits
        else:
            out.bits, out.int_bits = w.bits, w.int_bits
            if not w.is_signed and x.is_signed:
                out.bits += 1
            gate_factor, gate_bits = (0.3 if x.name == "binary" else 0.6), w.bits
        if "po2" in out.name:
            out.name = "quantized_po2" if out.is_signed else "quantized_relu_po2"
            out.max_val_po2 = w.max_val_po2 if "po2" in w.name else x.max_val_po2
            out.int_bits = out.bits
        return Op(out, "mux", gate_factor, gate_bits)
    if impl == "xor":
        if out.name != "ternary":
            out.bits = max(x.bits, w.bits)
            out.int_bits = max(x.int_bits, w.int_bits)
            out.is_signed = x.is_signed | w.is_signed
            out.is_floating_point = False
        return Op(out, "xor", 0.3, 1)
    if impl == "and":
        if out.name != "ternary":
            out.bits = max(x.bits, w.bits)
            out.is_signed = x.is_signed | w.is_signed
            out.is_floating_point = x.is_floating_point | w.is_floating_point
            out.int_bits = x.int_bits if (w.name == "binary" and w.use_01) else w.int_bits
            if "po2" in out.name:
                out.name = "quantized_po2" if out.is_signed else "quantized_relu_po2"
                out.max_val_po2 = w.max_val_po2 if "po2" in w.name else x.max_val_po2
        return Op(out, "and", 0.1, out.bits)
    if impl == "adder":  # po2 x po2: exponents add
        out.bits = max(x.bits, w.bits) + 1
        out.int_bits = max(x.int_bits, w.int_bits) + 1
        out.is_signed = x.is_signed | w.is_signed
        out.is_floating_point = False
        out.is_po2 = 1
        out.max_val_po2 = -1 if (x.max_val_po2 == -1 or w.max_val_po2 == -1) else x.max_val_po2 * w.max_val_po2
        out.name = "quantized_po2" if out.is_signed else "quantized_relu_po2"
        return Op(out, "add", 1.0, out.bits)
    out.bits = max(x.bits * x.is_floating_point, w.bits * w.is_floating_point)
    out.int_bits, out.is_signed, out.is_floating_point = -1, 1, True
    return Op(out, "mul", 1.0, out.bits)


def make_accumulator(kernel_shape, multiplier: Op, use_bias: bool = True) -> Op:
    """``AccumulatorFactory.make_accumulator``: fan-in prod(kernel_shape[:-1]) (+1 for a bias)."""
    m = multiplier.output
    if m.is_floating_point:
        out = float_type(m.bits)
        out.is_signed, out.op_type = m.is_signed, "accumulator"
        return Op(out, "add")
    if len(kernel_shape) not in (2, 3, 4):
        raise UnsupportedError(f"qtools: unsupported kernel shape {tuple(kernel_shape)}")
    add_ops = int(np.prod(kernel_shape[:-1])) + (1 if use_bias else 0)
    log_add_ops = int(np.ceil(np.log2(add_ops)))
    bits, int_bits = (po2_to_qbits(m) if m.is_po2 else (m.bits, m.int_bits))
    out = quantized_bits_type(log_add_ops + int(bits), log_add_ops + int(int_bits), m.is_signed)
    out.is_floating_point, out.op_type = False, "accumulator"
    return Op(out, "add")


_FP, _P2F, _P2A, _FL = "fixed", "po2_fixed", "po2", "float"
# adder_factory.IAdder.adder_impl_table[mode1][mode2]
ADDER_TABLE = [
    [_FP, _P2F, _FP, _FP, _FP, _FL],
    [_P2F, _P2A, _P2F, _P2F, _FP, _FL],
    [_FP, _P2F, _FP, _FP, _FP, _FL],
    [_FP, _P2F, _FP, _FP, _FP, _FL],
    [_FP, _P2F, _FP, _FP, _FP, _FL],
    [_FL] * 6,
]


def make_adder(a: QType, b: QType) -> Op:
    """``adder_factory.IAdder().make_quantizer``: the fixed-point adder aligns fractions
    (``int = max + 1``, ``frac = max``); po2 operands are converted to fixed point first."""
    a, b = a.copy(), b.copy()
    impl = ADDER_TABLE[a.mode][b.mode]
    if impl == _FL:
        return Op(float_type(max(a.bits, b.bits)), "add")
    if impl == _P2A:
        a, b = po2_qbits_converter(a), po2_qbits_converter(b)
    elif impl == _P2F:
        if a.is_po2:
            a = po2_qbits_converter(a)
        else:
            b = po2_qbits_converter(b)
    out = quantized_bits_type()
    out.int_bits = max(a.int_bits, b.int_bits) + 1
    frac = max(a.bits - int(a.is_signed) - a.int_bits, b.bits - int(b.is_signed) - b.int_bits)
    out.is_signed = a.is_signed | b.is_signed
    out.bits = out.int_bits + int(out.is_signed) + frac
    out.mode, out.is_floating_point, out.is_po2 = 0, False, 0
    return Op(out, "add")


def merge(layer_type: str, inputs: list[QType]) -> Op:
    """``MergeFactory.make_quantizer``: Add/Subtract, Multiply, Maximum, Minimum, Average, Concatenate."""
    if layer_type == "Multiply":
        q, op = inputs[0], None
        for cur in inputs[1:]:
            op = make_multiplier(q, cur)
            q = op.output
        return Op(q, op.implemented_as if op else "mul", op.gate_factor if op else 1.0, op.gate_bits if op else 0)
    same = all(q.name == inputs[0].name and q.bits == inputs[0].bits and q.int_bits == inputs[0].int_bits
               and q.is_signed == inputs[0].is_signed for q in inputs[1:])
    if layer_type not in ("Add", "Subtract") and same:
        return Op(inputs[0].copy(), "add")
    max_bits = max_int = -1
    signed: Any = False
    fp_bits, floating = 0, False
    for q in inputs:
        if q.is_floating_point:
            floating, fp_bits = True, max(fp_bits, q.bits)
        else:
            qb = po2_qbits_converter(q) if q.is_po2 else q
            max_bits, max_int = max(qb.bits, max_bits), max(qb.int_bits, max_int)
        signed |= q.is_signed
    if floating:
        return Op(float_type(fp_bits), "add")
    grow = 1 if layer_type in ("Add", "Subtract") else 0
    out = quantized_bits_type(max_bits + grow, max_int + grow, signed)
    out.is_floating_point, out.is_po2 = False, 0
    return Op(out, "add")


def _scale_shifts(scale) -> tuple[int, int]:
    s = np.squeeze(np.asarray(scale, np.float64))
    return int(np.log2(np.max(s))), int(np.log2(np.min(s)))


def is_auto_po2_bits(q) -> bool:
    """The condition qtools tests: ``"quantized_bits" in str(q) and q.alpha == "auto_po2"``."""
    return q is not None and not isinstance(q, QType) and "quantized_bits" in str(q) and \
        getattr(q, "alpha", None) == "auto_po2"


def adjust_multiplier_for_auto_po2(multiplier: Op, weight_quantizer, scale) -> None:
    """``qtools_util.adjust_multiplier_for_auto_po2``: in place; `scale` is the kernel quantizer's
    computed per-channel scale (None: the quantizer was never called, no adjustment)."""
    if not is_auto_po2_bits(weight_quantizer) or scale is None:
        return
    out = multiplier.output
    max_shift, min_shift = _scale_shifts(scale)
    frac = out.bits - out.int_bits - min_shift
    out.int_bits = out.int_bits + max_shift
    out.bits = out.int_bits + frac


def adjust_accumulator_for_auto_po2(kernel_shape, multiplier: Op, weight_quantizer, scale, bias: QType | None,
                                    depthwise: bool = False) -> Op:
    """``qtools_util.adjust_accumulator_for_auto_po2``: qtools' ``fused_accumulator``."""
    fused = copy.deepcopy(multiplier)
    adjust_multiplier_for_auto_po2(fused, weight_quantizer, scale)
    if depthwise:
        kernel_shape = tuple(kernel_shape[:-2]) + (1, 1)
    acc = make_accumulator(kernel_shape, fused, use_bias=False)
    return acc if bias is None else make_adder(acc.output, bias)


def populate_bias_quantizer_from_accumulator(accumulator: QType):
    """``bn_folding_utils.populate_bias_quantizer_from_accumulator`` for one folded layer: the
    QKeras bias quantizer made from the (pre +1) accumulator type (``convert_to_qkeras_quantizer``)."""
    from ..quantizers import quantized_bits
    return quantized_bits(bits=int(accumulator.bits), integer=int(accumulator.int_bits),
                          keep_negative=accumulator.is_signed, symmetric=1, alpha=None)


def operation_count(layer_type: str, input_shape, output_shape=None, kernel_shape=None, pool_size=None) -> int:
    """``qtools_util.get_operation_count`` (shapes with the batch dimension first, channels last)."""
    input_shape = tuple(input_shape)
    prod = lambda s: int(np.prod([d for d in s], dtype=np.int64))  # noqa: E731
    if layer_type in MERGE_LAYERS or is_shape_alternation(layer_type):
        return prod(input_shape[1:])
    if layer_type in AVG_POOL_LAYERS:
        pool = pool_size if pool_size is not None else input_shape[1:-1]
        return int(output_shape[-1]) * prod(pool)
    if "UpSampling" in layer_type:
        return prod(output_shape[1:])
    if "Activation" in layer_type or "BatchNormalization" in layer_type:
        return prod(input_shape[1:])
    if layer_type in ("QConv2D", "Conv2D", "QConv2DBatchnorm", "QConv2DTranspose", "Conv2DTranspose"):
        _, ho, wo, co = output_shape
        return ho * wo * co * kernel_shape[0] * kernel_shape[1] * input_shape[-1]
    if layer_type in ("QConv1D", "Conv1D"):
        _, to, co = output_shape
        return to * co * kernel_shape[0] * input_shape[-1]
    if layer_type in ("QDepthwiseConv2D", "DepthwiseConv2D"):
        _, ho, wo, _ = output_shape
        return kernel_shape[0] * kernel_shape[1] * ho * wo * input_shape[-1]
    if layer_type in ("QDense", "Dense"):
        size_i = max(d for d in input_shape if d is not None)
        size_o = max(d for d in output_shape if d is not None)
        return int(size_i * size_o)
    return 0


MERGE_LAYERS = ("Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum", "Concatenate", "Dot")
AVG_POOL_LAYERS = ("AveragePooling2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalAveragePooling2D",
                   "QAveragePooling2D", "QGlobalAveragePooling2D")
KERNEL_LAYERS = ("QDense", "QConv1D", "QConv2D", "QDepthwiseConv2D", "QConv2DTranspose",
                 "Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "Conv2DTranspose")
FOLDED_LAYERS = ("QConv2DBatchnorm", "QDepthwiseConv2DBatchnorm")


def is_shape_alternation(layer_type: str) -> bool:
    return "MaxPool" in layer_type or "Reshape" in layer_type or "Flatten" in layer_type


# ----- layers and the data type map ---------------------------------------------------------------
@dataclass
class Layer:
    """One Keras layer as qtools sees it. `inputs` name the producer layers ("" = model input
    `input_index`); quantizers are qconv quantizer objects or `QType`s; shapes are Keras'
    (batch None first, channels last); `kernel_shape` in Keras layout (kh, kw, cin, cout)."""

    name: str
    layer_type: str
    inputs: list[str] = field(default_factory=lambda: [""])
    output_shape: tuple = ()
    input_shape: tuple = ()
    activation: Any = None          # QActivation's quantizer / a layer's activation quantizer
    kernel_quantizer: Any = None
    bias_quantizer: Any = None
    use_bias: bool = False
    kernel_shape: tuple | None = None
    kernel_scale: Any = None        # computed scale of an auto_po2 kernel quantizer
    pool_size: tuple | None = None
    average_quantizer: Any = None
    input_index: int = 0
    extra_inputs: list[QType] = field(default_factory=list)  # constant operands of merges (qconv)


def keras_shape(shape):
    """populate_quantizer's shape: batch None -> -1."""
    if isinstance(shape, tuple) and shape and shape[0] is None:
        return tuple([-1, *shape[1:]])
    return shape


def _activation_output(layer: Layer, computed: QType) -> QType:
    """``update_output_quantizer_in_graph``: the layer's own quantizer if any, else the computed type."""
    if layer.activation is not None:
        t = from_quantizer(layer.activation)
        if t is not None:
            return t
    return computed.copy()


def infer(layers: list[Layer], source_quantizers: list) -> dict:
    """``generate_layer_data_type_map`` (inference mode, weights already quantized): returns
    {"source_quantizer_list": [...], "layer_data_type_map": {name: {...}}}."""
    sources = [make_quantizer(q) if q is not None else default_quantizer(DEFAULT_SOURCE_QUANTIZER)
               for q in source_quantizers]
    outputs: dict[str, QType] = {}
    shapes: dict[str, tuple] = {}
    result: OrderedDict[str, dict] = OrderedDict()
    for layer in layers:
        ins = [outputs[i].copy() if i else sources[layer.input_index].copy() for i in layer.inputs]
        ins += [q.copy() for q in layer.extra_inputs]
        entry = _layer_entry(layer, ins)
        outputs[layer.name] = entry["output_quantizer"]
        shapes[layer.name] = layer.output_shape
        result[layer.name] = entry
    return {"source_quantizer_list": sources, "layer_data_type_map": result}


def _kernel_quantizers(layer: Layer):
    w = make_quantizer(layer.kernel_quantizer)
    b = make_quantizer(layer.bias_quantizer) if layer.bias_quantizer is not None else None
    return w, b


def _layer_entry(layer: Layer, ins: list[QType]) -> dict:
    t = layer.layer_type
    op_count = operation_count(t, layer.input_shape, layer.output_shape, layer.kernel_shape, layer.pool_size)
    entry = {"layer_type": t, "input_quantizer_list": ins, "output_shapes": layer.output_shape,
             "operation_count": op_count}
    if t in MERGE_LAYERS:
        m = merge(t, ins)
        entry.update(multiplier=m, output_quantizer=_activation_output(layer, m.output), merge=True)
    elif is_shape_alternation(t) or "UpSampling" in t:
        entry["output_quantizer"] = _activation_output(layer, ins[0])
    elif t in AVG_POOL_LAYERS:
        x = ins[0]
        pool = tuple(layer.pool_size) + (1, 1)
        fake = make_multiplier(x, x)
        fake.output = x
        acc = make_accumulator(pool, fake, use_bias=False)
        mult = None
        if t.startswith("Q") and layer.average_quantizer is not None:
            mult = make_multiplier(acc.output, make_quantizer(layer.average_quantizer))
        entry.update(pool_sum_accumulator=acc, pool_avg_multiplier=mult,
                     output_quantizer=_activation_output(layer, (mult or acc).output))
    elif t in ("QActivation", "QAdaptiveActivation", "Activation"):
        q = layer.activation if t != "Activation" else None
        entry["output_quantizer"] = make_quantizer(q)
        if layer.kernel_shape is not None:
            entry["w_shapes"] = layer.kernel_shape
    elif t in ("QBatchNormalization", "BatchNormalization"):
        # qconv keeps an unfolded BatchNorm as x * s + t (constants typed like any constant):
        # qtools' fused-BN rule on those types, bn_inv * x + fused_bias.
        x, s, shift = ins[0], ins[1], ins[2]
        mult = make_multiplier(s, x)
        acc = make_adder(mult.output, shift)
        entry.update(internal_multiplier=mult, internal_accumulator=acc,
                     output_quantizer=_activation_output(layer, acc.output))
        entry["input_quantizer_list"] = ins[:1]
    elif t in KERNEL_LAYERS:
        _kernel_layer(layer, ins[0], entry)
    elif t in FOLDED_LAYERS:
        _folded_layer(layer, ins[0], entry)
    else:  # qtools passes the input type through, with a warning
        entry["output_quantizer"] = _activation_output(layer, ins[0])
    return entry


def _kernel_layer(layer: Layer, x: QType, entry: dict) -> None:
    w, b = _kernel_quantizers(layer)
    mult = make_multiplier(w, x)
    kernel_shape = tuple(layer.kernel_shape)
    depthwise = layer.layer_type in ("QDepthwiseConv2D", "DepthwiseConv2D")
    acc_shape = kernel_shape[:-2] + (1, 1) if depthwise else kernel_shape
    kernel_acc = make_accumulator(acc_shape, mult, use_bias=False)
    if not layer.use_bias:
        b = None
        acc = kernel_acc
    else:
        acc = make_adder(kernel_acc.output, b)
    if is_auto_po2_bits(layer.kernel_quantizer):
        fused = adjust_accumulator_for_auto_po2(kernel_shape, mult, layer.kernel_quantizer, layer.kernel_scale, b,
                                                depthwise)
    else:
        fused = acc
    entry.update(weight_quantizer=w, w_shapes=kernel_shape, bias_quantizer=b,
                 b_shapes=kernel_shape[-1], multiplier=mult, accumulator=acc, fused_accumulator=fused,
                 output_quantizer=_activation_output(layer, acc.output))


def _folded_layer(layer: Layer, x: QType, entry: dict) -> None:
    """QConv2DBatchnorm / QDepthwiseConv2DBatchnorm: multiplier adjusted for auto_po2, the bias
    counted in the fan-in; without bias quantizer the bias takes the accumulator type and the
    accumulator grows one bit (populate_bias_quantizer_from_accumulator)."""
    w, b = _kernel_quantizers(layer)
    mult = make_multiplier(w, x)
    adjust_multiplier_for_auto_po2(mult, layer.kernel_quantizer, layer.kernel_scale)
    acc = make_accumulator(tuple(layer.kernel_shape), mult, use_bias=b is not None)
    if b is None:
        b = acc.output.copy()
        if not acc.output.is_floating_point:
            acc.output.bits += 1
            acc.output.int_bits += 1
    entry.update(weight_quantizer=w, w_shapes=tuple(layer.kernel_shape), bias_quantizer=b,
                 b_shapes=tuple(layer.kernel_shape)[-1], multiplier=mult, accumulator=acc,
                 output_quantizer=_activation_output(layer, acc.output))
