"""Quantization config for float ONNX models (``qconv build model.onnx --config q.yaml``).

In the spirit of QKeras' ``model_quantize``: a ``default`` entry and per-layer entries, keyed
by ONNX node name or op type, each with ``kernel_quantizer``, ``bias_quantizer`` and
``activation`` as QKeras strings (or dicts), plus the graph ``input_type``::

    default:
      kernel_quantizer: "quantized_bits(8,0,alpha=1)"
      bias_quantizer: "quantized_bits(8,3,1)"
      activation: "quantized_relu(8,3)"
    input_type: "ap_fixed<16,6>"          # or a quantizer string with a fixed-point form
    qkeras_layer_semantics: false         # see below
    dense_2:                              # a node name ...
      kernel_quantizer: "quantized_po2(4)"
    Conv:                                 # ... or an op type (node names win)
      activation: "quantized_relu(6,2)"

An ``average_quantizer`` on an AveragePool/GlobalAveragePool entry (name, op type or default)
makes the average QKeras' QAveragePooling2D/QGlobalAveragePooling2D: window sum times
``q(1/pool_area)`` (analysis/qpooling.py); an ``activation`` on its name entry is the layer's
``activation=``.

Layer entries may also sit under a ``layers:`` mapping. A layer's settings are its node-name
entry, then its op-type entry, then ``default``, field by field; ``null`` switches a field off.

``qkeras_layer_semantics: true`` applies QKeras' layer rewrite (SEMANTICS.md rule 0.5): a kernel
quantizer ``quantized_bits``/``quantized_linear`` with alpha None becomes ``alpha="auto_po2",
symmetric=True``, and ``binary``/``ternary``/``stochastic_*``/``bernoulli`` with alpha None become
``alpha="auto_po2"``, as QKeras' QDense/QConv* layers do. Bias quantizers and activations are
untouched. Off by default: the strings then mean what they say.

The same entries (and ``default``) may set how a layer is built in hardware (design/folding.py):
``reuse_factor`` (an integer >= 1: each multiplier is used that many times per sample),
``parallelization`` (an integer >= 1: Conv/Pool output pixels or MatMul output rows computed
at once) and ``strategy`` (``latency``: weights in registers, or ``resource``: weights in
BRAM). A name or op-type entry wins over ``qconv build --reuse-factor/--strategy``, which win
over ``default``::

    default: {reuse_factor: 4}
    Conv: {parallelization: 2, reuse_factor: 8, strategy: resource}

The top-level ``io`` (``auto``, ``parallel`` or ``stream``) chooses the architecture as
``--io`` does; the flag, when given, wins.

Every string is parsed when the config is loaded; mistakes raise `ConfigError` naming the entry
and field. `QuantConfig.validate` checks the entries against a model's node names and op types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import QconvError
from .fixed import FixedType
from .quantizers import get_quantizer
from .quantizers.base import Quantizer

FIELDS = ("kernel_quantizer", "bias_quantizer", "activation", "average_quantizer")
DESIGN_FIELDS = ("reuse_factor", "parallelization", "strategy")
STRATEGIES = ("latency", "resource", "da")  # da: Dense as an adder graph (design/da.py)
RESERVED = ("default", "input_type", "qkeras_layer_semantics", "layers", "io")
IO_CHOICES = ("auto", "parallel", "stream")
REWRITE_ALPHA = ("quantized_bits", "quantized_linear")
REWRITE_SIGN = ("binary", "ternary", "stochastic_binary", "stochastic_ternary", "bernoulli")


class ConfigError(QconvError):
    """A quantization config that cannot be used as written."""


@dataclass(frozen=True)
class LayerQuant:
    """The quantizers of one layer (None: not quantized by the config)."""

    kernel_quantizer: Quantizer | None = None
    bias_quantizer: Quantizer | None = None
    activation: Quantizer | Callable | None = None
    average_quantizer: Quantizer | None = None  # AveragePool/GlobalAveragePool: QKeras qpooling


@dataclass(frozen=True)
class QuantConfig:
    """A validated quantization config (see the module docstring)."""

    default: dict = field(default_factory=dict)
    entries: dict = field(default_factory=dict)  # node name or op type -> {field: quantizer or None}
    input_type: FixedType | None = None
    qkeras_layer_semantics: bool = False
    design: dict = field(default_factory=dict)  # "default", node name or op type -> {design field: value}
    io: str | None = None  # the architecture (--io), None: not given

    def design_for(self, name: str, op_type: str) -> tuple[dict, dict, dict]:
        """The design fields of the node's name entry, of its op-type entry and of `default`."""
        return (dict(self.design.get(name, {})), dict(self.design.get(op_type, {})),
                dict(self.design.get("default", {})))

    def for_node(self, name: str, op_type: str) -> LayerQuant:
        """The quantizers for node `name` of type `op_type`: name entry > op-type entry > default."""
        chosen = {}
        for key in FIELDS:
            for source in (self.entries.get(name, {}), self.entries.get(op_type, {}), self.default):
                if key in source:
                    chosen[key] = source[key]
                    break
        return LayerQuant(**chosen)

    def validate(self, node_names, op_types) -> None:
        """Raise `ConfigError` naming every entry that matches no node name and no op type."""
        known = set(node_names) | set(op_types)
        unknown = [k for k in self.entries if k not in known]
        if unknown:
            raise ConfigError(f"quantization config: unknown layer(s) {', '.join(repr(u) for u in unknown)}: "
                              f"no node has that name or op type (nodes: {', '.join(sorted(node_names)[:12])}"
                              f"{', ...' if len(set(node_names)) > 12 else ''})")


def qkeras_layer_rewrite(q):
    """QKeras' ``_set_trainable_parameter`` on a kernel quantizer (SEMANTICS.md rule 0.5)."""
    if not isinstance(q, Quantizer) or getattr(q, "alpha", "") is not None:
        return q
    config = q.get_config()
    if q.name in REWRITE_ALPHA:
        config.update(alpha="auto_po2", symmetric=True)
    elif q.name in REWRITE_SIGN:
        config.update(alpha="auto_po2")
    else:
        return q
    return type(q).from_config(config)


def _quantizer(value: Any, where: str):
    if value is None:
        return None
    if not isinstance(value, (str, dict)):
        raise ConfigError(f"{where}: expected a quantizer string such as 'quantized_bits(8,0,1)', got {value!r}")
    try:
        return get_quantizer(value)
    except QconvError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def design_value(key: str, value: Any, where: str):
    """A checked reuse_factor / parallelization (int >= 1) or strategy; `where` names its origin."""
    if key == "strategy":
        if value not in STRATEGIES:
            raise ConfigError(f"{where}: strategy must be {', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}, "
                              f"got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: {key} must be an integer >= 1, got {value!r}")
    return value


def _entry(name: str, body: Any, rewrite: bool, design: dict) -> dict:
    if not isinstance(body, dict):
        raise ConfigError(f"quantization config entry '{name}': expected a mapping of "
                          f"{', '.join(FIELDS + DESIGN_FIELDS)}, got {body!r}")
    out = {}
    for key, value in body.items():
        if key in DESIGN_FIELDS:
            design.setdefault(name, {})[key] = design_value(key, value, f"config entry '{name}'")
            continue
        if key not in FIELDS:
            raise ConfigError(f"quantization config entry '{name}': unknown field '{key}' "
                              f"(known: {', '.join(FIELDS + DESIGN_FIELDS)})")
        q = _quantizer(value, f"quantization config entry '{name}', {key}")
        out[key] = qkeras_layer_rewrite(q) if (rewrite and key == "kernel_quantizer") else q
    return out


def _input_type(value: Any) -> FixedType | None:
    if value is None:
        return None
    if isinstance(value, str) and value.replace(" ", "").startswith("ap_"):
        try:
            return FixedType.parse(value)
        except QconvError as exc:
            raise ConfigError(f"quantization config input_type: {exc}") from None
    q = _quantizer(value, "quantization config input_type")
    try:
        hw = q.hardware()
    except (QconvError, AttributeError, TypeError) as exc:
        raise ConfigError(f"quantization config input_type '{value}': no fixed-point form ({exc})") from None
    if hw.kind != "fixed" or hw.scale is not None or not hw.exact:
        raise ConfigError(f"quantization config input_type '{value}': not a plain fixed-point type "
                          f"({hw.describe()}); give e.g. 'ap_fixed<16,6>' or 'quantized_bits(8,3,1)'")
    return hw.fixed


def from_dict(data: Any) -> QuantConfig:
    """Build and validate a `QuantConfig` from parsed JSON/YAML."""
    if not isinstance(data, dict):
        raise ConfigError(f"quantization config: expected a mapping at the top level, got {type(data).__name__}")
    rewrite = data.get("qkeras_layer_semantics", False)
    if not isinstance(rewrite, bool):
        raise ConfigError(f"quantization config qkeras_layer_semantics: expected true or false, got {rewrite!r}")
    if not isinstance(data.get("layers") or {}, dict):
        raise ConfigError("quantization config 'layers': expected a mapping of layer name -> entry")
    layers = dict(data.get("layers") or {})
    for key, value in data.items():
        if key not in RESERVED:
            if key in layers:
                raise ConfigError(f"quantization config: layer '{key}' given twice (top level and under layers)")
            layers[key] = value
    io = data.get("io")
    if io is not None and io not in IO_CHOICES:
        raise ConfigError(f"quantization config io: expected one of {', '.join(IO_CHOICES)}, got {io!r}")
    design: dict = {}
    return QuantConfig(default=_entry("default", data.get("default") or {}, rewrite, design),
                       entries={str(k): _entry(str(k), v, rewrite, design) for k, v in layers.items()},
                       input_type=_input_type(data.get("input_type")), qkeras_layer_semantics=rewrite,
                       design=design, io=io)


def load_config(source) -> QuantConfig:
    """Load a config from a .json/.yaml/.yml path, a JSON/YAML text, or an already parsed dict."""
    if isinstance(source, QuantConfig):
        return source
    if isinstance(source, dict):
        return from_dict(source)
    path = Path(source) if not (isinstance(source, str) and "\n" in source) else None
    if path is not None and path.exists():
        try:
            text, name = path.read_text(), str(path)
        except UnicodeDecodeError:
            raise ConfigError(f"quantization config {source}: not a text file (expected YAML or JSON)") from None
        except OSError as exc:
            raise ConfigError(f"quantization config {source}: cannot read it ({exc.strerror})") from None
    elif path is not None and path.suffix in (".json", ".yaml", ".yml"):
        raise ConfigError(f"quantization config {source}: file not found")
    else:
        text, name = str(source), "<text>"
    try:
        if name.endswith(".json"):
            data = json.loads(text)
        else:
            try:
                import yaml
            except ImportError:  # pragma: no cover - PyYAML is present wherever qconv's tests run
                data = json.loads(text)
            else:
                data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error becomes one clear message
        raise ConfigError(f"quantization config {name}: cannot parse: {exc}") from None
    return from_dict(data)
