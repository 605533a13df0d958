"""Quantizers: float reference semantics plus their mapping to hardware types.

    from qconv.quantizers import get_quantizer
    q = get_quantizer("quantized_bits(8,3,1)")
    y = q(x)               # QKeras' float32 values, bit for bit
    hw = q.hardware()      # Hardware(kind="fixed", fixed=ap_fixed<8,4,AP_RND_CONV,AP_SAT_SYM>)

Modules: `base` (the common class), `float32` (TF float32 arithmetic), `autoscale` (auto /
auto_po2 scales), `hardware` (the hardware forms), one module per QKeras family (`qkeras_bits`,
`qkeras_linear`, `qkeras_relu`, `qkeras_po2`, `qkeras_binary`, `qkeras_ternary`,
`qkeras_activations`, `qkeras_functions`), `hgq` (HGQ), `qonnx` (QONNX Quant, BipolarQuant,
Trunc), `onnx_qdq` (QuantizeLinear / DequantizeLinear) and `registry` (`get_quantizer`).
"""

from .base import Quantizer, QuantizerArgumentError
from .hardware import Hardware
from .hgq import HGQ
from .onnx_qdq import DequantizeLinear, QuantizeLinear
from .qkeras_activations import quantized_sigmoid, quantized_tanh, quantized_ulaw
from .qkeras_binary import bernoulli, binary, stochastic_binary
from .qkeras_bits import quantized_bits, quantized_hswish
from .qkeras_functions import (binary_sigmoid, binary_tanh, hard_sigmoid, hard_tanh, set_internal_sigmoid,
                               smooth_sigmoid, smooth_tanh, stochastic_round, stochastic_round_po2)
from .qkeras_linear import quantized_linear
from .qkeras_po2 import quantized_po2, quantized_relu_po2
from .qkeras_relu import quantized_relu
from .qkeras_ternary import stochastic_ternary, ternary
from .qonnx import BipolarQuant, FloatQuant, IntQuant, Trunc
from .registry import QuantizerSyntaxError, get_quantizer

__all__ = [
    "Quantizer", "QuantizerArgumentError", "QuantizerSyntaxError", "Hardware", "get_quantizer",
    "quantized_bits", "quantized_hswish", "quantized_linear", "quantized_relu", "quantized_po2",
    "quantized_relu_po2", "binary", "stochastic_binary", "bernoulli", "ternary", "stochastic_ternary",
    "quantized_tanh", "quantized_sigmoid", "quantized_ulaw", "hard_sigmoid", "hard_tanh", "smooth_sigmoid",
    "smooth_tanh", "binary_sigmoid", "binary_tanh", "stochastic_round", "stochastic_round_po2",
    "set_internal_sigmoid", "HGQ", "IntQuant", "FloatQuant", "BipolarQuant", "Trunc", "QuantizeLinear", "DequantizeLinear",
]
