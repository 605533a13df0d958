"""QKeras' qtools type inference, as a small package (SEMANTICS.md section 4).

  rules     qtools' rules on plain objects: `QType`, multipliers, accumulators, adders, merges,
            auto_po2 adjustments, operation counts, and `infer` over a list of `Layer`s
  graph     the graph adapter: a qconv `Graph` as qtools `Layer`s (`graph_layers`, `analyze`) and
            the accumulator that ``--accumulator qtools`` uses (`accumulator_type`)
  display   `to_json` (qtools' ``map_to_json``, character for character) and `QKerasInfo`

Floor: above quantizers and fixed, below analysis (accumulator sizing), passes (apply_config) and
the report. Callers import the names below from `qconv.qtools`.
"""

from .rules import (FLOATINGPOINT_BITS, DEFAULT_SOURCE_QUANTIZER, DEFAULT_INTERM_QUANTIZER, QType,
    quantized_bits_type, power_of_two_type, binary_type, ternary_type, float_type, from_quantizer,
    default_quantizer, make_quantizer, from_fixed, to_fixed, get_exp, po2_to_qbits, po2_qbits_converter, Op,
    MULTIPLIER_TABLE, make_multiplier, make_accumulator, ADDER_TABLE, make_adder, merge, is_auto_po2_bits,
    adjust_multiplier_for_auto_po2, adjust_accumulator_for_auto_po2, populate_bias_quantizer_from_accumulator,
    operation_count, MERGE_LAYERS, AVG_POOL_LAYERS, KERNEL_LAYERS, FOLDED_LAYERS, is_shape_alternation, Layer,
    keras_shape, infer)
from .graph import (node_quantizers, graph_layers, analyze, layer_result, accumulator_type, rule_for_node,
    rule_accumulator)
from .display import (populate_quantizer, to_json, QKerasInfo)

__all__ = [
    'FLOATINGPOINT_BITS', 'DEFAULT_SOURCE_QUANTIZER', 'DEFAULT_INTERM_QUANTIZER', 'QType',
    'quantized_bits_type', 'power_of_two_type', 'binary_type', 'ternary_type', 'float_type',
    'from_quantizer', 'default_quantizer', 'make_quantizer', 'from_fixed', 'to_fixed', 'get_exp',
    'po2_to_qbits', 'po2_qbits_converter', 'Op', 'MULTIPLIER_TABLE', 'make_multiplier',
    'make_accumulator', 'ADDER_TABLE', 'make_adder', 'merge', 'is_auto_po2_bits',
    'adjust_multiplier_for_auto_po2', 'adjust_accumulator_for_auto_po2',
    'populate_bias_quantizer_from_accumulator', 'operation_count', 'MERGE_LAYERS',
    'AVG_POOL_LAYERS', 'KERNEL_LAYERS', 'FOLDED_LAYERS', 'is_shape_alternation', 'Layer',
    'keras_shape', 'infer', 'node_quantizers', 'graph_layers', 'analyze', 'layer_result',
    'accumulator_type', 'rule_for_node', 'rule_accumulator', 'populate_quantizer', 'to_json',
    'QKerasInfo'
]
