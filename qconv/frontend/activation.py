"""Importers of the activation family. Element-wise ones keep their input's memory order;
Softmax maps its ONNX axis to a memory axis. Semantics and types: qconv/analysis/activations.py.

  Relu                       Relu
  Sigmoid, Tanh, Elu, Selu   Table (fn, params): exact lookup tables (passes/build_tables.py)
  LeakyRelu, PRelu           PRelu: y = x >= 0 ? x : slope * x (slope broadcast in memory order)
  HardSigmoid                HardSigmoid: clamp(alpha * x + beta, 0, 1)
  Clip                       Clip: clamp(x, min, max) (inputs, opset >= 11, or attributes)
  Softmax                    Softmax over one memory axis (outer, n, inner)
"""

from __future__ import annotations

import numpy as np

from ..errors import BatchAxisError, ModelError, UnsupportedError
from ..ir import Const
from .importer import Importer, handler
from .eltwise import const_in_memory

SELU_ALPHA = 1.67326319217681884765625   # ONNX's float32 defaults
SELU_GAMMA = 1.05070102214813232421875


@handler("Relu")
def _relu(imp: Importer, n, attrs):
    x = imp.act(n, n.input[0])
    imp.emit(n, "Relu", [x], x.out.shape)


def _table(imp: Importer, n, fn: str, params: dict | None = None, monotone: bool = True):
    x = imp.act(n, n.input[0])
    attrs = {"fn": fn}
    if params:
        attrs["params"] = params
    if not monotone:
        attrs["monotone"] = False
    imp.emit(n, "Table", [x], x.out.shape, attrs=attrs)


@handler("Sigmoid")
def _sigmoid(imp: Importer, n, attrs):
    _table(imp, n, "sigmoid")


@handler("Tanh")
def _tanh(imp: Importer, n, attrs):
    _table(imp, n, "tanh")


@handler("Elu")
def _elu(imp: Importer, n, attrs):
    alpha = float(attrs.get("alpha", 1.0))
    _table(imp, n, "elu", {"alpha": alpha}, monotone=alpha >= 0)


@handler("Selu")
def _selu(imp: Importer, n, attrs):
    alpha, gamma = float(attrs.get("alpha", SELU_ALPHA)), float(attrs.get("gamma", SELU_GAMMA))
    _table(imp, n, "selu", {"alpha": alpha, "gamma": gamma}, monotone=alpha >= 0 and gamma >= 0)


def _prelu(imp: Importer, n, slope: Const):
    x = imp.act(n, n.input[0])
    c, inner, period = const_in_memory(imp, n, slope, n.input[0])
    attrs = {"inner": inner, "period": period}
    consts = {}
    if c.quantized:
        consts["slope"] = c
    else:
        attrs["slope_values"] = np.asarray(c.values, np.float64).reshape(-1)
    imp.emit(n, "PRelu", [x], x.out.shape, attrs=attrs, consts=consts)


@handler("LeakyRelu")
def _leaky_relu(imp: Importer, n, attrs):
    _prelu(imp, n, Const(np.array(float(attrs.get("alpha", 0.01)))))


@handler("PRelu")
def _prelu_handler(imp: Importer, n, attrs):
    _prelu(imp, n, imp.const(n, n.input[1], "slope", quantized=True))


@handler("HardSigmoid")
def _hard_sigmoid(imp: Importer, n, attrs):
    x = imp.act(n, n.input[0])
    imp.emit(n, "HardSigmoid", [x], x.out.shape,
             attrs={"alpha_value": float(attrs.get("alpha", 0.2)), "beta_value": float(attrs.get("beta", 0.5))})


def clip(imp: Importer, n, attrs):
    """A Clip on real values (the importer of ONNX Clip is qdq.py's, which calls this off a QDQ chain)."""
    x = imp.act(n, n.input[0])
    out = {}
    for key, pos, attr in (("lo", 1, "min"), ("hi", 2, "max")):
        if len(n.input) > pos and n.input[pos]:
            c = imp.const(n, n.input[pos], f"Clip {attr}", quantized=True)
            if c.values.size != 1:
                raise ModelError(f"{imp.where(n)}: Clip {attr} must be a scalar, got shape {list(c.values.shape)}")
            out[f"{key}_const"] = c
        elif attr in attrs:
            out[f"{key}_const"] = Const(np.array(float(attrs[attr])))
    imp.emit(n, "Clip", [x], x.out.shape, attrs=out)


def onnx_opset(imp: Importer) -> int:
    for op in imp.model.opset_import:
        if op.domain in ("", "ai.onnx"):
            return op.version
    return 1


@handler("Softmax")
def _softmax(imp: Importer, n, attrs):
    sem = imp.semantic_shape(n, n.input[0])
    rank = len(sem) + 1  # with the batch axis
    legacy = onnx_opset(imp) < 13
    axis = int(attrs.get("axis", 1 if legacy else -1))
    if not -rank <= axis < rank:
        raise ModelError(f"{imp.where(n)}: axis {axis} is out of range for rank {rank}")
    axis %= rank
    if axis == 0:
        raise BatchAxisError(f"{imp.where(n)}: Softmax along the batch axis (axis 0) is not supported; "
                             "use axis >= 1 (one softmax per sample)")
    if legacy:
        # opset < 13: the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])]
        if axis == 1:  # the whole sample is one vector: memory order does not matter
            x = imp.act(n, n.input[0])
            outer, length, inner, order = 1, x.out.size, 1, imp.order(n.input[0])
        else:
            x = imp.semantic(n, n.input[0])
            outer = int(np.prod(sem[:axis - 1], dtype=np.int64))
            length, inner, order = x.out.size // outer, 1, tuple(range(len(sem)))
    else:
        x, order = imp.view(n, n.input[0])
        mem_axis = order.index(axis - 1)
        shape = x.out.shape
        outer = int(np.prod(shape[:mem_axis], dtype=np.int64))
        length, inner = shape[mem_axis], int(np.prod(shape[mem_axis + 1:], dtype=np.int64))
    imp.emit(n, "Softmax", [x], x.out.shape, order=order, attrs={"outer": outer, "n": length, "inner": inner})
