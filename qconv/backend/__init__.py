"""The HLS backend: a typed graph -> a Vivado/Vitis HLS project (project.py: firmware, testbench,
test data, build scripts; context.py, layers.py, layers_activation.py: the per-layer template
context), and its g++ C simulation compared with the numpy simulator (csim.py)."""
