"""Legal, unique C++ names for the IR nodes, made from ONNX names.

Every IR node name becomes C++ identifiers in the generated project: the node's own array
(`<name>` for inputs, `<name>_out`), its typedef `<name>_t`, size macro `N_<NAME>`, config struct
`config_<name>`, constant arrays (`<name>_w`, `<name>_b`, ...), a header guard and a file
`weights/<name>.h`. `CppNames.unique` turns any ONNX name into a readable identifier that

- holds only [A-Za-z0-9_] and starts with a letter;
- is no C++ keyword and none of the names the project itself uses (ap_fixed, hls, std, the
  generated code's locals, ...);
- is at most MAX_LENGTH characters (a long name is cut and keeps a hash of the full one, so that
  file names stay short);
- differs from every other name in the project, also in upper case (size macros), and none of
  its derived identifiers equals another's.

The ONNX name stays on the node (`origin`, `source`, `attrs['onnx_name']`) for messages and
`qconv_project.json`.
"""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 48
CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype
default delete do double dynamic_cast else enum explicit export extern false final float for friend goto if
import inline int long module mutable namespace new noexcept not not_eq nullptr operator or or_eq override
private protected public register reinterpret_cast requires return short signed sizeof static static_assert
static_cast struct switch template this thread_local throw true try typedef typeid typename union unsigned
using virtual void volatile wchar_t while xor xor_eq
""".split())
# reserved words of Verilog (IEEE 1364-2005) and SystemVerilog (IEEE 1800-2017, Annex B), which
# Verilator reads .v files as: the top function's name is also the Verilog backend's top module
VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic before begin bind
bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle checker class clocking cmos config
const constraint context continue cover covergroup coverpoint cross deassign default defparam design disable dist
do edge else end endcase endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
endmodule endpackage endprimitive endprogram endproperty endsequence endspecify endtable endtask enum event
eventually expect export extends extern final first_match for force foreach forever fork forkjoin function
generate genvar global highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import incdir
include initial inout input inside instance int integer interconnect interface intersect join join_any
join_none large let liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output package packed
parameter pmos posedge primitive priority program property protected pull0 pull1 pulldown pullup
pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase randsequence rcmos real realtime ref reg
reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1 s_always s_eventually s_nexttime
s_until s_until_with scalared sequence shortint shortreal showcancelled signed small soft solve specify
specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on table
tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior trireg
type typedef union unique unique0 unsigned until until_with untyped use uwire var vectored virtual void wait
wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
""".split())
# names of the headers, libraries and macros a project uses, and the locals that the generated top
# function (templates/layers, templates/firmware) and testbench (hls_testbench) declare
PROJECT_NAMES = frozenset("""
ap_fixed ap_ufixed ap_int ap_uint ap_o_mode ap_q_mode hls std qconv nnet main stream size_t int8_t int16_t
int32_t int64_t uint8_t uint16_t uint32_t uint64_t defines parameters weights config assert printf EOF NULL
stdin stdout stderr errno
argc argv fin fout in_path out_path raw samples sep i qconv_trace_file
alpha_raw beta_raw lo_raw hi lo batch count_include_pad dil_h groups has_bias has_lo in_h is_max kern_h n n_in
n_out n_thr num_bits out_h outer pad_top stride_h table_size weight_raw bias_raw const_raw shift_raw
""".split())
# identifiers generated from a node name x: x_<suffix>, <prefix>_x, X_CONSTANTS_H_
DERIVED_SUFFIXES = ("t", "out", "w", "b", "c", "idx", "thr", "table", "slope", "shift", "recip", "levels", "exp",
                    "tok", "process", "clone", "split", "rows", "cols", "lanes")  # (the last: io_stream)
DERIVED_PREFIXES = ("config", "n")


def printable(text: str) -> str:
    """`text` with each character that is not printable (newline, tab, other control and line
    separator characters) as its Python escape (\\n, \\t, \\x1b, \\u2028): an ONNX name stays on one line in
    an error message or a generated `//` comment (the templates' `comment` filter)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def sanitize(name: str) -> str:
    """A readable identifier for `name` (not yet checked for clashes): other characters become
    '_', a leading digit gets 'n_', a C++ keyword or a name the project uses gets 't_'."""
    out = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in name).strip("_") or "t"
    if not out[0].isalpha():
        out = "n_" + out
    if (out in CPP_KEYWORDS or out in PROJECT_NAMES or out.lower().startswith("qconv")
            or re.fullmatch(r"out\d+", out)):
        out = "t_" + out
    if len(out) > MAX_LENGTH:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        out = out[:MAX_LENGTH - 9].rstrip("_") + "_" + digest
    return out


def _derived(name: str) -> set[str]:
    """The identifiers generated from a node's `name` (C++ is case-sensitive; macros and header
    guards are upper case, so two names that differ only in case would clash there)."""
    upper = name.upper()
    return ({name} | {f"{name}_{s}" for s in DERIVED_SUFFIXES} | {f"{p}_{name}" for p in DERIVED_PREFIXES}
            | {upper, f"N_{upper}", f"{upper}_CONSTANTS_H_"})


def _function_identifiers(name: str) -> set[str]:
    """What the top function `name` generates: the function, its files' header guards and the
    testbench and project names."""
    upper = name.upper()
    return {name, f"{name}_test", f"{name}_csim", f"{name}_prj", f"{upper}_H_", f"{upper}_DEFINES_H_",
            f"{upper}_PARAMETERS_H_"}


class CppNames:
    """The names handed out so far in one project: the top function's, then every node's."""

    def __init__(self, function: str):
        self.function = sanitize(function)
        if self.function in VERILOG_KEYWORDS:  # (a Verilog top module of that name would not parse)
            self.function = "t_" + self.function
        self.function_ids = _function_identifiers(self.function)
        self.taken: set[str] = set()  # node names and the identifiers derived from them

    def unique(self, base: str, is_input: bool = False) -> str:
        """A fresh node name made from `base`: none of its derived identifiers is taken. A graph
        input's array is named exactly so; other nodes' arrays are `<name>_out`."""
        stem = sanitize(base)
        name, k = stem, 1
        while self._clash(name, is_input):
            k += 1
            name = f"{stem}_{k}"
        self.taken |= _derived(name)
        return name

    def _clash(self, name: str, is_input: bool) -> bool:
        own = _derived(name)
        return bool(own & self.taken or (own if is_input else own - {name}) & self.function_ids)
