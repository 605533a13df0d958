"""Quantizers: float reference semantics plus their mapping to hardware types."""

from .qonnx import IntQuant

__all__ = ["IntQuant"]
