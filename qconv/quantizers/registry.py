"""`get_quantizer`: a quantizer from a QKeras-style string, a config dict or an object.

Strings follow QKeras' syntax: ``"quantized_bits(6,2,1,alpha=1)"``, positional arguments then
keyword arguments, values as Python literals (numbers, ``True``/``False``/``None``, quoted strings,
lists). A bare word as a value is taken as a string (``alpha=auto_po2``), as QKeras does. A name
without parentheses gives the quantizer with its defaults, or the function itself for the
functions (``"hard_sigmoid"``). Dicts are Keras serializations ``{"class_name": ..., "config":
{...}}``. Mistakes raise `QconvError` naming the unknown class, the bad argument or the syntax
error.
"""

from __future__ import annotations

import ast
from typing import Any, Callable

from ..errors import QconvError
from . import hgq, qkeras_activations, qkeras_binary, qkeras_bits, qkeras_functions, qkeras_linear
from . import qkeras_po2, qkeras_relu, qkeras_ternary
from .base import Quantizer

CLASSES: dict[str, type[Quantizer]] = {
    cls.name: cls for cls in (
        qkeras_bits.quantized_bits, qkeras_bits.quantized_hswish, qkeras_linear.quantized_linear,
        qkeras_relu.quantized_relu, qkeras_po2.quantized_po2, qkeras_po2.quantized_relu_po2,
        qkeras_binary.binary, qkeras_binary.stochastic_binary, qkeras_binary.bernoulli,
        qkeras_ternary.ternary, qkeras_ternary.stochastic_ternary,
        qkeras_activations.quantized_tanh, qkeras_activations.quantized_sigmoid,
        qkeras_activations.quantized_ulaw, hgq.HGQ)
}
FUNCTIONS: dict[str, Callable] = dict(qkeras_functions.FUNCTIONS)


class QuantizerSyntaxError(QconvError):
    """A quantizer string that does not parse, or names an unknown quantizer."""


def known_names() -> list[str]:
    return sorted(CLASSES) + sorted(FUNCTIONS)


def _literal(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Name):  # bare word: a string, as in QKeras
        return node.id
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError):
        raise QuantizerSyntaxError(
            f"quantizer '{text}': argument '{ast.get_source_segment(text, node)}' is not a literal value"
        ) from None


def parse(text: str) -> tuple[str, list, dict, bool]:
    """``"name(a, b, k=v)"`` -> (name, args, kwargs, has_parentheses)."""
    src = text.strip()
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as exc:
        raise QuantizerSyntaxError(f"cannot parse quantizer '{text}': {exc.msg}") from None
    if isinstance(tree, ast.Name):
        return tree.id, [], {}, False
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        raise QuantizerSyntaxError(f"cannot parse quantizer '{text}': expected name(arguments), "
                                   "e.g. quantized_bits(8,0,1)")
    if any(k.arg is None for k in tree.keywords) or any(isinstance(a, ast.Starred) for a in tree.args):
        raise QuantizerSyntaxError(f"quantizer '{text}': * and ** arguments are not allowed")
    args = [_literal(a, src) for a in tree.args]
    kwargs = {k.arg: _literal(k.value, src) for k in tree.keywords}
    return tree.func.id, args, kwargs, True


def _unknown(name: str, what: str) -> QuantizerSyntaxError:
    return QuantizerSyntaxError(f"unknown quantizer '{name}' in {what}; known: {', '.join(known_names())}")


def get_quantizer(identifier) -> Quantizer | Callable | None:
    """A quantizer object (or function) from a string, a ``{"class_name", "config"}`` dict, an
    existing quantizer (returned as is) or None (returned as None)."""
    if identifier is None or isinstance(identifier, Quantizer):
        return identifier
    if isinstance(identifier, str):
        name, args, kwargs, called = parse(identifier)
        if name in CLASSES:
            return CLASSES[name](*args, **kwargs)
        if name in FUNCTIONS:
            if called:
                raise QuantizerSyntaxError(f"'{name}' is a function: write '{name}' without arguments")
            return FUNCTIONS[name]
        raise _unknown(name, f"'{identifier}'")
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if not isinstance(name, str):
            raise QuantizerSyntaxError(f"quantizer dict {identifier!r} has no 'class_name'")
        config = identifier.get("config") or {}
        if name in CLASSES:
            return CLASSES[name].from_config(dict(config))
        if name in FUNCTIONS and not config:
            return FUNCTIONS[name]
        raise _unknown(name, "the dict")
    if callable(identifier):
        return identifier
    raise QuantizerSyntaxError(f"cannot interpret {identifier!r} as a quantizer: give a string such as "
                               "'quantized_bits(8,0,1)', a dict or a quantizer object")
