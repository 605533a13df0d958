"""Importers of activation functions (element-wise, layout-free)."""

from __future__ import annotations

from .importer import Importer, handler


@handler("Sigmoid")
def _sigmoid(imp: Importer, n, attrs):
    x = imp.act(n, n.input[0])
    imp.emit(n, "Table", [x], x.out.shape, attrs={"fn": "sigmoid"})
