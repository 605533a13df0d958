"""The op -> numpy kernel registry. A kernel takes (node, input mantissas, input types) and
returns (output mantissas of node.out.fixed, overflow mask or None); the kernels of accumulating
layers (Dense, Conv) add a third element, the number of accumulator sums that wrapped."""

from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}


def kernel(*ops: str):
    def register(fn):
        for op in ops:
            KERNELS[op] = fn
        return fn
    return register
