"""Template context of the activation family (Table and the arithmetic activations PRelu,
HardSigmoid, Clip, Softmax; Relu and Cast need only the common fields); the layer templates are templates/layers/<Op>.j2, the kernels templates/kernels/qconv_activation.h."""

from __future__ import annotations

from ..fixed import FixedType
from ..ir import Graph, Node
from .context import array, context, raw_ctype


@context("Table")
def _table(graph: Graph, node: Node, d: dict) -> None:
    t = node.consts["table"]
    d.update(fn=node.attrs["fn"], lo=node.attrs["lo"], hi=node.attrs["hi"], table_size=t.values.size,
             table_raw=raw_ctype(t.fixed))
    d["arrays"].append(array(f"{node.name}_table", t, f"{node.attrs['fn']}(x) for input mantissas lo..hi"))


@context("PRelu")
def _prelu(graph: Graph, node: Node, d: dict) -> None:
    k = node.attrs.get("shift")
    if k is not None:
        src = graph.node(node.inputs[0]).out.fixed
        d.update(shift=True, shift_k=k, shifted_cpp=FixedType(src.width, src.integer + k, src.signed).to_cpp())
        return
    c = node.consts["slope"]
    d.update(shift=False, inner=node.attrs["inner"], period=node.attrs["period"], slope_cpp=c.fixed.to_cpp(),
             slope_raw=raw_ctype(c.fixed))
    d["arrays"].append(array(f"{node.name}_slope", c, "negative slope slope[(i / inner) % period]"))


@context("HardSigmoid")
def _hard_sigmoid(graph: Graph, node: Node, d: dict) -> None:
    a, b = node.consts["alpha"], node.consts["beta"]
    d.update(alpha_cpp=a.fixed.to_cpp(), beta_cpp=b.fixed.to_cpp(), accum_cpp=node.attrs["accum"].to_cpp(),
             alpha_raw=int(a.values.reshape(-1)[0]), beta_raw=int(b.values.reshape(-1)[0]),
             alpha_value=repr(float(a.as_float().reshape(-1)[0])), beta_value=repr(float(b.as_float().reshape(-1)[0])))


@context("Clip")
def _clip(graph: Graph, node: Node, d: dict) -> None:
    lo, hi = node.consts.get("lo"), node.consts.get("hi")
    d.update(clamp_cpp=node.attrs["clamp"].to_cpp(), has_lo=lo is not None, has_hi=hi is not None,
             lo_raw=int(lo.values[0]) if lo is not None else 0, hi_raw=int(hi.values[0]) if hi is not None else 0)


@context("Softmax")
def _softmax(graph: Graph, node: Node, d: dict) -> None:
    a, t = node.attrs, node.consts["exp"]
    d.update(outer=a["outer"], n=a["n"], inner=a["inner"], table_size=t.values.size, exp_cpp=t.fixed.to_cpp(),
             exp_raw=raw_ctype(t.fixed), sum_cpp=a["sum_t"].to_cpp(), recip_cpp=a["recip_t"].to_cpp(),
             num_bits=a["exp_frac"] + a["recip_frac"] + 1)
    d["arrays"].append(array(f"{node.name}_exp", t, "exp(-d * step) for logit differences d = 0 .. size - 1 lsbs (step: one lsb, times a carried scale)"))
