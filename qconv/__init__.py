"""qconv: quantized ONNX/QONNX networks to bit-exact ap_fixed HLS C++."""

__version__ = "0.1.0"
