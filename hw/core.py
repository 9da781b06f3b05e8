"""One macro core: the controller that runs a sample through crossbar, ADC, LIF, head, classifier.

Input stream (:data:`IN_WORD`): address events of one sample, time bin by
time bin::

    EVENT(row) ... BIN   EVENT(row) ... BIN   ...   EOS

``EVENT`` marks input row ``row`` active in the current bin (duplicates are
ignored, so raw events may be sent); ``BIN`` closes the bin; ``EOS`` closes the
sample (and the current bin, if fewer than T bins were closed; the remaining
steps then run with no input).  Events after the T-th ``BIN`` are dropped and
counted (``perf_dropped``).

Output stream (:data:`OUT_WORD`), per sample: with ``dump``, ``COUNT`` x W x N
(window-major, W readout windows) then ``EMBED`` x dim; always ``CLASS`` (the class
label), ``SCORE`` and ``CYCLES`` (with ``last``).

The core is composed of components (``docs/RTL.md``): the :class:`ProgDecoder`
(programming writes to the memories), the :class:`RowLoader` and the
:class:`StepEngine`, which share a double-buffered active-row list (the loader
writes the rows of bin t+1 while the engine runs step t), the head and the
classifier, and the :class:`ResultSerializer` (which sequences head and
classifier and sends the output words).  Per step the engine
appends the rows of the neurons that spiked at t-1 (``REC``: one cycle per
spike, at least one per column group), then makes one pass per column group
over the list (``ACCUM``: one cycle per active row, or one if none), with the
ADC and the LIF update of each group pipelined behind the next pass.
:func:`rramlsm.hw.cycles.predict` is the cycle model of exactly this.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from rramlsm.hw.crossbar import Crossbar
from rramlsm.hw.head import Classifier, Head
from rramlsm.hw.interfaces import (
    PROG_ADDR_BITS,
    ProgSignature,
    ProgTarget,
    RowListSignature,
    TaskSignature,
)
from rramlsm.hw.memories import NO_COLLISION_READS, registered_read
from rramlsm.hw.params import REG_BITS, CoreParams
from rramlsm.hw.periphery import ADC, NOISE_AMP_BITS, LIFBank, ReadNoise, const_mul
from rramlsm.sw import contract

__all__ = ["InKind", "OutKind", "ProgTarget", "IN_WORD", "OUT_WORD", "LSMCore", "PROG_ADDR_BITS",
           "ProgDecoder", "RowLoader", "StepEngine", "ResultSerializer", "LOADER_STAGES",
           "SEEN_SLICE_BITS"]


class InKind(enum.Enum, shape=2):
    EVENT = 0
    BIN = 1
    EOS = 2


class OutKind(enum.Enum, shape=3):
    COUNT = 0
    EMBED = 1
    CLASS = 2
    SCORE = 3
    CYCLES = 4


IN_WORD = data.StructLayout({"row": 16, "kind": InKind})
#: Cycles from an input word's take to its list update (the loader's two registers).
LOADER_STAGES = 2

#: The loader's duplicate check reads a row's seen bit in two levels: a slice of
#: 2**SEEN_SLICE_BITS bits as the word is taken, the bit in the next cycle.
SEEN_SLICE_BITS = 4

OUT_WORD = data.StructLayout({"data": REG_BITS, "kind": OutKind, "last": 1})


#: The step engine's configuration inputs (registers of the core).
_ENGINE_CONFIG = {
    "steps": In(contract.STEP_BITS),
    "decay_q": In(contract.DECAY_FRAC_BITS),
    "threshold_q": In(signed(contract.MEMBRANE_BITS)),
    "adc_shift": In(range(contract.COLUMN_SUM_BITS + 1)),
    "noise_amp": In(NOISE_AMP_BITS),
    "noise_seed": In(contract.NOISE_SEED_BITS),
}


def _at_most_one_set(value, width: int):
    """``value`` has at most one bit set (``value & (value - 1) == 0`` without the
    subtractor's carry chain)."""
    seen, two = Const(0, 1), Const(0, 1)
    for k in range(width):
        two, seen = two | (seen & value[k]), seen | value[k]
    return ~two


def _lowest_set(value, width: int):
    """Index of the lowest set bit of ``value``, 0 if none (a priority encoder)."""
    idx = Const(0, range(max(width, 2)))
    for k in reversed(range(width)):
        idx = Mux(value[k], k, idx)
    return idx


class ProgDecoder(wiring.Component):
    """The programming path: one write goes to the write port of its target's memory.

    ``targets``: the write port signature of each target memory; the decoder
    has one ``In`` member per target, named after it in lower case.  Purely
    combinational: the memory writes in the cycle ``prog.en`` is high.
    """

    def __init__(self, data_width: int, targets: dict[ProgTarget, WritePort.Signature]):
        self._targets = dict(targets)
        super().__init__({"prog": In(ProgSignature(data_width)),
                          **{t.name.lower(): In(sig) for t, sig in self._targets.items()}})

    def elaborate(self, platform):
        m = Module()
        for target in self._targets:
            port = getattr(self, target.name.lower())
            # Address and data are truncated to the target's widths.
            m.d.comb += [port.en.eq(self.prog.en & (self.prog.target == target)),
                         port.addr.eq(self.prog.addr), port.data.eq(self.prog.data)]
        return m


class RowLoader(wiring.Component):
    """The input stream into a double-buffered list of active rows.

    Buffer ``wb`` is the loader's: ``EVENT`` appends its row (rows past the
    inputs and rows seen before in the bin are dropped), ``BIN`` / ``EOS`` close
    it (the engine sees it full ``1 + LOADER_STAGES`` cycles after its marker is taken, and
    the loader moves to the other buffer).  Buffer ``rb`` is the engine's (``rows``,
    :class:`~rramlsm.hw.interfaces.RowListSignature`): the engine appends recurrent rows
    to it and frees it after its step.  The free takes effect a cycle later (it is
    registered), but the engine sees the other buffer from the cycle after its free on.
    A closed buffer takes no input words until it is freed, so the loader runs at most
    one bin ahead.
    After ``EOS`` the loader waits (``halt``) until ``release`` (the sample's
    last output word).  ``take``: an input word is taken this cycle.
    """

    def __init__(self, params: CoreParams):
        self.params = p = params
        super().__init__({
            "inp": In(stream.Signature(IN_WORD)),
            "rows": In(RowListSignature(p.rows)),
            "take": Out(1),
            "release": In(1),
            "perf_events": Out(REG_BITS),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        I, LIST = p.inputs, p.rows
        # A list's read collides with its write only where the word read is discarded: in
        # REC the engine appends at the length while its address rests at 0 (no row is
        # issued), and the loader appends to its own buffer, whose word the mux below drops.
        lists = [Memory(shape=range(LIST), depth=LIST, init=[], attrs=NO_COLLISION_READS)
                 for _ in range(2)]
        for b, mem in enumerate(lists):
            m.submodules[f"list{b}"] = mem
        wports = [mem.write_port() for mem in lists]
        reads = [registered_read(m, mem, f"list{b}_read") for b, mem in enumerate(lists)]
        rports = [port for port, _ in reads]
        full = Array(Signal(name=f"full{b}") for b in range(2))
        eos = Array(Signal(name=f"eos{b}") for b in range(2))
        length = Array(Signal(range(LIST + 1), name=f"len{b}") for b in range(2))
        # One seen bitmap, of the bin being loaded: a closed bin's rows need no duplicate
        # check.  It is cleared as a bin's marker passes the second stage (every event of
        # that bin has set its bit by then, none of the next bin has); seen_buf says which
        # buffer's bin it holds, and a word of the other buffer (taken while the marker
        # before it is still in the stages) reads no bit from it.
        seen = Signal(I)
        seen_buf = Signal()
        wb = Signal()          # loader's buffer
        rb = Signal()          # engine's buffer
        halt = Signal()        # the loader waits after EOS until the sample is done
        rows = self.rows

        # The engine's free is registered before it clears the buffer (it comes from the
        # engine's FSM and reaches every seen bit, across the die): the buffer is cleared
        # and rb moves in the cycle after the free.  In that cycle the engine already sees
        # the buffer it will own (view), as it would if the free had taken effect at once;
        # it reads and appends to a list only from the cycle after that.
        free = Signal()
        m.d.sync += free.eq(rows.free)
        view = Signal()
        m.d.comb += view.eq(rb ^ free)
        # Both lists are read at the engine's address, each list's word is registered
        # beside its block RAM, and the word of rb is chosen after that (rb does not change
        # while a step reads its list).  A block RAM's output (5.8 ns on an ECP5 without
        # its output register) carried across the die to the engine's row register was
        # the 85F's longest path (docs/FPGA.md): a row arrives two cycles after its address.
        words = [Signal(range(LIST), name=f"list{b}_word", reset_less=True) for b in range(2)]
        m.d.sync += [w.eq(data) for w, (_, data) in zip(words, reads, strict=True)]
        m.d.comb += [rows.full.eq(full[view]), rows.eos.eq(eos[view]),
                     rows.length.eq(length[view]),
                     rports[0].addr.eq(rows.read.addr), rports[1].addr.eq(rows.read.addr),
                     rows.read.data.eq(Mux(rb, words[1], words[0]))]

        word = self.inp.payload
        # A buffer is closed from the cycle after its marker is taken until it is freed:
        # the marker is still in the loader's registers when the loader returns to the
        # buffer after the other one's marker, and full comes only when it is through.
        closed = [Signal(name=f"closed{b}") for b in range(2)]
        m.d.comb += self.inp.ready.eq(~halt & ~Mux(wb, closed[1], closed[0]))
        take = self.take
        m.d.comb += take.eq(self.inp.valid & self.inp.ready)
        with m.If(take & (word.kind == InKind.EVENT)):
            m.d.sync += self.perf_events.eq(self.perf_events + 1)
        with m.If(take & (word.kind == InKind.EOS)):
            m.d.sync += halt.eq(1)
        with m.If(self.release):
            m.d.sync += halt.eq(0)
        with m.If(take & (word.kind != InKind.EVENT)):
            m.d.sync += wb.eq(~wb)
        # A taken word goes into its list LOADER_STAGES cycles later, through two
        # registers: the input port's wires end at the first (the word and its buffer);
        # from it the duplicate check reads the row's seen bit, and its result goes to the
        # second (the list write, far from the seen bits, starts from a register).  The
        # buffer cannot change hands meanwhile: it
        # is not full until its marker has passed both stages (and closed to new words
        # from its marker on).
        pend = Signal(IN_WORD)
        pend_valid, pend_buf = Signal(), Signal()
        m.d.sync += [pend.eq(word), pend_valid.eq(take), pend_buf.eq(wb)]
        put = Signal(IN_WORD)
        put_valid, put_buf = Signal(), Signal()
        m.d.sync += [put.eq(pend), put_valid.eq(pend_valid), put_buf.eq(pend_buf)]
        new_row = Signal()
        # The row's seen bit is read in two levels, one per stage: as a word is taken, the
        # slice of 2**lo_bits bits around its row is registered with it (the I-way select
        # at the input word's high row bits); in the first register the row's bit is read
        # from that slice.  The slice misses the bits set at that edge and the next: the
        # word two ahead (in the second register, new) sets its bit at the first, so it is
        # folded into the slice; the word right ahead sets its bit at the second, so the
        # same row right behind it is found by comparing the two.
        idx_bits = max(1, (I - 1).bit_length())
        lo_bits = min(SEEN_SLICE_BITS, idx_bits)
        width = 1 << lo_bits
        n_slices = -(-I // width)

        def slices(bits):
            padded = Cat(bits, Const(0, n_slices * width - I))
            return Array(padded[k * width:(k + 1) * width] for k in range(n_slices))

        def hi(row):
            return row[lo_bits:idx_bits] if idx_bits > lo_bits else Const(0, 1)

        pend_slice = Signal(width)
        two_ahead = Signal(width)
        m.d.comb += two_ahead.eq(Mux(put_valid & new_row & (put_buf == wb)
                                     & (hi(put.row) == hi(word.row)),
                                     Const(1, width) << put.row[:lo_bits], 0))
        m.d.sync += pend_slice.eq(Mux(seen_buf == wb, slices(seen)[hi(word.row)], 0)
                                  | two_ahead)
        ahead = Signal()
        m.d.comb += ahead.eq(put_valid & (put.kind == InKind.EVENT) & (put_buf == pend_buf)
                             & (put.row == pend.row))
        m.d.sync += new_row.eq((pend.kind == InKind.EVENT) & (pend.row < I) & ~ahead
                               & ~pend_slice.bit_select(pend.row[:lo_bits], 1))

        # Each buffer: the loader fills it while not full, the engine owns it while full.
        # (Later statements take precedence: the engine's free and clear win over an append.)
        for b in range(2):
            load = put_valid & (put_buf == b)
            mine = rb == b
            with m.If(take & (wb == b) & (word.kind != InKind.EVENT)):
                m.d.sync += closed[b].eq(1)
            with m.If(load & new_row):
                m.d.sync += length[b].eq(length[b] + 1)
            with m.If(load & (put.kind == InKind.BIN)):
                m.d.sync += [full[b].eq(1), eos[b].eq(0)]
            with m.If(load & (put.kind == InKind.EOS)):
                m.d.sync += [full[b].eq(1), eos[b].eq(1)]
            with m.If(mine & rows.append.valid):
                m.d.sync += length[b].eq(length[b] + 1)
            with m.If(mine & rows.clear):
                m.d.sync += length[b].eq(0)
            with m.If(mine & free):
                m.d.sync += [full[b].eq(0), closed[b].eq(0), length[b].eq(0)]
            # One write port per list: the engine's appends while full, the loader's events
            # otherwise; the row goes to index length (the list grows by one the same cycle).
            m.d.comb += [
                wports[b].addr.eq(length[b]),
                wports[b].data.eq(Mux(full[b], rows.append.payload, put.row)),
                wports[b].en.eq(Mux(full[b], rows.append.valid & mine, load & new_row)),
            ]
        with m.If(put_valid & new_row):
            m.d.sync += seen.bit_select(put.row[:idx_bits], 1).eq(1)
        with m.If(put_valid & (put.kind != InKind.EVENT)):
            m.d.sync += [seen.eq(0), seen_buf.eq(~put_buf)]
        with m.If(free):
            m.d.sync += rb.eq(~rb)
        return m


class StepEngine(wiring.Component):
    """The time steps of one sample: crossbar passes, read noise, ADC and LIF update.

    Per step: ``REC`` appends the rows of the neurons that spiked at t-1 to the
    current row list (one cycle per spike, at least one per column group);
    ``ACCUM`` makes one pass per column group over the list (one cycle per row, one
    if none); ``DRAIN`` waits for the last group's spikes.  Then the next step
    (``WAIT`` for the loader's next bin, or ``REC`` directly for the no-input steps
    after EOS) or, after T steps, ``READOUT``: ``finished`` is high until ``restart``
    (the serializer's last word), when the engine clears the LIF bank for the next
    sample (``START``, ``CLEAR``).  ``cells``: the crossbar's write port; ``counts``:
    the LIF bank's count port.  ``sample_start``: high in ``START`` (the core's cycle
    counter restarts); ``idle``: waiting for a sample's first word.
    """

    def __init__(self, params: CoreParams, init=None):
        self.params = p = params
        self._init = init
        super().__init__({
            "rows": Out(RowListSignature(p.rows)),
            "cells": Out(Crossbar.prog_signature(p)),
            "counts": Out(LIFBank.counts_signature(p)),
            **_ENGINE_CONFIG,
            "counting": In(1),
            "idle": Out(1),
            "sample_start": Out(1),
            "finished": Out(1),
            "restart": In(1),
            "perf_spikes": Out(REG_BITS),
            "perf_dropped": Out(REG_BITS),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        G, P, I = p.groups, p.lanes, p.inputs
        GX, K = p.xgroups, p.fold       # crossbar passes per step; LIF groups per pass
        LIST = p.rows
        rows = self.rows
        m.submodules.xbar = xbar = Crossbar(p, self._init)
        m.submodules.adc = adc = ADC(p)
        m.submodules.lif = lif = LIFBank(p)
        wiring.connect(m, wiring.flipped(self.cells), xbar.prog)
        wiring.connect(m, wiring.flipped(self.counts), lif.counts)
        m.d.comb += [lif.decay_q.eq(self.decay_q), lif.threshold_q.eq(self.threshold_q),
                     adc.shift.eq(self.adc_shift)]

        t = Signal(contract.STEP_BITS)             # current step
        spk = Array(Signal(P, name=f"spk{g}") for g in range(G))
        g = Signal(range(G))
        rmask = Signal(P)
        # rmask has at most one spike left: REC's decision to move on, registered with
        # rmask (from the mask, where it reaches the group counter, the look-ahead masks
        # and the FSM, the compare would not fit the cycle).
        rmask_last = Signal()
        # The row REC appends, I + g * P + the index of rmask's lowest spike, is added from
        # two registers: rec_base (I + g * P, stepped with g) and rec_low (loaded with
        # rmask).  Computed from rmask in the cycle of the append, the priority encoder and
        # the adder before the route to the list's block RAM were the longest path of the
        # 85F with banks of 512 words and of a 25F seed (docs/FPGA.md).
        rec_base = Signal(range(LIST + P))
        rec_low = Signal(range(max(P, 2)))

        def load_rmask(mask):
            m.d.sync += [rmask.eq(mask), rmask_last.eq(_at_most_one_set(mask, P)),
                         rec_low.eq(_lowest_set(mask, P))]
        j = Signal(range(LIST + 1))
        # ACCUM's decisions from registers, not from the list's length: whether row j is
        # the group's last (lastrow) and whether the list is empty.  The length is the
        # loader's register behind the buffer mux; comparing it with j in the cycle that
        # steers j, g and the FSM was the 25F's critical path.  The length no longer
        # changes in ACCUM, and in REC's last cycle it changes only by that cycle's append,
        # so both are known a cycle ahead (lastrow for j = 0: at most one row).
        lastrow = Signal()
        empty = Signal()
        if K > 1:
            pc = Signal(range(K))       # cycles of the current pass so far (up to K - 1)
            pad = Signal()              # the pass's rows are issued; idle to its K-th cycle
        tail = Signal()                            # EOS seen: remaining steps have no input
        sample = Signal(contract.NOISE_KEY_BITS)   # samples since reset: read-noise index
        # Readout window of step t, win = t * W // T, kept as a remainder wacc = t * W - win * T
        # (0 <= wacc < T): each step adds W, and reaching T opens the next window.  No divider
        # and no window-length register: W is a build parameter, T the steps register.  wacc
        # is 0 exactly at a window's first step (W divides T), where the bank's counter
        # starts afresh.  Both change in end_of_step, after the step's last LIF write.
        windowed = p.windows > 1
        if windowed:
            win = Signal(range(p.windows))
            wacc = Signal(range((1 << contract.STEP_BITS) + p.windows))
            m.d.comb += [lif.upd_window.eq(win), lif.upd_fresh.eq(wacc == 0)]
        # The comparisons of the step counters with the steps register, registered (the
        # compare's carry chain and the FSM's decision on it do not fit one cycle): each is
        # the value of the cycle before, which is the current one wherever it is used.  t
        # and wacc change only in START and end_of_step, and are read at the earliest in
        # WAIT, two cycles after START, or in the next end_of_step, at least G + 13 cycles
        # later; past_end, which WAIT reads the cycle after end_of_step, is set there from
        # last_step (t + 1 >= steps is what t >= steps becomes).  The steps register is
        # written between samples: the loader's buffer is full at the earliest three
        # cycles after the first word, by then both follow it.
        past_end = Signal()    # t >= steps
        last_step = Signal()   # t + 1 >= steps: this step is the sample's last
        m.d.sync += [past_end.eq(t >= self.steps), last_step.eq(t + 1 >= self.steps)]
        if windowed:
            window_ends = Signal()   # wacc + W >= steps: this step ends its window
            m.d.sync += window_ends.eq(wacc + p.windows >= self.steps)
        if p.trace_shift is not None:
            # A window's last step, where the trace readout writes its samples: the next
            # step would open the next window (or end the sample).
            m.d.comb += lif.upd_last.eq(window_ends if windowed else last_step)

        # ACCUM issue register -> list read -> crossbar.
        iss = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "empty": 1,
                                        "group": range(GX)}))
        m.d.sync += iss.valid.eq(0)
        m.d.comb += rows.read.addr.eq(j)
        # The row read from the list (two cycles: the loader registers each list's word)
        # is registered again before it addresses the crossbar: the buffers' mux and the
        # address arithmetic after a route from the loader do not fit one cycle.
        iss2, iss3 = Signal.like(iss), Signal.like(iss)
        row3 = Signal.like(rows.read.data)
        m.d.sync += [iss2.eq(iss), iss3.eq(iss2), row3.eq(rows.read.data)]
        m.d.comb += [xbar.rd_valid.eq(iss3.valid), xbar.rd_first.eq(iss3.first),
                     xbar.rd_last.eq(iss3.last), xbar.rd_empty.eq(iss3.empty),
                     xbar.rd_group.eq(iss3.group), xbar.rd_row.eq(row3)]

        # Crossbar -> (noise) -> ADC -> LIF: P sums of one LIF group per cycle.  A crossbar
        # as wide as the LIF bank hands over its sums in the cycle of sum_valid.  A wider
        # one (K = Px / P) hands a pass's Px sums to a register that shifts them out P at a
        # time over the next K cycles, LIF groups group * K .. group * K + K - 1 (those
        # past the last group are padding and skipped); ACCUM makes every pass take at
        # least K cycles, so the register is free again when the next pass's sums come.
        if K == 1:
            sums, upd_valid, upd_group = xbar.sums, xbar.sum_valid, xbar.sum_group
        else:
            hold = Signal(data.ArrayLayout(signed(p.sum_bits), K * P))
            left = Signal(range(K))                # groups still to come after this one
            upd_valid = Signal()
            upd_group = Signal(range(GX * K))
            with m.If(xbar.sum_valid):
                m.d.sync += [hold.eq(xbar.sums), left.eq(K - 1), upd_valid.eq(1),
                             upd_group.eq(const_mul(xbar.sum_group, K))]
            with m.Elif(left != 0):
                m.d.sync += [hold[k].eq(hold[k + P]) for k in range((K - 1) * P)]
                m.d.sync += [left.eq(left - 1), upd_group.eq(upd_group + 1),
                             upd_valid.eq(upd_group + 1 < G)]
            with m.Else():
                m.d.sync += upd_valid.eq(0)
            sums = [hold[k] for k in range(P)]
        if p.noise:
            m.submodules.noise = noise = ReadNoise(p)
            m.d.comb += [noise.seed.eq(self.noise_seed), noise.sample.eq(sample),
                         noise.step.eq(t), noise.group.eq(upd_group),
                         noise.amplitude.eq(self.noise_amp)]
            for k in range(P):
                m.d.comb += adc.sums[k].eq(sums[k] + noise.noise[k])
        else:
            for k in range(P):
                m.d.comb += adc.sums[k].eq(sums[k])
        m.d.comb += [lif.upd_valid.eq(upd_valid), lif.upd_group.eq(upd_group),
                     lif.upd_codes.eq(adc.codes)]
        # The LIF bank's spikes come LIF_LATENCY cycles after the update; they are kept per
        # group for the next step's REC.
        last_spk = Signal()
        with m.If(lif.spk_valid):
            m.d.sync += spk[lif.spk_group].eq(lif.spk_mask)
            pop = sum(lif.spk_mask[k] for k in range(P))
            m.d.sync += self.perf_spikes.eq(self.perf_spikes + pop)
        m.d.comb += last_spk.eq(lif.spk_valid & (lif.spk_group == G - 1))

        # rmask without its lowest spike: a bit stays where a lower one is set (not
        # rmask & (rmask - 1), whose carry chain is slower).
        rest = Signal(P)
        m.d.comb += rest.eq(Cat(Const(0, 1), *(rmask[k] & rmask[:k].any() for k in range(1, P))))

        # REC's masks of the next two groups wait in registers (nxt, nxt2), and the one after
        # them is read from spk at a register index (ahead): moving on to the next group
        # takes a register, not a G-way mux on g and a decision after it.  Entering REC,
        # the first three are read at constant indices; after the last group's spikes of a
        # step (the no-input steps' direct way into REC) that group's mask is still on the
        # LIF bank's output.
        nxt, nxt2 = Signal(P), Signal(P)
        ahead = Signal(range(G + 3))

        def start_rec(fresh: bool):
            def mask(k):
                if k >= G:
                    return 0
                return lif.spk_mask if fresh and k == G - 1 else spk[k]
            load_rmask(mask(0))
            m.d.sync += [g.eq(0), rec_base.eq(I), nxt.eq(mask(1)), nxt2.eq(mask(2)),
                         ahead.eq(3)]

        def end_of_step():
            """After the last group's spikes: next step, or the readout."""
            m.d.sync += [t.eq(t + 1), past_end.eq(last_step)]
            if windowed:
                with m.If(window_ends):
                    m.d.sync += [wacc.eq(wacc + p.windows - self.steps), win.eq(win + 1)]
                with m.Else():
                    m.d.sync += wacc.eq(wacc + p.windows)
            with m.If(tail):
                with m.If(last_step):
                    m.d.comb += rows.free.eq(1)
                    m.next = "READOUT"
                with m.Else():
                    m.d.comb += rows.clear.eq(1)
                    # The last group's spikes are being registered this very cycle.
                    start_rec(fresh=True)
                    m.next = "REC"
            with m.Else():
                m.d.comb += rows.free.eq(1)
                m.next = "WAIT"

        with m.FSM(init="START"):
            with m.State("START"):
                m.d.comb += [lif.clear.eq(1), self.sample_start.eq(1)]
                m.d.sync += [t.eq(0), tail.eq(0)]
                if windowed:
                    m.d.sync += [win.eq(0), wacc.eq(0)]
                for gg in range(G):
                    m.d.sync += spk[gg].eq(0)
                m.next = "CLEAR"
            with m.State("CLEAR"):
                with m.If(~lif.busy):
                    m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += self.idle.eq(~rows.full & ~self.counting)
                with m.If(rows.full):
                    with m.If(past_end):
                        # Past T bins: the bin's rows are dropped (and counted).
                        m.d.sync += self.perf_dropped.eq(self.perf_dropped + rows.length)
                        m.d.comb += rows.free.eq(1)
                        with m.If(rows.eos):
                            m.next = "READOUT"
                    with m.Else():
                        m.d.sync += tail.eq(rows.eos)
                        start_rec(fresh=False)
                        m.next = "REC"
            with m.State("REC"):
                # The list as ACCUM will find it: this cycle's append included.
                n = rows.length
                m.d.sync += [lastrow.eq((n == 0) | ((n == 1) & ~rows.append.valid)),
                             empty.eq((n == 0) & ~rows.append.valid)]
                # One cycle per spiking neuron of step t-1, at least one per group.
                with m.If(rmask != 0):
                    m.d.comb += [rows.append.valid.eq(1),
                                 rows.append.payload.eq(rec_base + rec_low)]
                    load_rmask(rest)
                with m.If(rmask_last):
                    with m.If(g == G - 1):
                        m.d.sync += [g.eq(0), j.eq(0)]
                        m.next = "ACCUM"
                    with m.Else():
                        load_rmask(nxt)
                        m.d.sync += [g.eq(g + 1), rec_base.eq(rec_base + P), nxt.eq(nxt2),
                                     ahead.eq(ahead + 1)]
                        if G > 3:   # (past the last group the mask is never used)
                            m.d.sync += nxt2.eq(spk[ahead])
            with m.State("ACCUM"):
                # One list row per cycle: issued here, read from the list next cycle,
                # registered, then the crossbar (SUM_LATENCY cycles more to the sums).
                n = rows.length

                def next_pass():
                    with m.If(g == GX - 1):
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += g.eq(g + 1)

                def issue(then_next):
                    m.d.sync += [iss.valid.eq(1), iss.first.eq(j == 0), iss.last.eq(lastrow),
                                 iss.empty.eq(empty), iss.group.eq(g)]
                    with m.If(lastrow):
                        m.d.sync += [j.eq(0), lastrow.eq(n <= 1)]
                        then_next()
                    with m.Else():
                        m.d.sync += [j.eq(j + 1), lastrow.eq(j + 2 == n)]

                if K == 1:
                    issue(next_pass)
                else:
                    # A pass takes max(K, rows) cycles: after a list shorter than K, idle
                    # cycles (pad) until the pass's K-th.  pc counts the pass's cycles up to
                    # K - 1.
                    def after_last_row():
                        with m.If(pc == K - 1):
                            next_pass()
                            m.d.sync += pc.eq(0)
                        with m.Else():
                            m.d.sync += [pad.eq(1), pc.eq(pc + 1)]

                    with m.If(pad):
                        with m.If(pc == K - 1):
                            next_pass()
                            m.d.sync += [pad.eq(0), pc.eq(0)]
                        with m.Else():
                            m.d.sync += pc.eq(pc + 1)
                    with m.Else():
                        issue(after_last_row)
                        with m.If(~lastrow & (pc != K - 1)):
                            m.d.sync += pc.eq(pc + 1)
            with m.State("DRAIN"):
                with m.If(last_spk):
                    end_of_step()
            with m.State("READOUT"):
                # Head, classifier and output words run elsewhere; the first cycle here is
                # the one the serializer registers the head's start in.
                m.d.comb += self.finished.eq(1)
                with m.If(self.restart):
                    m.d.sync += sample.eq(sample + 1)
                    m.next = "START"
        return m


class ResultSerializer(wiring.Component):
    """After the steps: runs the head, then the classifier, then sends the result words.

    ``start`` (the engine's ``finished``) starts the head (``head``, a
    :class:`~rramlsm.hw.interfaces.TaskSignature`) the cycle after; the
    classifier follows the cycle after the head's ``done``, the label memory's
    word (addressed by the classifier's ``best``) is taken the cycle after its
    ``done`` (``LABEL``, where ``stop_count`` stops the cycle counter).  Then the
    output words: with ``dump``, each neuron's count (read through ``counts``
    while ``counts_sel``: address one cycle, word the next) and each embedding
    value (through ``emb`` while ``emb_sel``, likewise), then ``CLASS``, ``SCORE``
    and ``CYCLES`` (``last``).  ``done`` pulses when the last word is taken.  With
    readout windows the count dump is window-major: ``windows x neurons`` words, count
    ``w * neurons + j`` being neuron ``j``'s in window ``w`` (as the golden model's).
    """

    def __init__(self, params: CoreParams):
        self.params = p = params
        super().__init__({
            "start": In(1),
            "head": Out(TaskSignature()),
            "classifier": Out(TaskSignature()),
            "label": In(contract.LABEL_BITS),
            "score": In(signed(contract.ACC_BITS)),
            "counts": In(LIFBank.counts_signature(p)),
            "counts_sel": Out(1),
            "emb": In(ReadPort.Signature(addr_width=ceil_log2(p.dim),
                                              shape=signed(contract.ACT_BITS))),
            "emb_sel": Out(1),
            "dump": In(1),
            "cycles": In(REG_BITS),
            "stop_count": Out(1),
            "out": Out(stream.Signature(OUT_WORD)),
            "done": Out(1),
            "perf_cycles": Out(REG_BITS),
            "perf_samples": Out(REG_BITS),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        N, P = p.neurons, p.lanes
        G = p.groups
        out_kind = Signal(OutKind)
        out_data = Signal(REG_BITS)
        out_last = Signal()
        m.d.comb += [self.out.payload.kind.eq(out_kind), self.out.payload.data.eq(out_data),
                     self.out.payload.last.eq(out_last)]
        NW = p.head_inputs                         # counts dumped: windows x neurons
        di = Signal(range(max(NW, p.dim) + 1))     # dump index
        dgrp = Signal(range(G))
        dlane = Signal(range(P))
        windowed = p.windows > 1
        dwin = Signal(range(p.windows)) if windowed else None   # window of the dumped count
        m.d.comb += [self.counts.addr.eq(LIFBank.count_addr(p, dgrp, dwin)),
                     self.emb.addr.eq(di)]
        result = Signal(data.StructLayout({"label": contract.LABEL_BITS,
                                           "score": signed(contract.ACC_BITS)}))

        # The head's start is registered: the engine's `finished` (decoded from its state)
        # and the head's pass logic sit far apart, and the two in one cycle were the
        # 85F's longest path (docs/FPGA.md).  One cycle per sample.
        head_start = Signal()
        m.d.sync += head_start.eq(0)
        m.d.comb += self.head.start.eq(head_start)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += head_start.eq(1)
                    m.next = "HEAD_WAIT"
            with m.State("HEAD_WAIT"):
                with m.If(self.head.done):
                    m.next = "CLASSIFY"
            with m.State("CLASSIFY"):
                m.d.comb += self.classifier.start.eq(1)
                m.next = "CLASSIFY_WAIT"
            with m.State("CLASSIFY_WAIT"):
                with m.If(self.classifier.done):
                    m.next = "LABEL"
            with m.State("LABEL"):
                # The label memory was addressed by the classifier's best; its word lands now.
                m.d.comb += self.stop_count.eq(1)
                m.d.sync += [result.label.eq(self.label), result.score.eq(self.score),
                             di.eq(0), dgrp.eq(0), dlane.eq(0)]
                if windowed:
                    m.d.sync += dwin.eq(0)
                with m.If(self.dump):
                    m.next = "DUMP_COUNT_ADDR"
                with m.Else():
                    m.next = "SEND_CLASS"
            # Each dumped word takes two states: the address (the count / embedding port
            # is ours from here), then the word, held until taken.
            with m.State("DUMP_COUNT_ADDR"):
                m.d.comb += self.counts_sel.eq(1)
                m.next = "DUMP_COUNT"
            with m.State("DUMP_COUNT"):
                m.d.comb += [self.counts_sel.eq(1), self.out.valid.eq(1),
                             out_kind.eq(OutKind.COUNT), out_data.eq(self.counts.data[dlane])]
                with m.If(self.out.ready):
                    m.d.sync += di.eq(di + 1)
                    with m.If(dlane == P - 1):
                        m.d.sync += [dlane.eq(0), dgrp.eq(dgrp + 1)]
                    with m.Else():
                        m.d.sync += dlane.eq(dlane + 1)
                    if windowed:
                        # Window-major: after a window's last neuron, the next window's first.
                        with m.If((dgrp == G - 1) & (dlane == N - 1 - (G - 1) * P)):
                            m.d.sync += [dlane.eq(0), dgrp.eq(0), dwin.eq(dwin + 1)]
                    with m.If(di == NW - 1):
                        m.d.sync += di.eq(0)
                        m.next = "DUMP_EMBED_ADDR"
                    with m.Else():
                        m.next = "DUMP_COUNT_ADDR"
            with m.State("DUMP_EMBED_ADDR"):
                m.d.comb += self.emb_sel.eq(1)
                m.next = "DUMP_EMBED"
            with m.State("DUMP_EMBED"):
                m.d.comb += [self.emb_sel.eq(1), self.out.valid.eq(1), out_kind.eq(OutKind.EMBED),
                             out_data.eq(self.emb.data.as_signed())]
                with m.If(self.out.ready):
                    m.d.sync += di.eq(di + 1)
                    with m.If(di == p.dim - 1):
                        m.next = "SEND_CLASS"
                    with m.Else():
                        m.next = "DUMP_EMBED_ADDR"
            with m.State("SEND_CLASS"):
                m.d.comb += [self.out.valid.eq(1), out_kind.eq(OutKind.CLASS),
                             out_data.eq(result.label)]
                with m.If(self.out.ready):
                    m.next = "SEND_SCORE"
            with m.State("SEND_SCORE"):
                m.d.comb += [self.out.valid.eq(1), out_kind.eq(OutKind.SCORE),
                             out_data.eq(result.score)]
                with m.If(self.out.ready):
                    m.next = "SEND_CYCLES"
            with m.State("SEND_CYCLES"):
                m.d.comb += [self.out.valid.eq(1), out_kind.eq(OutKind.CYCLES),
                             out_data.eq(self.cycles), out_last.eq(1)]
                with m.If(self.out.ready):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += [self.perf_samples.eq(self.perf_samples + 1),
                                 self.perf_cycles.eq(self.cycles)]
                    m.next = "IDLE"
        return m


class LSMCore(wiring.Component):
    """One modality's macro.  ``init``: memory contents (see :mod:`rramlsm.hw.program`).

    Composed of a :class:`ProgDecoder`, a :class:`RowLoader`, a :class:`StepEngine`
    (crossbar, noise, ADC, LIF bank), the :class:`~rramlsm.hw.head.Head`, the
    :class:`~rramlsm.hw.head.Classifier`, the label memory and a
    :class:`ResultSerializer`.  ``prog``: programming writes
    (:class:`~rramlsm.hw.interfaces.ProgSignature`, :meth:`prog_width` bits of data).
    """

    def __init__(self, params: CoreParams, init: dict | None = None):
        self.params = p = params
        self._init = init or {}
        super().__init__({
            "inp": In(stream.Signature(IN_WORD)),
            "out": Out(stream.Signature(OUT_WORD)),
            "abort": In(1),
            # Configuration.
            **_ENGINE_CONFIG,
            "head_shift": In(range(contract.ACC_BITS)),
            "dump": In(1),
            # Programming path.
            "prog": In(ProgSignature(self.prog_width(p))),
            # Status and performance counters.
            "idle": Out(1),
            "perf_cycles": Out(REG_BITS),
            "perf_events": Out(REG_BITS),
            "perf_spikes": Out(REG_BITS),
            "perf_dropped": Out(REG_BITS),
            "perf_samples": Out(REG_BITS),
        })

    @staticmethod
    def prog_width(p: CoreParams) -> int:
        """Width of the widest memory word the programming path writes."""
        return max(p.xlanes * p.weight_bits, p.head_lanes * contract.ACC_BITS,
                   p.classes * contract.ACT_BITS, contract.ACT_BITS)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.loader = loader = RowLoader(p)
        m.submodules.engine = engine = StepEngine(p, self._init.get("crossbar"))
        m.submodules.head = head = Head(p, self._init.get("head"))
        m.submodules.cls = cls = Classifier(p, self._init.get("prototypes"))
        m.submodules.lmem = lmem = Memory(shape=contract.LABEL_BITS, depth=p.classes,
                                          init=self._init.get("labels", []))
        m.submodules.serializer = ser = ResultSerializer(p)
        lab_wr, lab_rd = lmem.write_port(), lmem.read_port()

        # Programming path: one target memory per write, written in the cycle of the write.
        m.submodules.prog = prog = ProgDecoder(self.prog_width(p), {
            ProgTarget.CROSSBAR: engine.cells.signature,
            ProgTarget.HEAD_WEIGHT: head.weight.signature,
            ProgTarget.HEAD_BIAS: head.bias.signature, ProgTarget.GELU_LUT: head.lut.signature,
            ProgTarget.PROTOTYPES: cls.prototypes.signature, ProgTarget.LABELS: lab_wr.signature})
        wiring.connect(m, wiring.flipped(self.prog), prog.prog)
        wiring.connect(m, prog.crossbar, engine.cells)
        wiring.connect(m, prog.head_weight, head.weight)
        wiring.connect(m, prog.head_bias, head.bias)
        wiring.connect(m, prog.gelu_lut, head.lut)
        wiring.connect(m, prog.prototypes, cls.prototypes)
        wiring.connect(m, prog.labels, lab_wr)

        # Input words -> loader -> row lists <- engine.
        wiring.connect(m, wiring.flipped(self.inp), loader.inp)
        wiring.connect(m, loader.rows, engine.rows)
        m.d.comb += [getattr(engine, name).eq(getattr(self, name)) for name in _ENGINE_CONFIG]
        m.d.comb += [head.shift.eq(self.head_shift), ser.dump.eq(self.dump)]

        # Readout: the serializer sequences head and classifier once the engine is done,
        # then sends the result; its last word restarts the engine and releases the loader.
        wiring.connect(m, ser.head, head.ctrl)
        wiring.connect(m, ser.classifier, cls.ctrl)
        wiring.connect(m, wiring.flipped(self.out), ser.out)
        m.d.comb += [ser.start.eq(engine.finished), engine.restart.eq(ser.done),
                     loader.release.eq(ser.done),
                     lab_rd.addr.eq(cls.best), ser.label.eq(lab_rd.data), ser.score.eq(cls.score)]
        # The LIF bank's count port serves the head, and the serializer while it dumps; the
        # embedding's read port serves the classifier, and the serializer while it dumps.
        m.d.comb += [engine.counts.addr.eq(Mux(ser.counts_sel, ser.counts.addr,
                                               head.counts.addr)),
                     head.counts.data.eq(engine.counts.data),
                     ser.counts.data.eq(engine.counts.data),
                     head.emb.addr.eq(Mux(ser.emb_sel, ser.emb.addr, cls.emb.addr)),
                     cls.emb.data.eq(head.emb.data), ser.emb.data.eq(head.emb.data)]

        # A sample's cycles count from its first input word (waiting for the host is not
        # the core's time) to LABEL, where the result is ready; START clears the count.
        cycles = Signal(REG_BITS)
        counting = Signal()
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(loader.take):
            m.d.sync += counting.eq(1)
        with m.If(engine.sample_start):
            m.d.sync += cycles.eq(0)
        with m.If(ser.stop_count):
            m.d.sync += counting.eq(0)
        m.d.comb += [ser.cycles.eq(cycles), engine.counting.eq(counting),
                     self.idle.eq(engine.idle),
                     self.perf_cycles.eq(ser.perf_cycles), self.perf_events.eq(loader.perf_events),
                     self.perf_spikes.eq(engine.perf_spikes),
                     self.perf_dropped.eq(engine.perf_dropped),
                     self.perf_samples.eq(ser.perf_samples)]

        # Abort resets every register of the core (FSMs, buffers, counters) but
        # neither the memories (weights, prototypes) nor the configuration inputs.
        return ResetInserter(self.abort)(m)
