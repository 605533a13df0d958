"""Hardware design: parts, cost and timing model, folding."""
