"""design/parts.py: the capacity table (every number, as bench/published.md and the sources in
`Part.source` give it), part-number lookup and `--part-resources` parsing with their messages."""

from __future__ import annotations

import pytest

from qconv.design.parts import PARTS, Part, find_part, parse_capacities
from qconv.errors import QconvError, UnknownPartError
from qconv.toolchain import DEFAULT_PART

# name: (family, lut, ff, dsp, bram18, uram)
EXPECTED = {
    "xc7z020": ("Zynq-7000", 53_200, 106_400, 220, 280, 0),
    "xczu3eg": ("Zynq UltraScale+", 70_560, 141_120, 360, 432, 0),
    "xczu7ev": ("Zynq UltraScale+", 230_400, 460_800, 1_728, 624, 96),
    "xczu9eg": ("Zynq UltraScale+", 274_080, 548_160, 2_520, 1_824, 0),
    "xcku115": ("Kintex UltraScale", 663_360, 1_326_720, 5_520, 4_320, 0),
    "xcvu9p": ("Virtex UltraScale+", 1_182_240, 2_364_480, 6_840, 4_320, 960),
    "xcvu13p": ("Virtex UltraScale+", 1_728_000, 3_456_000, 12_288, 5_376, 1_280),
    "xcu200": ("Virtex UltraScale+ (Alveo U200)", 1_182_240, 2_364_480, 6_840, 4_320, 960),
    "xcu250": ("Virtex UltraScale+ (Alveo U250)", 1_728_000, 3_456_000, 12_288, 5_376, 1_280),
    "xcu280": ("Virtex UltraScale+ (Alveo U280)", 1_303_680, 2_607_360, 9_024, 4_032, 960),
}
KNOWN = "xc7z020, xcku115, xcu200, xcu250, xcu280, xcvu13p, xcvu9p, xczu3eg, xczu7ev, xczu9eg"
FORM = "lut=...,ff=...,dsp=...,bram18=...,uram=..."
GOOD = "lut=200000,ff=400000,dsp=900,bram18=600,uram=0"


def test_table_holds_exactly_the_expected_parts():
    assert set(PARTS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capacities(name):
    p = PARTS[name]
    assert (p.family, p.lut, p.ff, p.dsp, p.bram18, p.uram) == EXPECTED[name]
    assert p.name == name and p.source
    assert p.bram18 % 2 == 0    # two 18 Kb halves per 36 Kb tile


@pytest.mark.parametrize("number, name", [
    ("xcvu13p-flga2577-2-e", "xcvu13p"),
    ("xcu250-figd2104-2L-e", "xcu250"),
    ("xc7z020clg400-1", "xc7z020"),
    ("xczu9eg-ffvb1156-2-e", "xczu9eg"),
    ("xcku115-flvb2104-2-i", "xcku115"),
    ("xczu7ev-ffvc1156-2-e", "xczu7ev"),
    ("xczu3eg-sbva484-1-e", "xczu3eg"),
    ("xcvu9p-flga2104-2L-e", "xcvu9p"),
    ("xcu200-fsgd2104-2-e", "xcu200"),
    ("xcu280-fsvh2892-2L-e", "xcu280"),
    ("XCVU13P-FLGA2577-2-E", "xcvu13p"),
    ("  xcu250figd2104-2L  ", "xcu250"),
    ("xcvu9p", "xcvu9p"),
    (DEFAULT_PART, "xcvu13p"),
])
def test_full_part_numbers_resolve_to_the_base_device(number, name):
    assert find_part(number) is PARTS[name]


@pytest.mark.parametrize("number", ["xc7a35tcpg236-1", "xcvu13", "xcku1150-flvb2104-2-i", "", "vu9p"])
def test_unknown_part(number):
    with pytest.raises(UnknownPartError) as e:
        find_part(number)
    assert str(e.value) == (f"unknown FPGA part '{number}': known parts are {KNOWN}; "
                            f"give capacities by hand with --part-resources '{FORM}' (--part then only names the part "
                           "in build_prj.tcl)")
    assert isinstance(e.value, QconvError) and e.value.exit_code == 2


def test_parse_capacities():
    assert parse_capacities(GOOD) == Part("custom", "given by hand", 200_000, 400_000, 900, 600, 0,
                                          "--part-resources")
    p = parse_capacities(" URAM = 4 , name=my_board,lut=1,ff=2,dsp=3,bram18=0 ")
    assert (p.name, p.lut, p.ff, p.dsp, p.bram18, p.uram) == ("my_board", 1, 2, 3, 0, 4)


@pytest.mark.parametrize("text, problem", [
    ("lut=200000,ff=400000,dsp=900,bram18=600", "missing uram"),
    ("lut=200000,dsp=900,uram=0", "missing ff, bram18"),
    ("lut=200000,ff=400000,dsp=-5,bram18=600,uram=0", "dsp='-5' is not a whole number >= 0"),
    ("lut=2e5,ff=400000,dsp=900,bram18=600,uram=0", "lut='2e5' is not a whole number >= 0"),
    ("lut=200000,ff=400000,dsp=900,bram18=1.5,uram=0", "bram18='1.5' is not a whole number >= 0"),
    ("lut=200000,ff=,dsp=900,bram18=600,uram=0", "ff='' is not a whole number >= 0"),
    (GOOD + ",bram36=300", "unknown key 'bram36'"),
    (GOOD + ",dsp=100", "'dsp' is given twice"),
    ("lut200000,ff=400000,dsp=900,bram18=600,uram=0", "'lut200000' is not key=value"),
    (GOOD + ",", "'' is not key=value"),
    ("name=," + GOOD, "name is empty"),
])
def test_parse_capacities_mistakes(text, problem):
    with pytest.raises(QconvError) as e:
        parse_capacities(text)
    assert str(e.value) == f"--part-resources: {problem}; expected '{FORM}' (name=... optional)"
