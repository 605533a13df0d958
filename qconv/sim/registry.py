"""The op -> numpy kernel registry. A kernel takes (node, input mantissas, input types) and
returns (output mantissas of node.out.fixed, overflow mask or None); the kernels of accumulating
layers (Dense, Conv) add a third element, the number of accumulator sums that wrapped.

A kernel registered with a `plan` function also takes a fourth argument: what that function
derived once per `sim.run` from the node and its input types (weights in the form the kernel
multiplies, see sim/arith.py `Linear`), so that work is not repeated for every chunk."""

from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}
PLANS: dict[str, Callable] = {}   # op -> plan(node, input types) -> what its kernel takes as `plan`


def kernel(*ops: str, plan: Callable | None = None):
    def register(fn):
        for op in ops:
            KERNELS[op] = fn
            if plan is not None:
                PLANS[op] = plan
        return fn
    return register
