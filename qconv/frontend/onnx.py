"""ONNX / QONNX -> qconv `Graph`: `import_onnx(path)`.

The machinery (constants, layout-tracking tensor views, the handler registry) is in
`importer.py`; the importers of an ONNX op are in the module of its IR op's family (`dense.py`,
`conv.py`, `eltwise.py`, `activation.py`, `threshold.py`), or `quant.py`, `qdq.py`, `shape.py`. A model
without a batch axis is imported as one sample (`batch_axis.py`).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BatchAxisError, QconvError
from ..ir import Graph
from . import activation, conv, dense, eltwise, qdq, quant, shape, threshold  # noqa: F401  (register the handlers)
from .batch_axis import single_sample
from .importer import Importer, load_model


def import_onnx(path: str | Path, max_memory: int | None = None) -> Graph:
    """Read an ONNX/QONNX file into an (untyped, un-optimized) `Graph`; a tensor of more than
    `max_memory` bytes per sample (as int64) is refused before anything that size is allocated."""
    model = load_model(path)
    try:
        return Importer(model, str(path), max_memory).run()
    except BatchAxisError as exc:
        single = single_sample(model, exc)
        try:
            graph = Importer(single, str(path), max_memory).run()
        except QconvError as again:
            raise type(again)(f"{exc}; importing the declared input shape as one sample failed too: {again}") from None
        graph.notes.append("no batch axis: the whole declared input shape is one sample")
        return graph
