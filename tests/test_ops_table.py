"""The op table (qconv/ops.py) is the one list of IR ops: every op in it has its parts in every
stage (simulator kernel, backend template and context, type rule, kernel header), no stage knows
an op that is not in it, and no module outside it re-types a list of IR op names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from qconv import ops, report
from qconv.analysis import activations
from qconv.design import cost
from qconv.backend import project  # noqa: F401  (registers the contexts)
from qconv.backend.architecture import ARCHITECTURES, TEMPLATES
from qconv.backend.context import CONTEXT
from qconv.backend.resources import templates_dir
from qconv.passes import infer_types
from qconv.qtools import graph as qtools_graph
from qconv.sim import KERNELS

QCONV = Path(ops.__file__).parent


def test_every_layer_op_has_a_simulator_kernel():
    assert set(KERNELS) == ops.LAYERS


def test_every_layer_op_has_a_template_and_contexts_only_for_table_ops():
    layers = {p.stem for p in (templates_dir() / "layers").glob("*.j2") if not p.stem.startswith("_")}
    assert layers == ops.LAYERS
    assert {op for op, _ in CONTEXT} <= ops.LAYERS and {arch for _, arch in CONTEXT} <= set(ARCHITECTURES)
    assert set(TEMPLATES) == {(op, arch) for op in ops.LAYERS for arch in ARCHITECTURES}
    assert all((templates_dir() / t).is_file() for t in TEMPLATES.values())


def test_every_rule_typed_op_has_a_type_rule():
    assert set(infer_types.RULES) == ops.RULE_TYPED
    assert set(activations.RULES) <= ops.RULE_TYPED


STREAM_KERNELS = {"Conv", "Pool", "Gather"}  # the ops design/dataflow.py runs over a line or row buffer
DA_KERNELS = {"Dense"}  # the ops strategy da builds


def test_kernel_headers_hold_the_kernels_the_templates_call():
    kernels = templates_dir() / "kernels"
    assert {p.stem for p in kernels.glob("qconv_*.h")} == {f"qconv_{h}" for h in ops.HEADERS} | {"qconv_common"}
    for name in ops.LAYERS:
        called = set(re.findall(r"qconv::([a-z_0-9]+)<", (templates_dir() / "layers" / f"{name}.j2").read_text()))
        if ops.has(name, ops.FOLDS):  # the template calls {{ l.kernel }}: both schedules (ops.Op.kernel)
            called = {ops.TABLE[name].kernel, f"{ops.TABLE[name].kernel}_folded"}
        if name in STREAM_KERNELS:  # an io_stream process over a buffer (design/dataflow.py)
            called |= {f"{ops.TABLE[name].kernel}_stream"}
        if name in DA_KERNELS:  # strategy da: an adder graph (design/da.py)
            called |= {f"{ops.TABLE[name].kernel}_da"}
        header = ops.TABLE[name].header
        assert bool(called) == (header is not None), name
        if header:
            text = (kernels / f"qconv_{header}.h").read_text()
            for fn in called:
                assert re.search(rf"\b{fn}\(", text), f"{name}: qconv::{fn} is not in qconv_{header}.h"


def test_an_op_family_has_one_name_in_every_stage():
    """`grep -ril <family>` finds all of an op family's parts: the simulator kernel in
    sim/<family>.py, the backend context in backend/<family>.py, the kernel header
    qconv_<family>.h its template calls, the frontend handlers in frontend/<family>.py and the
    tests in tests/ops/test_<family>.py."""
    tests = Path(__file__).parent / "ops"
    for family in ops.FAMILIES:
        for part in (QCONV / "sim" / f"{family}.py", QCONV / "backend" / f"{family}.py",
                     QCONV / "frontend" / f"{family}.py", tests / f"test_{family}.py",
                     templates_dir() / "kernels" / f"qconv_{family}.h"):
            assert part.is_file(), part
    for name in ops.LAYERS:
        family = ops.TABLE[name].family
        assert family in ops.FAMILIES, name
        assert ops.TABLE[name].header in (None, family), name
        assert KERNELS[name].__module__ == f"qconv.sim.{family}", name
        for (op, _), fn in CONTEXT.items():
            if op == name:
                assert fn.__module__ == f"qconv.backend.{family}", name
    assert {op.name for op in ops.TABLE.values() if op.family is None} == ops.TABLE.keys() - ops.LAYERS


def test_per_op_registries_know_only_table_ops():
    assert set(report.OPS) <= ops.LAYERS and set(cost.ELEMENT_COSTS) <= ops.LAYERS
    assert {op.name for op in ops.TABLE.values() if op.kernel} == \
        {op.name for op in ops.TABLE.values() if ops.FOLDS in op.traits} | STREAM_KERNELS
    assert set(qtools_graph.KERAS_LAYERS) <= ops.LAYERS
    for op in ops.TABLE.values():
        assert op.traits <= ops.TRAITS and op.header in (None, *ops.HEADERS)
        assert op.stage in ("layer", "input", "transient") and op.typing in ("rule", "quantizer", "index")


def _string_collections(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.Set, ast.List)):
            names = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(names) >= 2 and len(names) == len(node.elts):
                yield node.lineno, names


def test_no_list_of_ir_op_names_outside_the_table():
    """A tuple, set or list of two or more IR op names (and nothing else) is a trait the table
    should hold. ONNX op-type lists (the frontend's, onnx_tools') name ONNX ops, not IR ops."""
    found = []
    for path in QCONV.rglob("*.py"):
        rel = path.relative_to(QCONV)
        if rel.parts[0] == "frontend" or rel.name in ("ops.py", "onnx_tools.py"):
            continue
        for line, names in _string_collections(ast.parse(path.read_text())):
            if all(n in ops.TABLE for n in names):
                found.append(f"{rel}:{line}: {names}")
    assert not found, found


def test_every_op_name_the_code_compares_with_is_in_the_table():
    """`node.op == "X"` and the like, and the ops the frontend and passes emit, anywhere in qconv."""
    pattern = re.compile(r"""\.op\s*(?:==|!=)\s*"(\w+)"|(?:emit|add_node|Node)\([^()]*?,\s*"(\w+)"|node\.op = "(\w+)\"""")
    unknown = set()
    for path in QCONV.rglob("*.py"):
        for m in pattern.finditer(path.read_text()):
            name = next(g for g in m.groups() if g)
            if name not in ops.TABLE:
                unknown.add(f"{path.relative_to(QCONV)}: {name}")
    assert not unknown, sorted(unknown)
