"""Analyses that passes (and the report) ask, which are not passes themselves: nothing here
rewrites a graph on its own.

  activations     type rules and constants of PRelu/HardSigmoid/Clip/Softmax, the Table functions,
                  the Softmax exp table
  accumulators    Dense/Conv accumulator sizing (--accumulator tight|qtools|fixed:<type>)
  float32_error   which sums a float32 reference may round the other way (warnings)
  qpooling        QKeras qpooling's quantized 1/count tables
  steps           change points of monotone functions (thresholds of step functions)

Floor: above ir, quantizers, numeric, fixed and qtools; below passes.
"""
