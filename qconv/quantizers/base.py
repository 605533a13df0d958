"""`Quantizer`: the common shell of every quantizer class in this package.

A subclass lists its constructor parameters in `PARAMS` as ``(name, default)`` pairs, in
QKeras' positional order. The base class then gives it:

* a constructor taking those parameters positionally or by keyword (an unknown keyword or too
  many positional arguments raise `QconvError` naming the class and the argument), followed by
  the subclass' `_validate` hook;
* `get_config()` (every parameter, arrays as lists) and `from_config(config)`;
* `__str__` in QKeras' string syntax, ``name(p1,p2,kw=v)``, which `get_quantizer` parses back
  to an equal quantizer: the first `MIN_POSITIONAL` parameters always, then every other
  parameter that differs from its default, by keyword;
* equality by class and configuration.

Subclasses implement ``__call__(x) -> np.ndarray`` (float32) and ``hardware() -> Hardware``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import QconvError


class QuantizerArgumentError(QconvError):
    """A quantizer was given an unknown or invalid argument."""


def format_value(value: Any, words: bool = False) -> str:
    """A parameter value in QKeras' string syntax (readable back by `get_quantizer`)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)) if words else str(int(value))
    if isinstance(value, str):
        return "'" + value + "'"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return repr(value) if value is None else str(value)


def _same(a: Any, b: Any) -> bool:
    """Parameter equality: arrays by value, None only with None, strings only with strings,
    numbers and flags by value (QKeras treats 1 and True alike)."""
    if isinstance(a, (np.ndarray, list, tuple)) or isinstance(b, (np.ndarray, list, tuple)):
        return (a is not None and b is not None and np.shape(a) == np.shape(b)
                and np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    return bool(a == b)


class Quantizer:
    """Base of every quantizer class (see the module docstring)."""

    name: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[tuple[str, Any], ...]] = ()
    MIN_POSITIONAL: ClassVar[int] = 0
    MAX_POSITIONAL: ClassVar[int] = 0  # leading parameters printed positionally when non-default
    BOOL_WORDS: ClassVar[frozenset[str]] = frozenset()  # flags printed as True/False, not 1/0

    def __init__(self, *args, **kwargs):
        names = [p for p, _ in self.PARAMS]
        if len(args) > len(names):
            raise QuantizerArgumentError(
                f"{self.name}: too many positional arguments ({len(args)}); it takes at most {len(names)}: "
                f"{', '.join(names)}")
        values = dict(self.PARAMS)
        given = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in values:
                raise QuantizerArgumentError(
                    f"{self.name}: unknown argument '{key}' (known: {', '.join(names)})")
            if key in given:
                raise QuantizerArgumentError(f"{self.name}: argument '{key}' given twice")
            given[key] = value
        values.update(given)
        for key, value in values.items():
            setattr(self, key, value)
        self.scale = None
        self._validate()

    def _validate(self) -> None:
        """Check the parameters; raise `QuantizerArgumentError` naming the bad one."""

    def _bad(self, what: str) -> QuantizerArgumentError:
        return QuantizerArgumentError(f"{self}: {what}")

    def _tensor_scale(self, x=None):
        """The scale an alpha='auto'/'auto_po2' quantizer computed from its weights (calling it
        on `x` first when given), as float64; an error if it has not seen any weights yet."""
        if x is not None:
            self(x)
        if getattr(self, "scale", None) is None:
            raise self._bad(f"alpha='{self.alpha}' scales depend on the tensor: call the quantizer on the weights "
                            "(or pass them to hardware(x)) first")
        return np.asarray(self.scale, np.float64)

    # ----- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict:
        """Every constructor parameter (numpy arrays as lists, so the dict is JSON-friendly)."""
        cfg = {}
        for key, _ in self.PARAMS:
            value = getattr(self, key)
            cfg[key] = value.tolist() if isinstance(value, np.ndarray) else list(value) if isinstance(
                value, tuple) else value
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Quantizer":
        return cls(**config)

    def __str__(self) -> str:
        flags = []
        params = list(self.PARAMS)
        last_pos = self.MIN_POSITIONAL
        for i in range(self.MIN_POSITIONAL, self.MAX_POSITIONAL):
            if not _same(getattr(self, params[i][0]), params[i][1]):
                last_pos = i + 1
        for i, (key, default) in enumerate(params):
            value = getattr(self, key)
            if i < last_pos:
                flags.append(format_value(value, key in self.BOOL_WORDS))
            elif not _same(value, default) and key not in ("var_name", "use_variables"):
                flags.append(f"{key}={format_value(value, key in self.BOOL_WORDS)}")
        return f"{self.name}({','.join(flags)})"

    __repr__ = __str__

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, k), getattr(other, k)) for k, _ in self.PARAMS)

    def __hash__(self) -> int:
        return hash(str(self))

    # ----- interface ----------------------------------------------------------------------
    def __call__(self, x) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def hardware(self, x=None):  # pragma: no cover - abstract
        raise NotImplementedError
