"""The pipelined multiplier: exact products after MUL_STAGES cycles in simulation, and the
ECP5 MULT18X18D with its own operand and product registers in an ECP5 build."""

import numpy as np
import pytest
from amaranth.hdl import Fragment, Instance

from rramlsm.hw.dsp import MUL_STAGES, PipelinedMultiplier, uses_ecp5_dsp
from rramlsm.hw.head import Classifier, Head
from rramlsm.hw.params import CoreParams
from tests.hw.hw_support import run


@pytest.mark.parametrize("bits", [(9, 8), (8, 8), (18, 18)])
def test_products_are_exact_and_arrive_mul_stages_cycles_later(bits):
    """A new operand pair every cycle, the extremes included: the product of the pair set
    before tick t is on ``p`` after tick t + MUL_STAGES - 1, and only then."""
    a_bits, b_bits = bits
    rng = np.random.default_rng(a_bits * 100 + b_bits)
    lo_a, hi_a, lo_b, hi_b = -(1 << a_bits - 1), (1 << a_bits - 1) - 1, -(1 << b_bits - 1), \
        (1 << b_bits - 1) - 1
    pairs = [(lo_a, lo_b), (hi_a, lo_b), (lo_a, hi_b), (hi_a, hi_b), (0, lo_b), (-1, -1)]
    pairs += [(int(rng.integers(lo_a, hi_a + 1)), int(rng.integers(lo_b, hi_b + 1)))
              for _ in range(40)]
    dut = PipelinedMultiplier(a_bits, b_bits)
    seen = []

    async def bench(ctx):
        for a, b in pairs + [(0, 0)] * MUL_STAGES:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            seen.append(ctx.get(dut.p))

    run(dut, bench)
    want = [a * b for a, b in pairs]
    assert seen[MUL_STAGES - 1:MUL_STAGES - 1 + len(pairs)] == want
    assert seen[:MUL_STAGES - 1] == [0] * (MUL_STAGES - 1)       # reset registers hold 0


def test_operand_widths_are_checked():
    with pytest.raises(ValueError, match="operands must be 1..18 bits, not 19 and 8"):
        PipelinedMultiplier(19, 8)


class _ECP5:
    """What the elaboration asks of a platform: Amaranth's Lattice ECP5 platforms say
    ``family = "ecp5"``."""

    family = "ecp5"


def _instances(elaboratable, platform):
    found = []

    def walk(frag):
        if isinstance(frag, Instance):
            found.append(frag)
        for sub, *_ in getattr(frag, "subfragments", ()):
            walk(sub)

    walk(Fragment.get(elaboratable, platform))
    return found


def test_ecp5_builds_register_operands_and_product_inside_the_mult18x18d():
    assert uses_ecp5_dsp(_ECP5()) and not uses_ecp5_dsp(None)
    (inst,) = _instances(PipelinedMultiplier(9, 8), _ECP5())
    assert inst.type == "MULT18X18D"
    par = inst.parameters
    # Two stages: operand registers and the output register, all on CLK0; nothing else.
    assert (par["REG_INPUTA_CLK"], par["REG_INPUTB_CLK"], par["REG_OUTPUT_CLK"]) == \
        ("CLK0", "CLK0", "CLK0") and MUL_STAGES == 2
    assert par["REG_PIPELINE_CLK"] == "NONE" and par["REG_INPUTC_CLK"] == "NONE"
    assert par["RESETMODE"] == "SYNC" and par["GSR"] == "DISABLED"
    ports = {name: value for name, (value, kind) in inst.ports.items()}
    assert {n for n, (_, kind) in inst.ports.items() if kind == "o"} == \
        {f"P{k}" for k in range(36)}
    assert repr(ports["SIGNEDA"]) == repr(ports["SIGNEDB"]) == "(const 1'd1)"
    assert repr(ports["CE0"]) == "(const 1'd1)"
    # Without a platform (simulation, the Verilog for cocotb) there is no primitive.
    assert _instances(PipelinedMultiplier(9, 8), None) == []


def test_head_and_classifier_use_one_dsp_per_lane_on_ecp5():
    p = CoreParams(24, 30, lanes=4, dim=8, head_lanes=4, classes=3, class_lanes=3)
    assert sum(i.type == "MULT18X18D" for i in _instances(Head(p), _ECP5())) == 4
    assert sum(i.type == "MULT18X18D" for i in _instances(Classifier(p), _ECP5())) == 3
