"""ONNX ``QuantizeLinear`` / ``DequantizeLinear`` as quantizer objects (QONNX_SEMANTICS.md, last part).

QuantizeLinear: ``saturate(RNE(x / scale) + zero_point)`` to the output integer type (uint8 by
default, int8, 16-bit, 4-bit, 2-bit), per tensor or per axis. DequantizeLinear:
``(q - zero_point) * scale`` in float32. A Q -> DQ pair is QONNX ``IntQuant`` with the type's
bitwidth and an integer zero point (`QuantizeLinear.as_intquant`), which gives its hardware form.
Blocked quantization (``block_size``) and float8 outputs are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from .qonnx import IntQuant

# integer output type -> (bits, signed)
INT_TYPES = {"uint8": (8, False), "int8": (8, True), "uint16": (16, False), "int16": (16, True),
             "uint4": (4, False), "int4": (4, True), "uint2": (2, False), "int2": (2, True)}


def _per_axis(value, ndim: int, axis: int) -> np.ndarray:
    """A per-axis 1-D parameter reshaped to broadcast along `axis` of an `ndim` tensor."""
    v = np.asarray(value)
    if v.ndim == 0 or v.size == 1:
        return v.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = v.size
    return v.reshape(shape)


@dataclass(frozen=True)
class QuantizeLinear:
    """ONNX QuantizeLinear: float -> integers of `dtype` (returned as float32 integers)."""

    scale: np.ndarray
    zero_point: np.ndarray | None = None
    dtype: str = "uint8"
    axis: int = 1
    where: str = "QuantizeLinear"

    def __post_init__(self):
        if self.dtype not in INT_TYPES:
            raise UnsupportedError(f"{self.where}: output type {self.dtype} is not supported "
                                   f"(supported: {', '.join(INT_TYPES)})")

    @property
    def bits(self) -> int:
        return INT_TYPES[self.dtype][0]

    @property
    def signed(self) -> bool:
        return INT_TYPES[self.dtype][1]

    def _zp(self, ndim: int) -> np.ndarray:
        return np.zeros(()) if self.zero_point is None else _per_axis(self.zero_point, ndim, self.axis)

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, np.float32)
        scale = _per_axis(np.asarray(self.scale, np.float32), x.ndim, self.axis)
        lo = -(2 ** (self.bits - 1)) if self.signed else 0
        hi = 2 ** (self.bits - 1) - 1 if self.signed else 2 ** self.bits - 1
        q = np.rint(x / scale).astype(np.float64) + self._zp(x.ndim)
        return np.clip(q, lo, hi).astype(np.float32)

    def as_intquant(self, ndim: int) -> IntQuant:
        """The QONNX IntQuant equal to this QuantizeLinear followed by its DequantizeLinear."""
        zp = self._zp(ndim)
        if np.any(zp != np.round(zp)):
            raise UnsupportedError(f"{self.where}: zero point must be an integer")
        scale = _per_axis(np.asarray(self.scale, np.float32), ndim, self.axis)
        return IntQuant(np.asarray(scale, np.float32), np.asarray(zp, np.float32), self.bits, self.signed, False,
                        "ROUND", self.where)

    def hardware(self, x=None, ndim: int = 4):
        return self.as_intquant(ndim if x is None else np.ndim(x)).hardware()


@dataclass(frozen=True)
class DequantizeLinear:
    """ONNX DequantizeLinear: ``(q - zero_point) * scale`` in float32."""

    scale: np.ndarray
    zero_point: np.ndarray | None = None
    axis: int = 1
    where: str = "DequantizeLinear"

    def __call__(self, q) -> np.ndarray:
        q = np.asarray(q)
        scale = _per_axis(np.asarray(self.scale, np.float32), q.ndim, self.axis)
        zp = 0 if self.zero_point is None else _per_axis(self.zero_point, q.ndim, self.axis)
        return ((q.astype(np.float32) - np.asarray(zp, np.float32)) * scale).astype(np.float32)
