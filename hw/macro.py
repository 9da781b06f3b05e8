"""The macro top: two cores (visual, audio), one register bank, one input and one output stream.

The register bank is a plain word-addressed bus (``bus_addr``, ``bus_wdata``,
``bus_we``; ``bus_rdata`` is valid the cycle after ``bus_addr``), small enough
to bridge from a UART or an AXI-Lite wrapper.  :class:`Reg` is the map, shared
with the host driver and the testbenches.  The input and output streams go to
the core selected by ``CTRL.modality``; change it only between samples.

Programming a memory word wider than 32 bits: write its 32-bit chunks to
``PROG_DATA`` most significant first (each write shifts the staging register
left by 32), then write ``PROG_COMMIT``: the staged word goes to
``PROG_TARGET``'s memory at ``PROG_ADDR``, which then increments.  Program a core only
while it runs no sample: its weight memories are read without a guard against a word
written in the cycle it is read (:mod:`rramlsm.hw.memories`).
"""

from __future__ import annotations

from amaranth import Const, DomainRenamer, Module, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from rramlsm.hw.core import IN_WORD, OUT_WORD, PROG_ADDR_BITS, LSMCore, ProgTarget
from rramlsm.hw.params import REG_BITS, CoreParams

__all__ = ["Reg", "CoreReg", "Macro", "MAGIC", "CORE_BASE", "MODALITIES", "prog_target_word",
           "staging_bits", "REG_ADDR_BITS"]

MAGIC = 0x524C534D                  # "RLSM"
MODALITIES = ("visual", "audio")
#: Width of a register address on the bus.
REG_ADDR_BITS = 8
#: Base address of each core's register block.
CORE_BASE = {"visual": 0x10, "audio": 0x30}


class Reg(enum.IntEnum):
    """Global registers (word addresses)."""

    ID = 0x00             # ro: MAGIC
    CTRL = 0x01           # bit 0: modality (0 visual, 1 audio); bit 1: dump counts and embedding
    ABORT = 0x02          # wo: any write aborts both cores' current samples
    STATUS = 0x03         # ro: bit k: core k idle
    PROG_TARGET = 0x08    # bits 2:0 ProgTarget, bit 4: core (0 visual, 1 audio)
    PROG_ADDR = 0x09
    PROG_DATA = 0x0A      # wo: staging = (staging << 32) | data
    PROG_COMMIT = 0x0B    # wo: write staging to the target memory, PROG_ADDR += 1


class CoreReg(enum.IntEnum):
    """Per-core registers, offsets from :data:`CORE_BASE`."""

    STEPS = 0x0
    DECAY_Q = 0x1
    THRESHOLD_Q = 0x2
    ADC_SHIFT = 0x3
    HEAD_SHIFT = 0x4
    NOISE_AMP = 0x5
    NOISE_SEED = 0x6
    PERF_CYCLES = 0x8     # ro, cycles of the last sample
    PERF_EVENTS = 0x9     # ro, input event words
    PERF_SPIKES = 0xA     # ro
    PERF_DROPPED = 0xB    # ro, rows of bins past T
    PERF_SAMPLES = 0xC    # ro


_CONFIG = {CoreReg.STEPS: "steps", CoreReg.DECAY_Q: "decay_q", CoreReg.THRESHOLD_Q: "threshold_q",
           CoreReg.ADC_SHIFT: "adc_shift", CoreReg.HEAD_SHIFT: "head_shift",
           CoreReg.NOISE_AMP: "noise_amp", CoreReg.NOISE_SEED: "noise_seed"}
_PERF = {CoreReg.PERF_CYCLES: "perf_cycles", CoreReg.PERF_EVENTS: "perf_events",
         CoreReg.PERF_SPIKES: "perf_spikes", CoreReg.PERF_DROPPED: "perf_dropped",
         CoreReg.PERF_SAMPLES: "perf_samples"}


class Macro(wiring.Component):
    """Both modalities' cores behind one register bank and one pair of streams.

    ``params``/``init``/``registers``: per modality name, the core sizes, its
    memory images (:meth:`~rramlsm.hw.program.CoreImage.init`) and the reset
    values of its configuration registers (so an image with weights baked in
    runs without any programming).

    The register bus: reads are registered (``bus_rdata`` the cycle after the
    address); a write (``bus_we`` for one cycle) reaches a core's register or
    memory through a register slice, two cycles after it, so a read of a core's
    register sees a write from two cycles on (the UART bridge's commands are
    hundreds of cycles apart).

    ``core_domains``: each core runs in a clock domain named after its modality
    (``visual``, ``audio``) instead of ``sync``; the enclosing design defines those
    domains with ``sync``'s clock, so that each core's reset can be a register of its
    own, placed beside the core (the board top's reset tree,
    :class:`~rramlsm.hw.fpga.BoardTop`).  The logic and its timing are the same.
    """

    def __init__(self, params: dict[str, CoreParams], init: dict | None = None,
                 registers: dict | None = None, *, core_domains: bool = False):
        self.params = params
        self.core_domains = core_domains
        self._init = init or {}
        self._regs = registers or {}
        self.staging_bits = staging_bits(params.values())
        super().__init__({
            "inp": In(stream.Signature(IN_WORD)),
            "out": Out(stream.Signature(OUT_WORD)),
            "bus_addr": In(REG_ADDR_BITS),
            "bus_wdata": In(REG_BITS),
            "bus_we": In(1),
            "bus_rdata": Out(REG_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        cores = {}
        for name in MODALITIES:
            if name in self.params:
                cores[name] = LSMCore(self.params[name], self._init.get(name))
                m.submodules[name] = (DomainRenamer(name)(cores[name]) if self.core_domains
                                      else cores[name])
        modality = Signal()
        dump = Signal()
        abort = Signal()
        prog_target = Signal(5)
        prog_addr = Signal(PROG_ADDR_BITS)
        staging = Signal(self.staging_bits)
        commit = Signal()
        m.d.sync += [abort.eq(0), commit.eq(0)]
        addr, wdata, we = self.bus_addr, self.bus_wdata, self.bus_we

        # The register slice between the bus and each core: a core's configuration
        # registers and memories sit where the core is placed, across the die from the
        # bridge, so what reaches them comes from registers of the core's own: the write
        # data, each configuration register's decoded write enable and the programming
        # port (a write lands a cycle later than without the slice: see the class's
        # docstring).
        config = {}
        for name, core in cores.items():
            k = MODALITIES.index(name)
            base = CORE_BASE[name]
            reset = self._regs.get(name, {})
            fixed_registers = self.params[name].fixed_registers
            core_wdata = Signal(REG_BITS, name=f"{name}_wdata")
            m.d.sync += core_wdata.eq(wdata)
            for reg, field in _CONFIG.items():
                port = getattr(core, field)
                fixed = fixed_registers.get(field)
                if fixed is not None:
                    # Wired into the core at build time (the decay, the shifts): the
                    # register reads the value the core runs, and a write cannot change it
                    # (the host refuses to program another one: CoreParams.check_fixed).
                    config[(name, reg)] = Const(fixed, port.shape())
                    continue
                r = Signal(port.shape(), name=f"{name}_{field}", init=reset.get(field, 0))
                config[(name, reg)] = r
                m.d.comb += port.eq(r)
                hit = Signal(name=f"{name}_{field}_we")
                m.d.sync += hit.eq(we & (addr == base + reg))
                with m.If(hit):
                    m.d.sync += r.eq(core_wdata)
            sel = modality == k
            m.d.comb += [
                core.dump.eq(dump), core.abort.eq(abort),
                core.inp.payload.eq(self.inp.payload), core.inp.valid.eq(self.inp.valid & sel),
                core.out.ready.eq(self.out.ready & sel),
            ]
            m.d.sync += [
                core.prog.en.eq(commit & (prog_target[4] == k)),
                core.prog.target.eq(prog_target[:3]),
                core.prog.addr.eq(prog_addr), core.prog.data.eq(staging),
            ]
            with m.If(sel):
                m.d.comb += [self.inp.ready.eq(core.inp.ready), self.out.valid.eq(core.out.valid),
                             self.out.payload.eq(core.out.payload)]

        with m.If(we):
            with m.Switch(addr):
                with m.Case(Reg.CTRL):
                    m.d.sync += [modality.eq(wdata[0]), dump.eq(wdata[1])]
                with m.Case(Reg.ABORT):
                    m.d.sync += abort.eq(1)
                with m.Case(Reg.PROG_TARGET):
                    m.d.sync += prog_target.eq(wdata)
                with m.Case(Reg.PROG_ADDR):
                    m.d.sync += prog_addr.eq(wdata)
                with m.Case(Reg.PROG_COMMIT):
                    m.d.sync += commit.eq(1)
        # PROG_DATA through a register slice of its own: the write enable decoded and the
        # data registered, the staging register shifted the cycle after.  Decoded and
        # applied in one cycle, the address reached the wide staging register's enables
        # across the die (the longest path of the 85F with crossbar banks of 512 words
        # and the reset tree, docs/FPGA.md).  Nothing reads the staging register but a
        # commit, which lands a cycle after its write as before: a commit right after the
        # last PROG_DATA still takes the whole word.
        staging_we, staging_data = Signal(), Signal(REG_BITS)
        m.d.sync += [staging_we.eq(we & (addr == Reg.PROG_DATA)), staging_data.eq(wdata)]
        with m.If(staging_we):
            m.d.sync += staging.eq((staging << REG_BITS) | staging_data)
        with m.If(commit):
            m.d.sync += prog_addr.eq(prog_addr + 1)

        # Reads: registered, valid the cycle after the address.
        with m.Switch(addr):
            with m.Case(Reg.ID):
                m.d.sync += self.bus_rdata.eq(MAGIC)
            with m.Case(Reg.CTRL):
                m.d.sync += self.bus_rdata.eq(modality | (dump << 1))
            with m.Case(Reg.STATUS):
                m.d.sync += self.bus_rdata.eq(
                    sum((c.idle << MODALITIES.index(n)) for n, c in cores.items()))
            with m.Case(Reg.PROG_TARGET):
                m.d.sync += self.bus_rdata.eq(prog_target)
            with m.Case(Reg.PROG_ADDR):
                m.d.sync += self.bus_rdata.eq(prog_addr)
            for (name, reg), r in config.items():
                with m.Case(CORE_BASE[name] + reg):
                    m.d.sync += self.bus_rdata.eq(r)
            for name, core in cores.items():
                for reg, field in _PERF.items():
                    with m.Case(CORE_BASE[name] + reg):
                        m.d.sync += self.bus_rdata.eq(getattr(core, field))
            with m.Default():
                m.d.sync += self.bus_rdata.eq(0)
        return m


def staging_bits(params) -> int:
    """Width of the ``PROG_DATA`` staging register for cores of ``params``: the widest
    programmable word, rounded up to whole 32-bit chunks."""
    widest = max(LSMCore.prog_width(p) for p in params)
    return -(-widest // REG_BITS) * REG_BITS


def prog_target_word(target: ProgTarget, core: str) -> int:
    """The ``PROG_TARGET`` register value for a memory of a core."""
    return target.value | (MODALITIES.index(core) << 4)
