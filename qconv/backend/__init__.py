"""The HLS backend: a typed graph -> a Vivado/Vitis HLS project (project.py: firmware, testbench,
test data, build scripts; context.py and one module per op family (dense.py, conv.py, eltwise.py, activation.py, threshold.py): the per-layer template
context), and its g++ C simulation compared with the numpy simulator (csim.py)."""
