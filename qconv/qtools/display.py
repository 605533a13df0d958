"""How qtools' results are shown: the JSON of ``interface.map_to_json`` (`to_json`, character for
character as the golden ``qtools_types.json``) and `QKerasInfo`, the QKeras quantizers a config
applied to a node as `qconv inspect` prints them."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .rules import QType, keras_shape


# ----- JSON (interface.map_to_json) ---------------------------------------------------------------
def populate_quantizer(q: QType | None, shape=None, implemented_as=None) -> dict:
    d: dict = OrderedDict()
    if q is None:
        return d
    d["quantizer_type"] = q.name
    if q.is_floating_point:
        d["bits"] = q.bits
    elif q.is_po2:
        d["bits"], d["is_signed"], d["max_value"] = q.bits, q.is_signed, q.max_val_po2
    elif q.mode in (3, 4):
        d["bits"], d["int_bits"], d["is_signed"] = q.bits, q.int_bits, q.is_signed
        d["values"] = [0, 1] if q.mode == 4 else [-1, 1]
    elif q.mode == 2:
        d["bits"], d["int_bits"], d["is_signed"], d["values"] = 2, 2, 1, [0, -1, 1]
    elif q.mode == 0:
        d["bits"], d["int_bits"], d["is_signed"] = q.bits, q.int_bits + q.is_signed, q.is_signed
    if shape is not None:
        d["shape"] = list(keras_shape(shape)) if isinstance(shape, tuple) else shape
    if implemented_as is not None:
        d["op_type"] = implemented_as
    return d


def to_json(data: dict) -> dict:
    """``interface.map_to_json``: the dict qtools writes (json.dumps it to compare)."""
    out: dict = OrderedDict()
    sources = [populate_quantizer(q) for q in data["source_quantizer_list"]]
    if sources:
        out["source_quantizers"] = sources
    for name, e in data["layer_data_type_map"].items():
        item: dict = OrderedDict()
        item["layer_type"] = e["layer_type"]
        item["input_quantizer_list"] = [populate_quantizer(q) for q in e["input_quantizer_list"]]

        def put(key, shape=None, compound=False, out_key=None):
            val = e.get(key)
            if val is None:
                return
            q, impl = (val.output, val.implemented_as) if compound else (val, None)
            d = populate_quantizer(q, shape=shape, implemented_as=impl)
            if d:
                item[out_key or key] = d

        put("output_quantizer", shape=e.get("output_shapes"))
        if e["layer_type"] in ("QBatchNormalization", "BatchNormalization"):
            for key in ("internal_multiplier", "internal_accumulator"):
                put(key, compound=True)
        else:
            put("weight_quantizer", shape=e.get("w_shapes"))
            put("bias_quantizer", shape=e.get("b_shapes"))
            put("multiplier", compound=True, out_key=(e["layer_type"] + "_quantizer") if e.get("merge") else None)
            put("accumulator", compound=True)
            if e.get("fused_accumulator"):
                put("fused_accumulator", compound=True)
            item["operation_count"] = e["operation_count"]
        out[name] = item
    return out


class QKerasInfo(dict):
    """The QKeras quantizers a quantization config applied to a node (kernel_quantizer,
    kernel_scale (the computed auto scale), bias_quantizer, activation), kept in
    ``node.attrs["qkeras"]`` for qtools and the report; prints compactly in `qconv inspect`."""

    def __str__(self) -> str:
        parts = []
        for key, value in self.items():
            if value is None:
                continue
            if key == "kernel_scale":
                s = np.log2(np.asarray(value, np.float64))
                shown = f"2^[{s.min():g}..{s.max():g}]" if np.all(s == np.round(s)) else "float"
                parts.append(f"kernel scale {shown}")
            else:
                parts.append(f"{key.replace('_quantizer', '')} {value}")
        return ", ".join(parts)

    __repr__ = __str__
