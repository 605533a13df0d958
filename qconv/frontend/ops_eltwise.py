"""Importers of element-wise arithmetic: Add (bias or tensor), Sub, Mul."""

from __future__ import annotations

from ..ir import Const
from .importer import Importer, handler


@handler("Add")
def _add(imp: Importer, n, attrs):
    a, b = n.input[0], n.input[1]
    if imp.is_const(a):
        a, b = b, a
    x = imp.act(n, a)
    c = imp.const(n, b, "addend")
    imp.emit(n, "BiasAdd", [x], x.out.shape, consts={"b": Const(c.values.reshape(-1), c.fixed)})
