"""Legal, unique C++ names for the IR nodes, made from ONNX names.

Every IR node name becomes C++ identifiers in the generated project: the node's own array
(`<name>` for inputs, `<name>_out`), its typedef `<name>_t`, size macro `N_<NAME>`, config struct
`config_<name>`, constant arrays (`<name>_w`, `<name>_b`, ...), a header guard and a file
`weights/<name>.h`. `CppNames.unique` turns any ONNX name into a readable identifier that

- holds only [A-Za-z0-9_], starts with a letter, has no double underscore (reserved in C++);
- is no C++ keyword and none of the names the project itself uses (ap_fixed, hls, std, ...);
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
# names of the headers, libraries and generated code a project includes
PROJECT_NAMES = frozenset("""
ap_fixed ap_ufixed ap_int ap_uint ap_o_mode ap_q_mode hls std qconv nnet main stream size_t int8_t int16_t
int32_t int64_t uint8_t uint16_t uint32_t uint64_t defines parameters weights config assert printf
""".split())
# identifiers generated from a node name x: x_<suffix>, <prefix>_x
DERIVED_SUFFIXES = ("t", "out", "w", "b", "c", "idx", "thr", "table", "slope", "shift", "recip", "levels", "exp")
DERIVED_PREFIXES = ("config", "n")


def sanitize(name: str) -> str:
    """A readable identifier for `name` (not yet checked for clashes)."""
    out = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", name)).strip("_") or "t"
    if not out[0].isalpha():
        out = "n_" + out
    if out.lower() in CPP_KEYWORDS or out.lower() in PROJECT_NAMES or re.fullmatch(r"out\d+", out.lower()):
        out = "t_" + out
    if len(out) > MAX_LENGTH:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        out = out[:MAX_LENGTH - 9].rstrip("_") + "_" + digest
    return out


def _derived(name: str) -> set[str]:
    """The identifiers generated from `name` (C++ is case-sensitive; macros and header guards are
    upper case, so two names that differ only in case would clash there)."""
    return ({name} | {f"{name}_{s}" for s in DERIVED_SUFFIXES} | {f"{p}_{name}" for p in DERIVED_PREFIXES}
            | {f"N_{name.upper()}", name.upper()})


class CppNames:
    """The names handed out so far in one project: the top function's, then every node's."""

    def __init__(self, function: str):
        self.function = sanitize(function)  # the top function (its own identifiers end in _H_, _test...)
        self.taken: set[str] = set()        # node names and the identifiers derived from them

    def unique(self, base: str, is_input: bool = False) -> str:
        """A fresh name for a node; an input's array is named exactly so, so it may not be the
        top function's name."""
        stem = sanitize(base)
        name, k = stem, 1
        while _derived(name) & self.taken or (is_input and name == self.function):
            k += 1
            name = f"{stem}_{k}"
        self.taken |= _derived(name)
        return name
