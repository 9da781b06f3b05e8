"""The digital head and classifier: spike counts -> int8 embedding -> class.

:class:`Head` computes ``e = lut[requantize(counts @ W + b, shift)]``
(:class:`rramlsm.sw.heads.IntegerLayer`) with L output lanes: for each block
of L outputs it streams the W x N spike counts (W readout windows) past L
multiply-accumulators, then
requantises and looks up the GELU one output per cycle.  :class:`Classifier`
takes the dot product of the embedding with every class prototype at once
(one dimension per cycle) and then picks the highest score, ties to the
lowest row, as :func:`rramlsm.sw.contract.argmax_first`.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from rramlsm.hw.dsp import MUL_STAGES, PipelinedMultiplier
from rramlsm.hw.interfaces import TaskSignature
from rramlsm.hw.memories import NO_COLLISION_READS, registered_read
from rramlsm.hw.params import CoreParams
from rramlsm.hw.periphery import LIFBank, const_mul
from rramlsm.sw import contract

__all__ = ["Head", "Classifier", "ACC", "MAC_STAGES", "HEAD_MAC_STAGES", "LUT_STAGES",
           "SCAN_STAGES"]

#: Pipeline registers between a block RAM read and its accumulator, in the head's MAC and
#: the classifier's dot product: the operands as read (in the fabric), then the
#: multiplier's own operand and product registers (inside the DSP block on an ECP5,
#: :class:`~rramlsm.hw.dsp.PipelinedMultiplier`).
MAC_STAGES = 1 + MUL_STAGES
#: The head's MAC has one more: its weight word and count are registered as read, in
#: flip-flops without reset or enable, so that they can sit near the block RAM (an ECP5
#: DP16KD's output takes 5.8 ns without its output register, which Yosys does not use;
#: the 25F's critical path was that output carried across the die to the operand
#: register); the operand register then has a cycle to reach the multipliers.  (Where
#: Yosys splits the memory in depth, its mux still sits before this register.)
HEAD_MAC_STAGES = MAC_STAGES + 1
#: Extra pipeline registers of the head's lookup phase (acc lane, rounded sum, shifted
#: sum, requantised index).
LUT_STAGES = 4

#: Pipeline registers of the classifier's scan (the candidate score), per pass.
SCAN_STAGES = 1

ACC = signed(contract.ACC_BITS)
_ACT = signed(contract.ACT_BITS)


def _delayed(m: Module, valid: Signal, first: Signal, stages: int, name: str):
    """``valid`` and ``first`` delayed by ``stages`` registers: the flags that travel beside
    a multiplier's operands until its product comes out."""
    for k in range(stages):
        v, f = Signal(name=f"{name}_valid{k}"), Signal(name=f"{name}_first{k}")
        m.d.sync += [v.eq(valid), f.eq(first)]
        valid, first = v, f
    return valid, first


def _wait_state(m: Module, name: str, counter: Signal, cycles: int, then: str, on_exit=()):
    """FSM state ``name`` that stays ``cycles + 1`` cycles (``counter`` counts them and is
    zero again on leaving), then goes to ``then`` with the statements ``on_exit``."""
    with m.State(name):
        with m.If(counter == cycles):
            m.d.sync += [counter.eq(0), *on_exit]
            m.next = then
        with m.Else():
            m.d.sync += counter.eq(counter + 1)


class Head(wiring.Component):
    """One ``Linear + GELU`` layer on the LIF bank's spike counts.

    The inputs are the ``windows x neurons`` counts of the LIF bank's counter bank,
    window-major (input ``w * N + j``: neuron ``j`` in window ``w``; weight row likewise).
    ``ctrl`` (:class:`~rramlsm.hw.interfaces.TaskSignature`): ``start`` begins a pass,
    ``busy`` until done, ``done`` pulses at the end.  The counts are read through
    ``counts`` (the LIF bank's count port, one cycle latency).  ``emb`` reads the
    embedding (one cycle latency).  ``weight``, ``bias``, ``lut``: the write ports of
    the three memories (programming path).  Cycles per pass:
    ``blocks * (W * N + L + 3 + HEAD_MAC_STAGES + LUT_STAGES)``.
    """

    def __init__(self, params: CoreParams, init: dict | None = None):
        self.params = p = params
        self._init = init or {}
        super().__init__({
            "weight": Out(WritePort.Signature(addr_width=ceil_log2(p.head_inputs * p.head_blocks),
                                              shape=self._weight_layout(p).size)),
            "bias": Out(WritePort.Signature(addr_width=ceil_log2(self._bias_depth(p)),
                                            shape=self._bias_layout(p).size)),
            "lut": Out(WritePort.Signature(addr_width=contract.ACT_BITS,
                                           shape=contract.ACT_BITS)),
            "shift": In(range(contract.ACC_BITS)),
            "ctrl": In(TaskSignature()),
            "counts": In(LIFBank.counts_signature(p)),
            "emb": Out(ReadPort.Signature(addr_width=ceil_log2(p.dim), shape=_ACT)),
        })

    @staticmethod
    def _weight_layout(p: CoreParams):
        return data.ArrayLayout(signed(contract.HEAD_WEIGHT_BITS), p.head_lanes)

    @staticmethod
    def _bias_layout(p: CoreParams):
        return data.ArrayLayout(ACC, p.head_lanes)

    @staticmethod
    def _bias_depth(p: CoreParams) -> int:
        # At least two words: one block would make the bias address (and the block index)
        # zero bits wide, which the Verilog backend writes as a [-1:0] vector that lint
        # rejects.  The second word is never read.
        return max(p.head_blocks, 2)

    def elaborate(self, platform):
        p = self.params
        L, B = p.head_lanes, p.head_blocks
        m = Module()
        wl, bl = self._weight_layout(p), self._bias_layout(p)
        # Memories hold plain words (initialisable from packed integers); views give lanes.
        m.submodules.wmem = wmem = Memory(shape=wl.size, depth=p.head_inputs * B,
                                          init=self._init.get("weight", []),
                                          attrs={"ram_style": "block", **NO_COLLISION_READS})
        m.submodules.bmem = bmem = Memory(shape=bl.size, depth=self._bias_depth(p),
                                          init=self._init.get("bias", []))
        m.submodules.lut = lut = Memory(shape=contract.ACT_BITS, depth=1 << contract.ACT_BITS,
                                        init=self._init.get("lut", []), attrs=NO_COLLISION_READS)
        m.submodules.emem = emem = Memory(shape=_ACT, depth=p.dim, init=[])
        # Memory ports wired by hand, write port first (see Crossbar).
        # The weight word's and the GELU value's first registers are their block RAMs' own
        # (hw.memories: both memories are written only by programming).
        w_wr = wmem.write_port()
        w_rd, w_word = registered_read(m, wmem, "weight_read")
        b_wr, b_rd = bmem.write_port(), bmem.read_port()
        l_wr = lut.write_port()
        l_rd, l_word = registered_read(m, lut, "gelu_read")
        e_wr = emem.write_port()
        for wr, port in ((w_wr, self.weight), (b_wr, self.bias), (l_wr, self.lut)):
            m.d.comb += [wr.en.eq(port.en), wr.addr.eq(port.addr), wr.data.eq(port.data)]
        e_rd = emem.read_port()
        m.d.comb += [e_rd.addr.eq(self.emb.addr), self.emb.data.eq(e_rd.data)]

        blk = Signal(range(self._bias_depth(p)))
        i = Signal(range(p.head_inputs + 1))  # input index: window * N + neuron
        grp = Signal(range(p.groups))         # neuron // P
        lane = Signal(range(p.lanes))         # neuron % P
        windowed = p.windows > 1
        # i // N (no signal at all for one window: a zero-width one would reach the Verilog)
        win = Signal(range(p.windows)) if windowed else None
        restart = [i.eq(0), grp.eq(0), lane.eq(0)] + ([win.eq(0)] if windowed else [])
        acc = Signal(bl)
        wait = Signal(range(max(HEAD_MAC_STAGES, LUT_STAGES) + 1))
        # Pipeline of the MAC: stage 0 addresses counts and weights, stage 1 reads them.
        s1_valid, s1_first = Signal(), Signal()
        s1_lane = Signal(range(p.lanes))
        o = Signal(range(L + 1))              # output lane in the LUT phase
        s1_out, s2_out = Signal(), Signal()
        s1_o, s2_o = Signal(range(L)), Signal(range(L))
        m.d.comb += [self.counts.addr.eq(LIFBank.count_addr(p, grp, win)),
                     w_rd.addr.eq(const_mul(i, B) + blk),
                     b_rd.addr.eq(blk)]

        m.d.sync += [s1_valid.eq(0), s1_first.eq(0), s1_out.eq(0), self.ctrl.done.eq(0)]
        # Stage 1b registers the weight word as read (block RAM outputs are slow), without
        # reset or enable (no logic of ours before its flip-flops: they can sit near the
        # block RAM), and the count after its lane mux; stage 2 is the operand register;
        # the multipliers register the operands again and their products (MUL_STAGES,
        # inside the DSP blocks on an ECP5); then the accumulators add.  HEAD_MAC_STAGES
        # counts these stages.
        s1b_valid, s1b_first = Signal(), Signal()
        s1b_count = Signal(unsigned(contract.COUNTER_BITS), reset_less=True)
        s1b_w = Signal(wl, reset_less=True)
        m.d.sync += [s1b_valid.eq(s1_valid), s1b_first.eq(s1_first),
                     s1b_count.eq(self.counts.data[s1_lane]), s1b_w.eq(w_word)]
        s2_valid, s2_first = Signal(), Signal()
        s2_count = Signal(unsigned(contract.COUNTER_BITS))
        s2_w = Signal(wl)
        m.d.sync += [s2_valid.eq(s1b_valid), s2_first.eq(s1b_first),
                     s2_count.eq(s1b_count), s2_w.eq(s1b_w)]
        prod_valid, prod_first = _delayed(m, s2_valid, s2_first, MUL_STAGES, "mac")
        products = []
        for k in range(L):
            mul = PipelinedMultiplier(contract.COUNTER_BITS + 1, contract.HEAD_WEIGHT_BITS)
            m.submodules[f"mul{k}"] = mul
            m.d.comb += [mul.a.eq(s2_count), mul.b.eq(s2_w[k])]
            products.append(mul.p)
        with m.If(prod_valid):
            for k in range(L):
                base = Mux(prod_first, bl(b_rd.data)[k], acc[k])
                m.d.sync += acc[k].eq(base + products[k])

        # LUT phase, one output lane per cycle: s2 holds acc[o], s2b acc[o] + 2**(shift-1),
        # s2c that shifted; s3 holds z = requantize(acc[o]), which addresses the table; s4
        # writes the entry to the embedding.  (Each step registered: the lane mux, the
        # rounding sum, the shift and the table read do not fit one cycle together.)
        s2_a = Signal(ACC)
        s3_out, s4_out = Signal(), Signal()
        s3_o, s4_o = Signal(range(L)), Signal(range(L))
        z = Signal(_ACT)
        m.d.sync += [s2_a.eq(acc[s1_o]), s2_out.eq(s1_out), s2_o.eq(s1_o)]
        # A shift fixed at build time (params.fixed_head_shift) makes the rounding
        # constant a constant and the shift below wiring; the shift input is then ignored.
        fixed = p.fixed_head_shift
        shift = self.shift if fixed is None else fixed
        half = Signal(contract.ACC_BITS)      # 2**(shift-1), or 0 for shift 0
        m.d.sync += half.eq((Const(1, 1) << shift) >> 1)
        s2b_sum = Signal(signed(contract.ACC_BITS + 1))
        s2b_out, s2b_o = Signal(), Signal(range(L))
        m.d.sync += [s2b_sum.eq(s2_a + half), s2b_out.eq(s2_out), s2b_o.eq(s2_o)]
        # The shift by the register (a barrel shifter) registered before the clamp.
        rnd = Signal(signed(contract.ACC_BITS + 1))
        s2c_out, s2c_o = Signal(), Signal(range(L))
        m.d.sync += [rnd.eq(s2b_sum >> shift), s2c_out.eq(s2b_out), s2c_o.eq(s2b_o)]
        m.d.sync += [z.eq(Mux(rnd > contract.ACT_MAX, contract.ACT_MAX,
                              Mux(rnd < contract.ACT_MIN, contract.ACT_MIN, rnd))),
                     s3_out.eq(s2c_out), s3_o.eq(s2c_o)]
        m.d.comb += l_rd.addr.eq(z - contract.ACT_MIN)
        m.d.sync += [s4_out.eq(s3_out), s4_o.eq(s3_o)]
        m.d.comb += [e_wr.en.eq(s4_out), e_wr.addr.eq(blk * L + s4_o),
                     e_wr.data.eq(l_word.as_signed())]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.ctrl.start):
                    m.d.sync += [blk.eq(0), *restart]
                    m.next = "MAC"
            with m.State("MAC"):
                m.d.sync += [s1_valid.eq(1), s1_first.eq(i == 0), s1_lane.eq(lane),
                             i.eq(i + 1)]
                with m.If(lane == p.lanes - 1):
                    m.d.sync += [lane.eq(0), grp.eq(grp + 1)]
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)
                if windowed:
                    # Window-major inputs: after a window's last neuron, the next window's
                    # first (the count word moves to the next window's bank).
                    tail = p.neurons - 1 - (p.groups - 1) * p.lanes
                    with m.If((grp == p.groups - 1) & (lane == tail)):
                        m.d.sync += [lane.eq(0), grp.eq(0), win.eq(win + 1)]
                with m.If(i == p.head_inputs - 1):
                    m.d.sync += o.eq(0)
                    m.next = "MAC_DRAIN"
            # The last product lands in acc at the end of the last drain cycle.
            _wait_state(m, "MAC_DRAIN", wait, HEAD_MAC_STAGES, "LUT")
            with m.State("LUT"):
                valid = (blk * L + o) < p.dim
                m.d.sync += [s1_o.eq(o), s1_out.eq(valid), o.eq(o + 1)]
                with m.If(o == L - 1):
                    m.next = "LUT_DRAIN"
            # The last lane's lookup is still in flight (s1 -> s2 -> s2b -> s2c -> s3 -> s4 ->
            # write).
            _wait_state(m, "LUT_DRAIN", wait, LUT_STAGES, "NEXT")
            with m.State("NEXT"):
                with m.If(blk == B - 1):
                    m.d.sync += self.ctrl.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [blk.eq(blk + 1), *restart]
                    m.next = "MAC"
        m.d.comb += self.ctrl.busy.eq(~fsm.ongoing("IDLE"))
        return m


class Classifier(wiring.Component):
    """Scores ``e @ prototypes.T`` for ``class_lanes`` classes in parallel, then the argmax.

    Each group of classes is one pass over the embedding (``dim`` cycles) and
    ``MAC_STAGES + 1`` cycles of pipeline drain; the scan then loads the first
    candidate (``SCAN_STAGES``), compares one class per cycle (the first class
    initialises) and ends with one done cycle:
    ``G * (dim + MAC_STAGES + 1 + SCAN_STAGES) + classes + 1`` cycles per pass for G
    groups.  ``best`` is the prototype row, ``score`` its score.  ``ctrl`` as the
    head's; ``emb`` reads the embedding (one cycle latency); ``prototypes`` is the
    prototype memory's write port (one word per dimension, lane = class).
    """

    def __init__(self, params: CoreParams, init: list[int] | None = None):
        self.params = p = params
        self._init = init or []
        super().__init__({
            "prototypes": Out(WritePort.Signature(addr_width=ceil_log2(p.dim),
                                                  shape=p.classes * contract.ACT_BITS)),
            "ctrl": In(TaskSignature()),
            "emb": In(ReadPort.Signature(addr_width=ceil_log2(p.dim), shape=_ACT)),
            "best": Out(range(p.classes)), "score": Out(ACC),
        })

    def elaborate(self, platform):
        p = self.params
        lanes, groups = p.class_lanes_used, p.class_groups
        m = Module()
        pl = data.ArrayLayout(_ACT, p.classes)
        m.submodules.pmem = pmem = Memory(shape=pl.size, depth=p.dim, init=self._init,
                                          attrs=NO_COLLISION_READS)
        # By hand (see Crossbar); the read's register is the block RAM's own (hw.memories:
        # the prototypes are written only by programming).
        wr = pmem.write_port()
        rd, prototypes = registered_read(m, pmem, "prototype_read")
        m.d.comb += [wr.en.eq(self.prototypes.en), wr.addr.eq(self.prototypes.addr),
                     wr.data.eq(self.prototypes.data)]
        d = Signal(range(p.dim + 1))
        # At least one bit each: a zero-width signal (one group or one lane) comes out
        # of the Verilog backend as a [-1:0] vector, which lint rejects.
        g = Signal(range(max(groups, 2)))          # class group of the current pass
        j = Signal(range(max(lanes, 2)))           # lane of the class being scanned
        c = Signal(range(p.classes + 1))           # that class's row
        scores = Signal(data.ArrayLayout(ACC, lanes))
        wait = Signal(range(MAC_STAGES + 1))
        s1_valid, s1_first = Signal(), Signal()
        m.d.comb += [self.emb.addr.eq(d), rd.addr.eq(d)]
        m.d.sync += [s1_valid.eq(0), s1_first.eq(0), self.ctrl.done.eq(0)]
        # As in the head: operands registered, multiplied (MUL_STAGES), then accumulated.
        s2_valid, s2_first = Signal(), Signal()
        s2_e = Signal(_ACT)
        s2_p = Signal(data.ArrayLayout(_ACT, lanes))
        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_e.eq(self.emb.data)]
        prod_valid, prod_first = _delayed(m, s2_valid, s2_first, MUL_STAGES, "dot")
        products = []
        for lane in range(lanes):
            # Lane `lane` scores class g * lanes + lane (zero past the last class).
            rows = [prototypes.word_select(k, contract.ACT_BITS)
                    if (k := grp * lanes + lane) < p.classes
                    else Const(0, contract.ACT_BITS) for grp in range(groups)]
            m.d.sync += s2_p[lane].eq(Array(rows)[g] if groups > 1 else rows[0])
            mul = PipelinedMultiplier(contract.ACT_BITS, contract.ACT_BITS)
            m.submodules[f"mul{lane}"] = mul
            m.d.comb += [mul.a.eq(s2_e), mul.b.eq(s2_p[lane])]
            products.append(mul.p)
        with m.If(prod_valid):
            for lane in range(lanes):
                m.d.sync += scores[lane].eq(Mux(prod_first, 0, scores[lane]) + products[lane])
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.ctrl.start):
                    m.d.sync += [d.eq(0), g.eq(0), c.eq(0)]
                    m.next = "DOT"
            with m.State("DOT"):
                m.d.sync += [s1_valid.eq(1), s1_first.eq(d == 0), d.eq(d + 1)]
                with m.If(d == p.dim - 1):
                    m.next = "DOT_DRAIN"
            # The last product lands in the scores at the end of the last drain cycle.
            _wait_state(m, "DOT_DRAIN", wait, MAC_STAGES, "SCAN_LOAD", on_exit=[j.eq(0)])
            # The candidate score is registered (SCAN_STAGES): the lane mux and the
            # comparison do not fit one cycle together.  SCAN_LOAD takes lane 0's; each
            # SCAN cycle compares one class and takes the next lane's.
            cand = Signal(ACC)
            by_lane = Array([scores[i] for i in range(lanes)])
            with m.State("SCAN_LOAD"):
                m.d.sync += cand.eq(by_lane[0])
                m.next = "SCAN"
            with m.State("SCAN"):
                with m.If(c == p.classes):
                    m.d.sync += self.ctrl.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += cand.eq(by_lane[j + 1])
                    # The first class initialises; strict > afterwards: ties keep the lower row.
                    with m.If((c == 0) | (cand > self.score)):
                        m.d.sync += [self.best.eq(c), self.score.eq(cand)]
                    m.d.sync += [c.eq(c + 1), j.eq(j + 1)]
                    if groups > 1:
                        with m.If((j == lanes - 1) & (c + 1 < p.classes)):
                            m.d.sync += [d.eq(0), g.eq(g + 1)]
                            m.next = "DOT"
        m.d.comb += self.ctrl.busy.eq(~fsm.ongoing("IDLE"))
        return m
