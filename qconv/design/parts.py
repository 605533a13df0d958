"""Capacities of the FPGA parts qconv knows: LUTs, flip-flops, DSP slices, 18 Kb block RAMs and
UltraRAMs of each base device, and the two ways to get one: `find_part` (a full Xilinx part number,
as given to Vivado/Vitis) and `parse_capacities` (the user's `--part-resources` text).

Where the numbers come from: AMD's product tables (DS190, DS890, DS891, the Alveo data sheets) are
not in the reference corpus this table was checked against, so every number is taken from the
tools' own device data as published: the `Available` row of Vivado `report_utilization` and of
Vivado/Vitis HLS csynth reports for that device, cited per part in `Part.source` (with secondary
sources that agree). `bram18` counts 18 Kb block RAMs, i.e. twice the 36 Kb tiles; `uram` is 0
where the family has no UltraRAM. Numbers that could not be checked say so in their `source`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qconv.errors import QconvError, UnknownPartError


@dataclass(frozen=True)
class Part:
    name: str      # base device name, e.g. "xcvu13p"
    family: str    # e.g. "Virtex UltraScale+"
    lut: int       # CLB LUTs
    ff: int        # CLB flip-flops
    dsp: int       # DSP slices (DSP48E1/E2)
    bram18: int    # 18 Kb block RAMs (= 2 x the 36 Kb count)
    uram: int      # 288 Kb UltraRAM blocks (0 where the family has none)
    source: str    # the document (title, number, table) the numbers come from


_TUTORIAL = "github.com/fastmachinelearning/hls4ml-tutorial"
_NO_TABLE = "not verified against {doc}, which is not in the stored corpus"

PARTS: dict[str, Part] = {p.name: p for p in (
    Part("xc7z020", "Zynq-7000", 53_200, 106_400, 220, 280, 0,
         "Vivado HLS csynth 'Available' row for XC7Z020 targets (280 BRAM_18K, 220 DSP48E, 106400 FF, "
         f"53200 LUT, 0 URAM), e.g. {_TUTORIAL} branch csee-e6868-spring2021 deploy/vivado_flow/"
         "vivado_flow.ipynb 'Resource Reference' (PYNQ-Z1/Z2); agrees with Xilinx/finn src/finn/util/"
         f"platforms.py Zynq7020_Platform (secondary); {_NO_TABLE.format(doc='DS190')}"),
    Part("xczu3eg", "Zynq UltraScale+", 70_560, 141_120, 360, 432, 0,
         "Vivado HLS 2019.2 csynth report for xczu3eg-sbva484-1-e, 'Available' row (432 BRAM_18K, "
         f"360 DSP48E, 141120 FF, 70560 LUT, 0 URAM), {_TUTORIAL} branch csee-e6868-spring2021 "
         f"part1_getting_started.ipynb output; {_NO_TABLE.format(doc='DS891')}"),
    Part("xczu7ev", "Zynq UltraScale+", 230_400, 460_800, 1_728, 624, 96,
         "Vivado HLS 2019.2 csynth report for xczu7ev-ffvc1156-2-e, 'Available' row (624 BRAM_18K, "
         f"1728 DSP48E, 460800 FF, 230400 LUT, 96 URAM), {_TUTORIAL} branch csee-e6868-spring2021 "
         f"part2b_advanced_config.ipynb output; {_NO_TABLE.format(doc='DS891')}"),
    Part("xczu9eg", "Zynq UltraScale+", 274_080, 548_160, 2_520, 1_824, 0,
         "Xilinx/CHaiDNN README.md, 'CHaiDNN-2017.4 Resource Utilization' (available on ZCU102: 2520 "
         "DSP, 912 BRAM, 274080 LUT, 548160 FF); a Vivado HLS csynth report for a ZCU102 target gives "
         "the same 'Available' row (1824 BRAM_18K, 2520 DSP48E, 548160 FF, 274080 LUT, 0 URAM); "
         f"{_NO_TABLE.format(doc='DS891')}"),
    Part("xcku115", "Kintex UltraScale", 663_360, 1_326_720, 5_520, 4_320, 0,
         "Vivado report_utilization 'Available' for KU115 as quoted in public project reports "
         "(663360 CLB LUTs, 1326720 CLB registers, 2160 RAMB36 / 4320 RAMB18, 5520 DSPs); Kintex "
         f"UltraScale has no UltraRAM; {_NO_TABLE.format(doc='DS890')}"),
    Part("xcvu9p", "Virtex UltraScale+", 1_182_240, 2_364_480, 6_840, 4_320, 960,
         "Vitis HLS csynth 'Available' row of xilinx_u200 builds (4320 BRAM_18K, 6840 DSP, 2364480 "
         "FF, 1182240 LUT, 960 URAM; XCU200 is VU9P-class, the VCU118 board carries the xcvu9p "
         "itself); the same LUT/FF/DSP for VU9P in an hls4ml developer's script (gist "
         f"thesps/8a6dff86ec941e2515cdbd52cc337711, secondary); {_NO_TABLE.format(doc='DS890')}"),
    Part("xcvu13p", "Virtex UltraScale+", 1_728_000, 3_456_000, 12_288, 5_376, 1_280,
         "not verified here under the xcvu13p name (DS890 is not in the stored corpus): taken equal "
         "to xcu250, the Alveo U250's VU13P-class device, whose tool-reported numbers are below"),
    Part("xcu200", "Virtex UltraScale+ (Alveo U200)", 1_182_240, 2_364_480, 6_840, 4_320, 960,
         "Vitis HLS csynth 'Available' row of xilinx_u200_gen3x16_xdma builds (4320 BRAM_18K, 6840 "
         "DSP, 2364480 FF, 1182240 LUT, 960 URAM; the whole device, the platform shell takes a part, "
         f"see UG1120); {_NO_TABLE.format(doc='DS962 (Alveo U200/U250 data sheet)')}"),
    Part("xcu250", "Virtex UltraScale+ (Alveo U250)", 1_728_000, 3_456_000, 12_288, 5_376, 1_280,
         "Vivado 2020.1 report_utilization and Vivado HLS 2020.1 csynth for xcu250-figd2104-2L-e, "
         f"{_TUTORIAL} pruned_cnn/vivado_synth.rpt and pruned_cnn/myproject_prj/solution1/syn/report/"
         "myproject_csynth.rpt (1728000 CLB LUTs, 3456000 registers, 12288 DSPs, 2688 RAMB36 / 5376 "
         f"RAMB18, 1280 URAM); {_NO_TABLE.format(doc='DS962 (Alveo U200/U250 data sheet)')}"),
    Part("xcu280", "Virtex UltraScale+ (Alveo U280)", 1_303_680, 2_607_360, 9_024, 4_032, 960,
         "Vitis HLS 2021.2 csynth report for xcu280-fsvh2892-2L-e, 'Available' row (4032 BRAM_18K, "
         f"9024 DSP, 2607360 FF, 1303680 LUT, 960 URAM); {_NO_TABLE.format(doc='DS963 (Alveo U280)')}"),
)}

_FORM = "lut=...,ff=...,dsp=...,bram18=...,uram=..."
_KEYS = ("lut", "ff", "dsp", "bram18", "uram")


def find_part(text: str) -> Part:
    """The base device of a Xilinx part number (`xcvu13p-flga2577-2-e`, `xc7z020clg400-1`, or the
    bare `xcu250`), any case. A base name matches when the package, a dash or nothing follows it."""
    number = text.strip().lower()
    for name in sorted(PARTS, key=len, reverse=True):
        rest = number[len(name):]
        if number.startswith(name) and (not rest or rest[0] == "-" or rest[0].isalpha()):
            return PARTS[name]
    raise UnknownPartError(f"unknown FPGA part '{text}': known parts are {', '.join(sorted(PARTS))}; "
                           f"give capacities by hand with --part-resources '{_FORM}' (--part then only names the part "
                           "in build_prj.tcl)")


def parse_capacities(text: str) -> Part:
    """A `Part` from `--part-resources` text: `lut=N,ff=N,dsp=N,bram18=N,uram=N`, each key once,
    whole numbers >= 0, and optionally `name=...`."""
    def fail(problem: str):
        raise QconvError(f"--part-resources: {problem}; expected '{_FORM}' (name=... optional)")

    given: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = (s.strip() for s in item.partition("="))
        key = key.lower()
        if not eq or not key:
            fail(f"'{item.strip()}' is not key=value")
        if key not in _KEYS and key != "name":
            fail(f"unknown key '{key}'")
        if key in given:
            fail(f"'{key}' is given twice")
        given[key] = value
    missing = [k for k in _KEYS if k not in given]
    if missing:
        fail(f"missing {', '.join(missing)}")
    for key in _KEYS:
        if not re.fullmatch(r"[0-9]+", given[key]):
            fail(f"{key}='{given[key]}' is not a whole number >= 0")
    if "name" in given and not given["name"]:
        fail("name is empty")
    return Part(given.get("name", "custom"), "given by hand", *(int(given[k]) for k in _KEYS),
                source="--part-resources")
