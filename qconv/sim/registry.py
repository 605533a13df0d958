"""The op -> numpy kernel registry. A kernel takes (node, input mantissas, input types) and
returns (output mantissas of node.out.fixed, overflow mask or None); the kernels of accumulating
layers (Dense, Conv) add a third element, the number of accumulator sums that wrapped.

A kernel registered with a `plan` function also takes a fourth argument: what that function
derived once per `sim.run` from the node and its input types (weights in the form the kernel
multiplies, see sim/arith.py `Linear`), so that work is not repeated for every chunk.

Mantissas travel between kernels as int64 arrays, or as float32/float64 arrays that hold the same
integers exactly (the float routes of Dense, Conv, Relu and Thresholds return them: the next
product then needs no conversion; `sim.simulate` converts float inputs to them too). A kernel
registered with `floats=True` takes either; the others get int64 (sim.run converts once per
array). A float mantissa may be -0.0 (a rounding of a small negative value): it is the integer 0,
so a float kernel must not look at signs with `signbit`/`copysign` or divide by mantissas."""

from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}
PLANS: dict[str, Callable] = {}   # op -> plan(node, input types) -> what its kernel takes as `plan`
FLOATS: set[str] = set()          # ops whose kernels take mantissas held in float arrays too


def kernel(*ops: str, plan: Callable | None = None, floats: bool = False):
    def register(fn):
        for op in ops:
            KERNELS[op] = fn
            if plan is not None:
                PLANS[op] = plan
            if floats:
                FLOATS.add(op)
        return fn
    return register
