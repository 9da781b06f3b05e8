"""A pipelined multiplier whose registers sit inside the FPGA's multiplier block.

The head's multiply-accumulate lanes and the classifier's dot-product lanes
multiply two registered operands.  Built for an ECP5, a product register in
the fabric made the multiplier one hop of a long path: operand register ->
MULT18X18D -> product register, with the multiplier placed across the die
from both (85F, nextpnr: 10.4 of 14.8 ns routing).  :class:`PipelinedMultiplier`
registers the operands *and* the product inside the MULT18X18D (its
``REG_INPUTA/B`` and ``REG_OUTPUT`` registers), so each of those hops is a
path of its own.  Everywhere else (simulation, Verilog for cocotb, iCE40,
whose Yosys flow packs registers into SB_MAC16 itself) it is the same two
registers in Amaranth, so the simulated RTL and the cycle model keep the
latency the ECP5 build has: :data:`MUL_STAGES` cycles from operands to product.

What is not simulated: the primitive itself.  Yosys ships no simulation model of
a MULT18X18D with its registers, so the ECP5 netlist's equivalence with the
simulated registers rests on the primitive's documented register semantics
(operands and product clocked on CLK0 with CE0 high, synchronous reset RST0);
the tests check the parameters and ports of the instance, and a small ECP5 build
through Yosys, nextpnr and ecppack.
"""

from __future__ import annotations

from amaranth import ClockSignal, Instance, Module, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PipelinedMultiplier", "MUL_STAGES", "ECP5_MULT_BITS", "uses_ecp5_dsp"]

#: Clock cycles from the operands to their product (operand registers, product register).
MUL_STAGES = 2
#: Operand width of one ECP5 MULT18X18D (signed).
ECP5_MULT_BITS = 18


def uses_ecp5_dsp(platform) -> bool:
    """Whether a design elaborated for ``platform`` maps its multipliers to ECP5 MULT18X18D
    primitives with their internal registers (an ECP5 platform of Amaranth's Lattice
    support; ``None``, the simulators' and the Verilog backend's, does not)."""
    return getattr(platform, "family", None) == "ecp5"


class PipelinedMultiplier(wiring.Component):
    """``p = a * b``, :data:`MUL_STAGES` cycles after ``a`` and ``b``, in the sync domain.

    ``a``, ``b``: signed operands of at most 18 bits; ``p``: their signed product,
    ``a_bits + b_bits`` wide (exact).  The registers reset to zero with the domain.
    """

    def __init__(self, a_bits: int, b_bits: int):
        if not (1 <= a_bits <= ECP5_MULT_BITS and 1 <= b_bits <= ECP5_MULT_BITS):
            self._MustUse__silence = True    # refused, not forgotten: no unused warning
            raise ValueError(f"PipelinedMultiplier operands must be 1..{ECP5_MULT_BITS} bits, "
                             f"not {a_bits} and {b_bits}")
        super().__init__({"a": In(signed(a_bits)), "b": In(signed(b_bits)),
                          "p": Out(signed(a_bits + b_bits))})

    def elaborate(self, platform):
        m = Module()
        if not uses_ecp5_dsp(platform):
            a_r, b_r = Signal.like(self.a), Signal.like(self.b)
            m.d.sync += [a_r.eq(self.a), b_r.eq(self.b), self.p.eq(a_r * b_r)]
            return m
        n = ECP5_MULT_BITS
        a, b = Signal(signed(n)), Signal(signed(n))          # sign-extended to the block
        product = Signal(signed(2 * n))
        m.d.comb += [a.eq(self.a), b.eq(self.b), self.p.eq(product[:len(self.p)])]
        # Only what Yosys's own MULT18X18D mapping connects, plus the clock, enable and reset
        # of the registers: the shift-cascade inputs (SRIA, SRIB) reach a block only from
        # its neighbour, so tying them to a constant leaves nextpnr an arc it cannot route.
        zero = {f"i_C{k}": 0 for k in range(n)}
        m.submodules.mult = Instance(
            "MULT18X18D",
            # Operands and product registered on CLK0, enabled by CE0, reset by RST0
            # (synchronous, as the Amaranth registers); no global set/reset, no
            # pipeline register (that would be a third stage).  Every other parameter
            # keeps the primitive's default, as Yosys's own mapping does: ecppack's
            # database has no bits for some values in some sites (SOURCEB_MODE = B_INPUT
            # in MULT18_5 of the 25F stopped it).
            p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
            p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
            p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
            p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
            p_GSR="DISABLED", p_RESETMODE="SYNC",
            i_CLK0=ClockSignal("sync"), i_CE0=1, i_RST0=ResetSignal("sync"),
            i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
            **{f"i_A{k}": a[k] for k in range(n)}, **{f"i_B{k}": b[k] for k in range(n)},
            **zero, **{f"o_P{k}": product[k] for k in range(2 * n)})
        return m
