"""design/dataflow.py: how each layer of an io_stream design streams (line buffer, token, rows,
buffered), the separable maps of a streaming Gather, what a process costs, and the io_stream plan
(its FIFOs from the schedule model, counted in its totals)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from qconv.design import dataflow, fifo
from qconv.design.cost import memory_cost
from qconv.design.folding import DesignError, DesignOptions, plan, plan_auto
from qconv.design.parts import find_part
from qconv.pipeline import compile_model

from .conftest import shared_path

TYPES = {"input_type": "ap_fixed<8,3>", "default_type": "ap_fixed<18,8,AP_RND_CONV,AP_SAT>"}
VU13P = find_part("xcvu13p")


@pytest.fixture(scope="module")
def unet():
    return compile_model(shared_path("models", "example-models", "tiny_unet_ch_last.onnx"), **TYPES)


@pytest.fixture(scope="module")
def residual():
    return compile_model(shared_path("models", "qonnx", "residual_block_clean.onnx"), **TYPES)


def test_a_unet_streams_every_layer_without_a_whole_feature_map(unet):
    fl = dataflow.flows(unet)
    kinds = [f.kind for f in fl.values()]
    assert (kinds.count("line_buffer"), kinds.count("token"), kinds.count("rows"), kinds.count("buffered")) == \
        (44, 28, 4, 0)
    up = dataflow.row_maps(unet, unet.node("Resize_0"))  # nearest x2 of (16, 16, 64): a row buffer
    assert up.in_shape == (16, 16, 64) and up.rows.tolist() == up.cols.tolist() == [y // 2 for y in range(32)]
    assert up.lanes.shape == (1, 1, 64) and up.lanes[0, 0].tolist() == list(range(64))
    cat = fl["Concat_0"]  # the skip connection joins channels: one token of each input per output token
    assert (cat.kind, cat.width, cat.tokens, cat.reads) == ("token", 128, 1024, ("Quant_90", "LeakyRelu_7"))


def test_layout_changes_buffer_and_fan_out_clones(residual):
    fl = dataflow.flows(residual)
    assert {n: (f.kind, f.clone) for n, f in fl.items()} == {
        "global_in_T": ("buffered", False), "Conv_0": ("line_buffer", True), "Conv_1": ("line_buffer", False),
        "Relu_0": ("token", False), "Conv_2": ("line_buffer", False), "Relu_1": ("token", False),
        "Add_0": ("token", False), "MaxPool_0": ("line_buffer", False), "MaxPool_0_T": ("buffered", False)}


def _gather(in_shape, idx, out_shape):
    """A Gather node and its graph, as row_maps reads them."""
    src = SimpleNamespace(out=SimpleNamespace(shape=in_shape))
    node = SimpleNamespace(inputs=["x"], out=SimpleNamespace(shape=out_shape),
                           consts={"idx": SimpleNamespace(values=np.asarray(idx).reshape(-1))})
    return SimpleNamespace(node=lambda name: src), node


def test_row_maps_of_pad_and_slice_and_what_is_not_separable():
    x = np.arange(3 * 4 * 2).reshape(3, 4, 2)
    pad = np.full((5, 4, 2), -1)  # one zero row above and below
    pad[1:4] = x
    m = dataflow.row_maps(*_gather((3, 4, 2), pad, (5, 4, 2)))
    assert (m.rows.tolist(), m.cols.tolist(), m.lanes.tolist()) == ([-1, 0, 1, 2, -1], [0, 1, 2, 3], [[[0, 1]]])
    m = dataflow.row_maps(*_gather((3, 4, 2), x[::2, 1:3, ::-1], (2, 2, 2)))  # rows 0, 2; columns 1, 2; lanes swapped
    assert (m.rows.tolist(), m.cols.tolist(), m.lanes.tolist()) == ([0, 2], [1, 2], [[[1, 0]]])
    assert dataflow.row_maps(*_gather((3, 4, 2), x[::-1], (3, 4, 2))) is None  # rows backwards: not one row buffer
    assert dataflow.row_maps(*_gather((3, 4, 2), x.transpose(1, 0, 2), (4, 3, 2))) is None  # a transpose


def test_depth_to_space_is_a_row_gather_with_a_lane_block():
    b, c = 2, 3  # DCR: out[y, x, k] = in[y // b, x // b, ((y % b) * b + x % b) * c + k]
    x = np.arange(2 * 3 * b * b * c).reshape(2, 3, b * b * c)
    y, xx, k = np.meshgrid(np.arange(2 * b), np.arange(3 * b), np.arange(c), indexing="ij")
    d2s = x[y // b, xx // b, ((y % b) * b + xx % b) * c + k]
    m = dataflow.row_maps(*_gather((2, 3, b * b * c), d2s, (2 * b, 3 * b, c)))
    assert m.rows.tolist() == [0, 0, 1, 1] and m.cols.tolist() == [0, 0, 1, 1, 2, 2]
    assert m.lanes.tolist() == [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]


def test_row_gather_kernel_reads_each_input_row_once_and_drains_the_rest():
    maps = dataflow.RowMaps(np.array([-1, 0, 0, 2]), np.array([0, 1]), np.array([[[0]]]), (4, 2, 1))
    k = dataflow._rows_kernel("g", "x", maps)
    # row -1 (zeros): 2 writes; row 0: read 2, write 2; again: write 2; row 2: read 4 (rows 1, 2), write 2;
    # drain row 3: read 2
    assert k.reads[0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1]
    assert k.writes.tolist() == [1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0]


def test_a_line_buffer_costs_its_rows_and_no_feature_map(residual):
    conv = residual.node("Conv_0")  # 8x8 kernel, stride 4 on 200x200x1 ap_fixed<8,3>: 8 rows of 200 one-pixel words
    assert (conv.attrs["in_hwc"], tuple(conv.attrs["kernel"]), conv.attrs["out_hwc"]) == ((200, 200, 1), (8, 8), (49, 49, 14))
    f = dataflow.flows(residual)["Conv_0"]
    c = dataflow.stream_cost(residual, conv, f)
    assert memory_cost(200, 8) == (1, 0) and c.bram18 == 8
    assert c.interval == 200 * 200 + 49 * 49 and c.partitioned == {}
    assert c.ff < 10_000  # its accumulators and one output token, not a 49x49x14 feature map of registers
    assert dataflow.stream_cost(residual, conv, f, reuse=4).interval == 200 * 200 + 49 * 49 * 4


def test_io_stream_plan_counts_fifos_and_takes_the_schedule(residual):
    d = plan(residual, DesignOptions(VU13P, unroll_limit=0, io="io_stream"))
    assert d.io == "io_stream" and d.fifos and "FIFO model" in d.note
    for k in ("bram18", "lut"):
        assert d.totals[k] == sum(getattr(ld.cost, k) for ld in d.layers.values()) + sum(getattr(f, k) for f in d.fifos)
    ks = dataflow.kernels(residual, d.flows, {n: ld.cost for n, ld in d.layers.items()})
    s = fifo.simulate(ks, {(f.producer, f.consumer): f.depth for f in d.fifos}, samples=2)
    assert (s.deadlock, s.interval, s.latency) == (None, d.interval, d.latency)
    assert d.as_dict()["processes"]["Conv_0"] == "line_buffer" and d.fifo_depth("Add_0") > 100


def test_io_stream_target_folds_line_buffers_one_pixel_per_step(residual):
    d = plan(residual, DesignOptions(VU13P, target_ii=200_000, unroll_limit=0, io="io_stream"))
    assert d.interval <= 200_000 and all(d.layers[n].parallelization == 1 for n in ("Conv_0", "Conv_1", "Conv_2"))
    # each conv takes what the target leaves after its input reads: Conv_0 reads 200x200 pixels, then
    # 49x49 outputs at R cycles: R <= (200,000 - 40,000) / 2,401 = 66, i.e. 14 of its 896 products at
    # once (R 64 is the smallest with 14); Conv_1 reads 2,401: R <= 82, 22 multipliers (R 81)
    assert (d.layers["Conv_0"].reuse_factor, d.layers["Conv_1"].reuse_factor) == (64, 81)
    with pytest.raises(DesignError, match="raise --target-ii"):  # below the tokens one stream carries
        plan(residual, DesignOptions(VU13P, target_ii=1000, unroll_limit=0, io="io_stream"))


def test_io_auto_streams_when_io_parallel_cannot(residual):
    d, why = plan_auto(residual, DesignOptions(VU13P))
    assert d.io == "io_stream" and why.startswith("io_parallel cannot: graph input 'global_in' has 40,000 elements")
    jet = compile_model(shared_path("models", "qonnx_model_zoo", "qkeras_jettagging.onnx"), input_type="ap_fixed<8,3>")
    d, why = plan_auto(jet, DesignOptions(VU13P))
    assert (d.io, why) == ("io_parallel", None)
