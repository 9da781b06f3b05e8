"""Digital periphery of the array: read noise, column ADC and the LIF neuron bank.

Every operation is the one :mod:`rramlsm.sw.contract` defines and
:mod:`rramlsm.sw.golden` computes; the tests compare them case by case.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from rramlsm.hw.params import CoreParams
from rramlsm.sw import contract

__all__ = ["hash32", "ReadNoise", "ADC", "LIFBank", "NOISE_AMP_BITS", "LIF_LATENCY", "const_mul",
           "signed_digits"]

#: Cycles from a LIF update (``upd_valid``) to its spikes (``spk_valid``): read, register,
#: multiply, add, saturate/fire/write.
LIF_LATENCY = 5
NOISE_AMP_BITS = contract.NOISE_AMP_BITS
_M32 = 0xFFFFFFFF


def hash32(x):
    """:func:`rramlsm.sw.contract.hash32` on a 32-bit Amaranth value (combinational)."""
    x = x ^ (x >> 16)
    x = (x * Const(0x7FEB352D, 32))[:32]
    x = x ^ (x >> 15)
    x = (x * Const(0x846CA68B, 32))[:32]
    return x ^ (x >> 16)


class ReadNoise(wiring.Component):
    """P lanes of :func:`rramlsm.sw.contract.column_noise` for columns ``group * P + k``."""

    def __init__(self, params: CoreParams):
        self.params = p = params
        super().__init__({
            "seed": In(contract.NOISE_SEED_BITS),
            "sample": In(contract.NOISE_KEY_BITS),
            "step": In(contract.STEP_BITS),
            "group": In(range(p.groups)),
            "amplitude": In(NOISE_AMP_BITS),
            "noise": Out(data.ArrayLayout(signed(NOISE_AMP_BITS + 1), p.lanes)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        base = Signal(contract.NOISE_KEY_BITS)
        # key = seed + (((sample * 4096 + step) << 12) + column), modulo 2**32.
        m.d.comb += base.eq(self.seed + ((self.sample * 4096 + self.step) << 12)
                            + self.group * p.lanes)
        for k in range(p.lanes):
            key = Signal(contract.NOISE_KEY_BITS, name=f"key{k}")
            m.d.comb += key.eq(base + k)
            h = Signal(contract.NOISE_KEY_BITS, name=f"h{k}")
            m.d.comb += h.eq(hash32(key))
            tri = Signal(signed(18), name=f"tri{k}")
            m.d.comb += tri.eq(h[:16] + h[16:] - 0xFFFF)
            m.d.comb += self.noise[k].eq((tri * self.amplitude) >> 16)
        return m


class ADC(wiring.Component):
    """P column ADCs: ``clip((sum + noise) >> shift, -2**(bits-1), 2**(bits-1) - 1)``.

    With ``params.fixed_adc_shift`` the shift is that constant (the ``shift`` input is
    ignored)."""

    def __init__(self, params: CoreParams):
        self.params = p = params
        self.lo, self.hi = -(1 << (p.adc_bits - 1)), (1 << (p.adc_bits - 1)) - 1
        super().__init__({
            "sums": In(data.ArrayLayout(signed(contract.COLUMN_SUM_BITS + 1), p.lanes)),
            "shift": In(range(contract.COLUMN_SUM_BITS + 1)),
            "codes": Out(data.ArrayLayout(signed(p.adc_bits), p.lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        # A shift fixed at build time is wiring inside this module: a constant driven
        # into the port from outside would be folded only by a flattened synthesis, and
        # the ECP5 builds synthesise module by module (hw/fpga.py).
        fixed = self.params.fixed_adc_shift
        shift = self.shift if fixed is None else fixed
        for k in range(self.params.lanes):
            shifted = Signal(signed(contract.COLUMN_SUM_BITS + 1), name=f"shifted{k}")
            m.d.comb += shifted.eq(self.sums[k] >> shift)
            m.d.comb += self.codes[k].eq(Mux(shifted > self.hi, self.hi,
                                             Mux(shifted < self.lo, self.lo, shifted)))
        return m


_LANE = data.StructLayout({"v": signed(contract.MEMBRANE_BITS), "s": 1})


class LIFBank(wiring.Component):
    """Membranes, spike flags and spike counters of all neurons, P per memory word.

    ``upd_*`` updates the P neurons of one group from their ADC codes:
    ``r = 0 if spiked else v``; ``v = sat24(((decay_q * r) >> 10) + (code << 6))``;
    ``s = v >= threshold_q``; ``count = min(count + s, 255)``.  The new spike mask
    comes out on ``spk_*`` five cycles later (:data:`LIF_LATENCY`), in the cycle the
    membranes and counters are written back (a registered stage).  Updates of the same
    group must be at least six cycles apart, so the second reads what the first wrote
    (the core's steps always are: a step ends with the last group's spikes).
    ``clear`` zeroes every word, one per cycle, while ``busy``.
    ``counts``: read port of the counters, one word (P counts) per group, data one cycle
    after the address (:meth:`counts_signature`).

    With ``windows`` W > 1 the counters are a bank: one word per window and group, at
    :meth:`count_addr` ``(group, window)``.  An update counts into window ``upd_window``;
    ``upd_fresh`` (the first step of that window) starts the counter from zero instead of
    its stored value, so the bank needs no clearing (``clear`` clears window 0 only) and
    a sample takes the same cycles for every W.

    With ``params.trace_shift`` k (the trace readout) each neuron also keeps a trace
    ``x`` (:data:`~rramlsm.sw.contract.TRACE_BITS` bits, a word of P beside its membranes'):
    every update writes ``x - (x >> k) + (s << TRACE_FRAC_BITS)`` back, and at a window's
    last step (``upd_last``) the sample ``x >> (TRACE_FRAC_BITS + k - 7)`` goes into the
    window's counter word instead of a count (:func:`~rramlsm.sw.contract.trace_readout`).
    ``clear`` zeroes the traces with the membranes; the counter words need no clearing, as
    every window's is written once, at its end.

    With ``params.fixed_decay_q`` the decay is that constant (the ``decay_q`` input is
    not used) and its product takes shifts and adds instead of a multiplier per lane,
    with the same latency.
    """

    def __init__(self, params: CoreParams):
        self.params = p = params
        super().__init__({
            "clear": In(1),
            "busy": Out(1),
            "decay_q": In(contract.DECAY_FRAC_BITS),
            "threshold_q": In(signed(contract.MEMBRANE_BITS)),
            "upd_valid": In(1),
            "upd_group": In(range(p.groups)),
            "upd_codes": In(data.ArrayLayout(signed(p.adc_bits), p.lanes)),
            "spk_valid": Out(1),
            "spk_group": Out(range(p.groups)),
            "spk_mask": Out(p.lanes),
            "counts": Out(self.counts_signature(p)),
            **({"upd_window": In(range(p.windows)), "upd_fresh": In(1)}
               if p.windows > 1 else {}),
            **({"upd_last": In(1)} if p.trace_shift is not None else {}),
        })

    @staticmethod
    def counts_signature(p: CoreParams) -> ReadPort.Signature:
        return ReadPort.Signature(addr_width=ceil_log2(p.count_words),
                                  shape=data.ArrayLayout(unsigned(contract.COUNTER_BITS), p.lanes))

    @staticmethod
    def count_addr(p: CoreParams, group, window):
        """Counter word of ``group`` (a ``range(groups)`` signal) in ``window``: the two
        side by side (window in the high bits), so no adder sits on the address path."""
        if p.windows == 1:
            return group
        if len(group) != ceil_log2(p.groups):
            raise ValueError(f"count_addr needs a {ceil_log2(p.groups)}-bit group, not "
                             f"{len(group)} bits")
        return Cat(group, window)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        vlayout = data.ArrayLayout(_LANE, p.lanes)
        clayout = data.ArrayLayout(unsigned(contract.COUNTER_BITS), p.lanes)
        m.submodules.vmem = vmem = Memory(shape=vlayout, depth=p.groups, init=[])
        m.submodules.cmem = cmem = Memory(shape=clayout, depth=p.count_words, init=[])
        v_wr, v_rd = vmem.write_port(), vmem.read_port()
        trace = p.trace_shift is not None
        if trace:
            tlayout = data.ArrayLayout(unsigned(contract.TRACE_BITS), p.lanes)
            m.submodules.tmem = tmem = Memory(shape=tlayout, depth=p.groups, init=[])
            t_wr, t_rd = tmem.write_port(), tmem.read_port()
            m.d.comb += t_rd.addr.eq(self.upd_group)
        c_wr, c_rd = cmem.write_port(), cmem.read_port()
        c_out = cmem.read_port()                  # by hand (see Crossbar)
        m.d.comb += [c_out.addr.eq(self.counts.addr), self.counts.data.eq(c_out.data)]

        # Clearing: one word per cycle.
        clr_addr = Signal(range(p.groups))
        clearing = Signal()
        m.d.comb += self.busy.eq(clearing | self.clear)
        with m.If(self.clear):
            m.d.sync += [clearing.eq(1), clr_addr.eq(0)]
        with m.Elif(clearing):
            m.d.sync += clr_addr.eq(clr_addr + 1)
            with m.If(clr_addr == p.groups - 1):
                m.d.sync += clearing.eq(0)

        # Stage 0: address the group's words.  Stage 1: the words as read, registered with
        # r (block RAM outputs are slow).  Stage 2: the decay product (the multiplier
        # alone).
        # With windows, the window and its fresh flag travel with the group down the
        # pipeline (stages 1..4), so the counter is read and written back at one address.
        windowed = p.windows > 1
        m.d.comb += [v_rd.addr.eq(self.upd_group), c_rd.addr.eq(
            self.count_addr(p, self.upd_group, self.upd_window) if windowed else self.upd_group)]
        s1_valid = Signal()
        s1_group = Signal(range(p.groups))
        s1_codes = Signal.like(self.upd_codes)
        m.d.sync += [s1_valid.eq(self.upd_valid), s1_group.eq(self.upd_group),
                     s1_codes.eq(self.upd_codes)]
        if windowed:
            wins = [Signal(range(p.windows), name=f"s{k}_window") for k in range(1, 5)]
            fresh = [Signal(name=f"s{k}_fresh") for k in range(1, 5)]
            m.d.sync += [wins[0].eq(self.upd_window), fresh[0].eq(self.upd_fresh)]
            for k in range(1, 4):
                m.d.sync += [wins[k].eq(wins[k - 1]), fresh[k].eq(fresh[k - 1])]
        if trace:
            # The window's-last-step flag travels with the group like the window.
            lasts = [Signal(name=f"s{k}_last") for k in range(1, 5)]
            m.d.sync += lasts[0].eq(self.upd_last)
            for k in range(1, 4):
                m.d.sync += lasts[k].eq(lasts[k - 1])
        old_v, old_c = vlayout(v_rd.data), clayout(c_rd.data)
        frac = contract.DECAY_FRAC_BITS
        s2_valid, s3_valid = Signal(), Signal()
        s2_group, s3_group = Signal(range(p.groups)), Signal(range(p.groups))
        s2_codes, s3_codes = Signal.like(self.upd_codes), Signal.like(self.upd_codes)
        s2_c, s3_c = Signal(clayout), Signal(clayout)
        m.d.sync += [s2_valid.eq(s1_valid), s2_group.eq(s1_group), s2_codes.eq(s1_codes),
                     s2_c.eq(old_c), s3_valid.eq(s2_valid), s3_group.eq(s2_group),
                     s3_codes.eq(s2_codes), s3_c.eq(s2_c)]
        # (decay_q * r) is exact in 35 bits.  The decay register's product is a multiplier
        # per lane; a decay fixed at build time is a constant: its signed digits' shifted
        # copies of r, in two partial sums (each at most two adders deep), the input
        # ``code << 16`` folded into the second.  Stage 3 then adds the two and shifts:
        # ((d r) >> 10) + (c << 6) = (d r + (c << 16)) >> 10 exactly, c << 16 being a
        # multiple of 2**10.  Same stages either way: the cycle model does not change.
        fixed = p.fixed_decay_q is not None
        wide = signed(contract.MEMBRANE_BITS + frac + 3)
        input_shift = contract.MEMBRANE_FRAC_BITS + frac
        prods = [Signal(signed(contract.MEMBRANE_BITS + frac + 1), name=f"prod{k}")
                 for k in range(p.lanes)]
        parts = [(Signal(wide, name=f"part_a{k}"), Signal(wide, name=f"part_b{k}"))
                 for k in range(p.lanes)]
        digits = signed_digits(p.fixed_decay_q) if fixed else []
        half = (len(digits) + 1) // 2          # the second part also takes the input
        for k in range(p.lanes):
            r = Signal(signed(contract.MEMBRANE_BITS), name=f"r{k}")
            m.d.sync += r.eq(Mux(old_v[k].s, 0, old_v[k].v))
            if fixed:
                terms = [(r << shift) if sign > 0 else -(r << shift) for shift, sign in digits]
                code = s2_codes[k] << input_shift
                m.d.sync += [parts[k][0].eq(_adder_tree(terms[:half])),
                             parts[k][1].eq(_adder_tree(terms[half:] + [code]))]
            else:
                m.d.sync += prods[k].eq(self.decay_q * r)
        new_v = Signal(vlayout)
        # Stage 3: the sum, registered.  Stage 4: saturate, fire.  Stage 5: count, write back.
        s4_valid, s4_group = Signal(), Signal(range(p.groups))
        s4_c, s4_inc = Signal(clayout), Signal(clayout)
        m.d.sync += [s4_valid.eq(s3_valid), s4_group.eq(s3_group), s4_c.eq(s3_c)]
        if trace:
            # The trace as read (stage 1) down to stage 3; stage 4 holds its two possible
            # next values, decayed and decayed plus a spike, so the spike only picks one.
            shift = p.trace_shift
            s2_x, s3_x = Signal(tlayout), Signal(tlayout)
            s4_xd, s4_xs = Signal(tlayout), Signal(tlayout)
            m.d.sync += [s2_x.eq(t_rd.data), s3_x.eq(s2_x)]
            for k in range(p.lanes):
                decayed = s3_x[k] - (s3_x[k] >> shift)
                m.d.sync += [s4_xd[k].eq(decayed),
                             s4_xs[k].eq(decayed + (1 << contract.TRACE_FRAC_BITS))]
            new_x = Signal(tlayout)
            sample_shift = contract.TRACE_FRAC_BITS + shift - (contract.COUNTER_BITS - 1)
        cmax = (1 << contract.COUNTER_BITS) - 1
        for k in range(p.lanes):
            # The counter after a spike, ready a stage early: the spike (the end of the
            # comparisons) then only picks the word, no adder after it.
            m.d.sync += s4_inc[k].eq(Mux(s3_c[k] == cmax, cmax, s3_c[k] + 1))
        lo, hi = contract.MEMBRANE_MIN, contract.MEMBRANE_MAX
        # The threshold register, copied beside the comparators: it sits in the register
        # bank, across the die, and the comparisons' carry chains start from it.  It is
        # written between samples; the first update of a sample comes many cycles later.
        threshold = Signal.like(self.threshold_q)
        m.d.sync += threshold.eq(self.threshold_q)
        for k in range(p.lanes):
            # (decay_q * r) >> 10 plus the input needs one bit more than the product.
            pre = Signal(wide, name=f"pre{k}")
            if fixed:
                m.d.sync += pre.eq((parts[k][0] + parts[k][1]) >> frac)
            else:
                m.d.sync += pre.eq((prods[k] >> frac)
                                   + (s3_codes[k] << contract.MEMBRANE_FRAC_BITS))
            over, under = pre > hi, pre < lo
            m.d.comb += new_v[k].v.eq(Mux(over, hi, Mux(under, lo, pre)))
            # v >= threshold, with the three comparisons side by side instead of after the
            # saturation (equal for every threshold register value).
            m.d.comb += new_v[k].s.eq(Mux(over, hi >= threshold,
                                          Mux(under, lo >= threshold, pre >= threshold)))
        # Stage 5: the write-back, registered (the memories may sit far from this logic).
        # It lands with the spikes: the next read of the group is a step later, and the
        # head reads the counts after the last group's spikes.  The counter's (or trace's)
        # two candidate words are registered beside the spike that picks one, so the pick
        # comes after the register: the comparisons' carry chains end at a flip-flop
        # placed by them, not at the write-back across the die.
        c_addr = self.count_addr(p, s4_group, wins[3]) if windowed else s4_group
        wb_v, wb_c = Signal(vlayout), Signal(clayout)
        wb_v_addr, wb_c_addr, wb_en = Signal.like(v_wr.addr), Signal.like(c_wr.addr), Signal()
        m.d.sync += [wb_v.eq(new_v), wb_v_addr.eq(s4_group),
                     wb_c_addr.eq(c_addr), wb_en.eq(s4_valid)]
        wb_spike = Signal(p.lanes)
        m.d.sync += wb_spike.eq(Cat(new_v[k].s for k in range(p.lanes)))
        if trace:
            wb_xs, wb_xd = Signal(tlayout), Signal(tlayout)
            m.d.sync += [wb_xs.eq(s4_xs), wb_xd.eq(s4_xd)]
            for k in range(p.lanes):
                m.d.comb += [new_x[k].eq(Mux(wb_spike[k], wb_xs[k], wb_xd[k])),
                             wb_c[k].eq(new_x[k] >> sample_shift)]
        else:
            wb_inc, wb_old = Signal(clayout), Signal(clayout)
            m.d.sync += [wb_inc.eq(s4_inc), wb_old.eq(s4_c)]
            if windowed:
                wb_fresh = Signal()
                m.d.sync += wb_fresh.eq(fresh[3])
            for k in range(p.lanes):
                counted = Mux(wb_spike[k], wb_inc[k], wb_old[k])
                if windowed:
                    # A window's first step starts its counter (no clearing of the bank).
                    counted = Mux(wb_fresh, wb_spike[k], counted)
                m.d.comb += wb_c[k].eq(counted)
        # A trace's sample is written once per window, at its last step; the trace itself
        # at every update.
        wb_c_en = wb_en
        if trace:
            wb_x, wb_last = new_x, Signal()
            m.d.sync += wb_last.eq(s4_valid & lasts[3])
            wb_c_en = wb_last
        with m.If(clearing):
            m.d.comb += [v_wr.addr.eq(clr_addr), v_wr.data.eq(0), v_wr.en.eq(1),
                         c_wr.addr.eq(clr_addr), c_wr.data.eq(0), c_wr.en.eq(1)]
            if trace:
                m.d.comb += [t_wr.addr.eq(clr_addr), t_wr.data.eq(0), t_wr.en.eq(1)]
        with m.Else():
            m.d.comb += [v_wr.addr.eq(wb_v_addr), v_wr.data.eq(wb_v), v_wr.en.eq(wb_en),
                         c_wr.addr.eq(wb_c_addr), c_wr.data.eq(wb_c), c_wr.en.eq(wb_c_en)]
            if trace:
                m.d.comb += [t_wr.addr.eq(wb_v_addr), t_wr.data.eq(wb_x), t_wr.en.eq(wb_en)]
        # Lanes past the last neuron (padding of the last group) never report a spike.
        tail = p.neurons - (p.groups - 1) * p.lanes
        mask = Signal(p.lanes)
        for k in range(p.lanes):
            valid = 1 if k < tail else s4_group != p.groups - 1
            m.d.comb += mask[k].eq(new_v[k].s & valid)
        m.d.sync += [self.spk_valid.eq(s4_valid), self.spk_group.eq(s4_group),
                     self.spk_mask.eq(mask)]
        return m


def const_mul(x, k: int):
    """``x * k`` for an elaboration-time constant ``k >= 0`` as shifts and adds.

    Synthesis maps every ``*`` onto a DSP multiplier, constant or not; on address
    paths that costs a multiplier and, unregistered, the design's longest path.
    """
    if k < 0:
        raise ValueError(f"const_mul needs k >= 0, not {k}")
    terms = [x << i for i in range(k.bit_length()) if (k >> i) & 1]
    if not terms:
        return 0 * x
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def signed_digits(k: int) -> list[tuple[int, int]]:
    """``k >= 0`` as few signed powers of two: ``[(shift, +-1), ...]`` with ``k = sum(sign <<
    shift)`` (the non-adjacent form; 1023 = 1024 - 1 is two digits, not ten)."""
    if k < 0:
        raise ValueError(f"signed_digits needs k >= 0, not {k}")
    digits, shift = [], 0
    while k:
        if k & 1:
            sign = 2 - (k & 3)           # +1 when k = 1 mod 4, -1 when k = 3 mod 4
            digits.append((shift, sign))
            k -= sign
        k >>= 1
        shift += 1
    return digits


def _adder_tree(terms):
    """The sum of ``terms`` (Amaranth values) as a balanced tree: depth ceil(log2 n)."""
    if not terms:
        return Const(0)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]
