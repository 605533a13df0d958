"""`Options`: the user's choices that passes need, parsed once into typed values.

Every pass is `apply(graph, options: Options) -> graph` and reads what it needs from here;
nothing reaches a pass any other way (no module-level or context-variable state).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.accumulators import AccumulatorMode, parse_mode
from ..fixed import FixedType


@dataclass(frozen=True)
class Options:
    """User choices that passes need."""

    input_type: FixedType | None = None    # graph inputs no quantizer covers
    default_type: FixedType | None = None  # every tensor no quantizer covers
    fold_batchnorm: bool = True            # fold BatchNorm into float weights where possible
    config: object | None = None           # a qconv.config.QuantConfig (--config)
    accumulator: AccumulatorMode = AccumulatorMode()  # Dense/Conv accumulators: tight | qtools | fixed:<type>

    def __post_init__(self):
        # parsed once: "tight", "qtools" or "fixed:ap_fixed<W,I>" (text) becomes an AccumulatorMode
        object.__setattr__(self, "accumulator", parse_mode(self.accumulator))
