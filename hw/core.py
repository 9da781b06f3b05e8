"""One macro core: the controller that runs a sample through crossbar, ADC, LIF, head, classifier.

Input stream (:data:`IN_WORD`): address events of one sample, time bin by
time bin::

    EVENT(row) ... BIN   EVENT(row) ... BIN   ...   EOS

``EVENT`` marks input row ``row`` active in the current bin (duplicates are
ignored, so raw events may be sent); ``BIN`` closes the bin; ``EOS`` closes the
sample (and the current bin, if fewer than T bins were closed; the remaining
steps then run with no input).  Events after the T-th ``BIN`` are dropped and
counted (``perf_dropped``).

Output stream (:data:`OUT_WORD`), per sample: with ``dump``, ``COUNT`` x N
then ``EMBED`` x dim; always ``CLASS`` (the class label), ``SCORE`` and
``CYCLES`` (with ``last``).

Two processes share a double-buffered active-row list: the **loader** writes
the rows of bin t+1 while the **engine** runs step t.  Per step the engine
appends the rows of the neurons that spiked at t-1 (``REC``: one cycle per
spike, at least one per column group), then makes one pass per column group
over the list (``ACCUM``: one cycle per active row, or one if none), with the
ADC and the LIF update of each group pipelined behind the next pass.
:func:`rramlsm.hw.cycles.predict` is the cycle model of exactly this.
"""

from __future__ import annotations

from amaranth import Array, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rramlsm.hw.crossbar import Crossbar
from rramlsm.hw.head import Classifier, Head
from rramlsm.hw.params import CoreParams
from rramlsm.hw.periphery import ADC, NOISE_AMP_BITS, LIFBank, ReadNoise, const_mul
from rramlsm.sw import contract

__all__ = ["InKind", "OutKind", "ProgTarget", "IN_WORD", "OUT_WORD", "LSMCore", "PROG_ADDR_BITS"]


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


class ProgTarget(enum.Enum, shape=3):
    """Which memory a programming write goes to."""

    CROSSBAR = 0
    HEAD_WEIGHT = 1
    HEAD_BIAS = 2
    GELU_LUT = 3
    PROTOTYPES = 4
    LABELS = 5


IN_WORD = data.StructLayout({"row": 16, "kind": InKind})
OUT_WORD = data.StructLayout({"data": 32, "kind": OutKind, "last": 1})
PROG_ADDR_BITS = 16


def _popcount_free_lowest(m: Module, value, width: int, name: str):
    """Index of the lowest set bit of ``value`` (combinational priority encoder)."""
    idx = Signal(range(max(width, 2)), name=name)
    for k in reversed(range(width)):
        with m.If(value[k]):
            m.d.comb += idx.eq(k)
    return idx


class LSMCore(wiring.Component):
    """One modality's macro.  ``init``: memory contents (see :mod:`rramlsm.hw.program`)."""

    def __init__(self, params: CoreParams, init: dict | None = None):
        self.params = p = params
        self._init = init or {}
        prog_width = self.prog_width(p)
        super().__init__({
            "inp": In(stream.Signature(IN_WORD)),
            "out": Out(stream.Signature(OUT_WORD)),
            "abort": In(1),
            # Configuration.
            "steps": In(8),
            "decay_q": In(contract.DECAY_FRAC_BITS),
            "threshold_q": In(signed(contract.MEMBRANE_BITS)),
            "adc_shift": In(range(contract.COLUMN_SUM_BITS + 1)),
            "head_shift": In(range(contract.ACC_BITS)),
            "noise_amp": In(NOISE_AMP_BITS),
            "noise_seed": In(32),
            "dump": In(1),
            # Programming path.
            "prog_en": In(1),
            "prog_target": In(ProgTarget),
            "prog_addr": In(PROG_ADDR_BITS),
            "prog_data": In(prog_width),
            # Status and performance counters.
            "idle": Out(1),
            "perf_cycles": Out(32),
            "perf_events": Out(32),
            "perf_spikes": Out(32),
            "perf_dropped": Out(32),
            "perf_samples": Out(32),
        })

    @staticmethod
    def prog_width(p: CoreParams) -> int:
        """Width of the widest memory word the programming path writes."""
        return max(p.lanes * 9, p.head_lanes * contract.ACC_BITS, p.classes * 8, 8)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        G, P, I, N = p.groups, p.lanes, p.inputs, p.neurons
        LIST = I + N
        m.submodules.xbar = xbar = Crossbar(p, self._init.get("crossbar"))
        m.submodules.adc = adc = ADC(p)
        m.submodules.lif = lif = LIFBank(p)
        m.submodules.head = head = Head(p, self._init.get("head"))
        m.submodules.cls = cls = Classifier(p, self._init.get("prototypes"))
        m.submodules.lmem = lmem = Memory(shape=8, depth=p.classes,
                                          init=self._init.get("labels", []))
        lab_wr, lab_rd = lmem.write_port(), lmem.read_port()

        # -- Programming path: one target memory per write.
        t_ = self.prog_target
        en = self.prog_en
        m.d.comb += [
            xbar.prog_en.eq(en & (t_ == ProgTarget.CROSSBAR)),
            xbar.prog_addr.eq(self.prog_addr), xbar.prog_data.eq(self.prog_data),
            head.w_en.eq(en & (t_ == ProgTarget.HEAD_WEIGHT)),
            head.w_addr.eq(self.prog_addr), head.w_data.eq(self.prog_data),
            head.b_en.eq(en & (t_ == ProgTarget.HEAD_BIAS)),
            head.b_addr.eq(self.prog_addr), head.b_data.eq(self.prog_data),
            head.lut_en.eq(en & (t_ == ProgTarget.GELU_LUT)),
            head.lut_addr.eq(self.prog_addr), head.lut_data.eq(self.prog_data),
            cls.p_en.eq(en & (t_ == ProgTarget.PROTOTYPES)),
            cls.p_addr.eq(self.prog_addr), cls.p_data.eq(self.prog_data),
            lab_wr.en.eq(en & (t_ == ProgTarget.LABELS)),
            lab_wr.addr.eq(self.prog_addr), lab_wr.data.eq(self.prog_data),
        ]
        m.d.comb += [lif.decay_q.eq(self.decay_q), lif.threshold_q.eq(self.threshold_q),
                     adc.shift.eq(self.adc_shift), head.shift.eq(self.head_shift),
                     cls.emb_data.eq(head.emb_data), lab_rd.addr.eq(cls.best)]

        # -- Double-buffered active-row lists.
        lists = [Memory(shape=range(LIST), depth=LIST, init=[]) for _ in range(2)]
        for b, mem in enumerate(lists):
            m.submodules[f"list{b}"] = mem
        wports = [mem.write_port() for mem in lists]
        rports = [mem.read_port() for mem in lists]
        full = Array(Signal(name=f"full{b}") for b in range(2))
        eos = Array(Signal(name=f"eos{b}") for b in range(2))
        length = Array(Signal(range(LIST + 1), name=f"len{b}") for b in range(2))
        seen = [Signal(I, name=f"seen{b}") for b in range(2)]
        wb = Signal()          # loader's buffer
        rb = Signal()          # engine's buffer
        halt = Signal()        # the loader waits after EOS until the sample is done
        free_rb = Signal()     # engine releases buffer rb this cycle
        zero_rb = Signal()     # engine empties buffer rb (no-input steps after EOS)
        rec_we = Signal()
        rec_row = Signal(range(LIST))

        # -- Loader.
        word = self.inp.payload
        m.d.comb += self.inp.ready.eq(~halt & ~full[wb])
        take = self.inp.valid & self.inp.ready
        row_idx = word.row[: max(1, (I - 1).bit_length())]
        ev_ok = Signal()
        m.d.comb += ev_ok.eq((word.kind == InKind.EVENT) & (word.row < I)
                             & ~Mux(wb, seen[1], seen[0]).bit_select(row_idx, 1))
        with m.If(take & (word.kind == InKind.EVENT)):
            m.d.sync += self.perf_events.eq(self.perf_events + 1)
        with m.If(take & (word.kind == InKind.EOS)):
            m.d.sync += halt.eq(1)
        with m.If(take & (word.kind != InKind.EVENT)):
            m.d.sync += wb.eq(~wb)

        # Each buffer: the loader fills it while not full, the engine owns it while full.
        for b in range(2):
            load = take & (wb == b)
            mine = rb == b
            with m.If(load & ev_ok):
                m.d.sync += [length[b].eq(length[b] + 1), seen[b].bit_select(row_idx, 1).eq(1)]
            with m.If(load & (word.kind == InKind.BIN)):
                m.d.sync += [full[b].eq(1), eos[b].eq(0)]
            with m.If(load & (word.kind == InKind.EOS)):
                m.d.sync += [full[b].eq(1), eos[b].eq(1)]
            with m.If(mine & rec_we):
                m.d.sync += length[b].eq(length[b] + 1)
            with m.If(mine & zero_rb):
                m.d.sync += length[b].eq(0)
            with m.If(mine & free_rb):
                m.d.sync += [full[b].eq(0), length[b].eq(0), seen[b].eq(0)]
            m.d.comb += [
                wports[b].addr.eq(length[b]),
                wports[b].data.eq(Mux(full[b], rec_row, word.row)),
                wports[b].en.eq(Mux(full[b], rec_we & mine, load & ev_ok)),
            ]

        # -- Engine.
        t = Signal(8)                              # current step
        spk = Array(Signal(P, name=f"spk{g}") for g in range(G))
        g = Signal(range(G))
        rmask = Signal(P)
        j = Signal(range(LIST + 1))
        tail = Signal()                            # EOS seen: remaining steps have no input
        cycles = Signal(32)
        sample = Signal(32)
        counting = Signal()
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        # A sample's cycles count from its first input word (waiting for the host is not
        # the core's time); the count stops when the result is ready.
        with m.If(take):
            m.d.sync += counting.eq(1)

        # ACCUM issue register -> list read -> crossbar.
        iss = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "empty": 1,
                                        "group": range(G)}))
        m.d.sync += iss.valid.eq(0)
        m.d.comb += [rports[0].addr.eq(j), rports[1].addr.eq(j)]
        # The row read from the list is registered before it addresses the crossbar: a
        # block RAM's output plus the address arithmetic do not fit one cycle.
        iss2 = Signal.like(iss)
        row2 = Signal.like(rports[0].data)
        m.d.sync += [iss2.eq(iss), row2.eq(Mux(rb, rports[1].data, rports[0].data))]
        m.d.comb += [xbar.rd_valid.eq(iss2.valid), xbar.rd_first.eq(iss2.first),
                     xbar.rd_last.eq(iss2.last), xbar.rd_empty.eq(iss2.empty),
                     xbar.rd_group.eq(iss2.group), xbar.rd_row.eq(row2)]

        # Crossbar -> (noise) -> ADC -> LIF, all in the same cycle as sum_valid.
        if p.noise:
            m.submodules.noise = noise = ReadNoise(p)
            m.d.comb += [noise.seed.eq(self.noise_seed), noise.sample.eq(sample),
                         noise.step.eq(t), noise.group.eq(xbar.sum_group),
                         noise.amplitude.eq(self.noise_amp)]
            for k in range(P):
                m.d.comb += adc.sums[k].eq(xbar.sums[k] + noise.noise[k])
        else:
            for k in range(P):
                m.d.comb += adc.sums[k].eq(xbar.sums[k])
        m.d.comb += [lif.upd_valid.eq(xbar.sum_valid), lif.upd_group.eq(xbar.sum_group),
                     lif.upd_codes.eq(adc.codes)]
        last_spk = Signal()
        with m.If(lif.spk_valid):
            m.d.sync += spk[lif.spk_group].eq(lif.spk_mask)
            pop = sum(lif.spk_mask[k] for k in range(P))
            m.d.sync += self.perf_spikes.eq(self.perf_spikes + pop)
        m.d.comb += last_spk.eq(lif.spk_valid & (lif.spk_group == G - 1))

        # Output words.
        out_kind = Signal(OutKind)
        out_data = Signal(32)
        out_last = Signal()
        m.d.comb += [self.out.payload.kind.eq(out_kind), self.out.payload.data.eq(out_data),
                     self.out.payload.last.eq(out_last)]
        di = Signal(range(max(N, p.dim) + 1))      # dump index
        dgrp = Signal(range(G))
        dlane = Signal(range(P))
        cnt_sel = Signal()                         # core (dump) drives the count port
        m.d.comb += lif.cnt_addr.eq(Mux(cnt_sel, dgrp, head.cnt_addr))
        m.d.comb += head.cnt_data.eq(lif.cnt_data)
        emb_sel = Signal()
        m.d.comb += head.emb_addr.eq(Mux(emb_sel, di, cls.emb_addr))
        result = Signal(data.StructLayout({"label": 8, "score": signed(32)}))

        lowest = _popcount_free_lowest(m, rmask, P, "lowest")
        rest = Signal(P)
        m.d.comb += rest.eq(rmask & (rmask - 1))

        def end_of_step():
            """After the last group's spikes: next step, or the head."""
            m.d.sync += t.eq(t + 1)
            with m.If(tail):
                with m.If(t + 1 >= self.steps):
                    m.d.comb += free_rb.eq(1)
                    m.next = "HEAD"
                with m.Else():
                    m.d.comb += zero_rb.eq(1)
                    # With one group, its spikes are being registered this very cycle.
                    first = lif.spk_mask if G == 1 else spk[0]
                    m.d.sync += [g.eq(0), rmask.eq(first)]
                    m.next = "REC"
            with m.Else():
                m.d.comb += free_rb.eq(1)
                m.next = "WAIT"

        with m.FSM(init="START"):
            with m.State("START"):
                m.d.comb += lif.clear.eq(1)
                m.d.sync += [t.eq(0), tail.eq(0), cycles.eq(0)]
                for gg in range(G):
                    m.d.sync += spk[gg].eq(0)
                m.next = "CLEAR"
            with m.State("CLEAR"):
                with m.If(~lif.busy):
                    m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += self.idle.eq(~full[rb] & ~counting)
                with m.If(full[rb]):
                    with m.If(t >= self.steps):
                        # Past T bins: the bin's rows are dropped (and counted).
                        m.d.sync += self.perf_dropped.eq(self.perf_dropped + length[rb])
                        m.d.comb += free_rb.eq(1)
                        with m.If(eos[rb]):
                            m.next = "HEAD"
                    with m.Else():
                        m.d.sync += [g.eq(0), rmask.eq(spk[0]), tail.eq(eos[rb])]
                        m.next = "REC"
            with m.State("REC"):
                # One cycle per spiking neuron of step t-1, at least one per group.
                with m.If(rmask != 0):
                    m.d.comb += [rec_we.eq(1), rec_row.eq(I + const_mul(g, P) + lowest)]
                    m.d.sync += rmask.eq(rest)
                with m.If(rest == 0):
                    with m.If(g == G - 1):
                        m.d.sync += [g.eq(0), j.eq(0)]
                        m.next = "ACCUM"
                    with m.Else():
                        m.d.sync += [g.eq(g + 1), rmask.eq(spk[g + 1])]
            with m.State("ACCUM"):
                n = length[rb]
                empty = n == 0
                lastrow = empty | (j == n - 1)
                m.d.sync += [iss.valid.eq(1), iss.first.eq(j == 0), iss.last.eq(lastrow),
                             iss.empty.eq(empty), iss.group.eq(g)]
                with m.If(lastrow):
                    m.d.sync += j.eq(0)
                    with m.If(g == G - 1):
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += g.eq(g + 1)
                with m.Else():
                    m.d.sync += j.eq(j + 1)
            with m.State("DRAIN"):
                with m.If(last_spk):
                    end_of_step()
            with m.State("HEAD"):
                m.d.comb += head.start.eq(1)
                m.next = "HEAD_WAIT"
            with m.State("HEAD_WAIT"):
                with m.If(head.done):
                    m.next = "CLASSIFY"
            with m.State("CLASSIFY"):
                m.d.comb += cls.start.eq(1)
                m.next = "CLASSIFY_WAIT"
            with m.State("CLASSIFY_WAIT"):
                with m.If(cls.done):
                    m.next = "LABEL"
            with m.State("LABEL"):
                # The label memory was addressed by cls.best; its word lands now.
                m.d.sync += [result.label.eq(lab_rd.data), result.score.eq(cls.score),
                             counting.eq(0), di.eq(0), dgrp.eq(0), dlane.eq(0)]
                with m.If(self.dump):
                    m.next = "DUMP_COUNT_ADDR"
                with m.Else():
                    m.next = "SEND_CLASS"
            with m.State("DUMP_COUNT_ADDR"):
                m.d.comb += cnt_sel.eq(1)
                m.next = "DUMP_COUNT"
            with m.State("DUMP_COUNT"):
                m.d.comb += [cnt_sel.eq(1), self.out.valid.eq(1), out_kind.eq(OutKind.COUNT),
                             out_data.eq(lif.cnt_data[dlane])]
                with m.If(self.out.ready):
                    m.d.sync += di.eq(di + 1)
                    with m.If(dlane == P - 1):
                        m.d.sync += [dlane.eq(0), dgrp.eq(dgrp + 1)]
                    with m.Else():
                        m.d.sync += dlane.eq(dlane + 1)
                    with m.If(di == N - 1):
                        m.d.sync += di.eq(0)
                        m.next = "DUMP_EMBED_ADDR"
                    with m.Else():
                        m.next = "DUMP_COUNT_ADDR"
            with m.State("DUMP_EMBED_ADDR"):
                m.d.comb += emb_sel.eq(1)
                m.next = "DUMP_EMBED"
            with m.State("DUMP_EMBED"):
                m.d.comb += [emb_sel.eq(1), self.out.valid.eq(1), out_kind.eq(OutKind.EMBED),
                             out_data.eq(head.emb_data.as_signed())]
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
                             out_data.eq(cycles), out_last.eq(1)]
                with m.If(self.out.ready):
                    m.d.sync += [self.perf_samples.eq(self.perf_samples + 1),
                                 self.perf_cycles.eq(cycles), sample.eq(sample + 1),
                                 halt.eq(0)]
                    m.next = "START"

        with m.If(free_rb):
            m.d.sync += rb.eq(~rb)

        # Abort resets every register of the core (FSMs, buffers, counters) but
        # neither the memories (weights, prototypes) nor the configuration inputs.
        return ResetInserter(self.abort)(m)
