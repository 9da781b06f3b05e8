"""Sizes of one macro core, and how bundle arrays are packed into its memories.

One definition for the RTL (memory shapes and init), the programming path
(host-side packing) and the testbenches.  Lanes are packed little-end first:
lane ``k`` of a word occupies bits ``[k * width, (k + 1) * width)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rramlsm.hw.interfaces import PROG_ADDR_BITS
from rramlsm.sw import contract
from rramlsm.sw._checks import check_int

__all__ = ["CoreParams", "DP16KD_SHAPES", "MAX_FOLD", "REG_BITS", "bundle_registers",
           "fixed_params", "pack_lanes",
           "unpack_lanes", "crossbar_words", "head_weight_words", "head_bias_words",
           "prototype_words"]

#: Width of the register bus and of the output stream's data word (labels, scores, cycle
#: and performance counters).
REG_BITS = 32

#: The ECP5 DP16KD's configurations (data width, depth): 36 bits wide only as a pseudo dual
#: port, which every memory here is (one write port, read ports on one clock).
DP16KD_SHAPES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))

#: The crossbar is at most this many times as wide as the LIF bank: a pass's sums reach the
#: LIF bank over ``fold`` cycles, which must end before the step's drain does.
MAX_FOLD = 8

#: Registers a core can have fixed at build time: (register, what it is, the option that
#: fixes it).  The register's value is then ``CoreParams.fixed_<register>``.
_FIXED_REGISTERS = (("decay_q", "LIF decay", "fixed_decay"),
                    ("adc_shift", "ADC shift", "fixed_shifts"),
                    ("head_shift", "head shift", "fixed_shifts"))


def bundle_registers(mb) -> dict[str, int]:
    """The configuration register values of a :class:`~rramlsm.sw.bundle.ModalityBundle`
    (what a core built from it holds from reset)."""
    lsm, layer = mb.lsm, mb.head.layers[0]
    return {"steps": int(lsm.steps), "decay_q": int(lsm.decay_q),
            "threshold_q": int(lsm.threshold_q), "adc_shift": int(lsm.adc_shift),
            "head_shift": int(layer.shift), "noise_amp": int(lsm.noise_amplitude),
            "noise_seed": int(lsm.noise_seed) & 0xFFFFFFFF}


def fixed_params(registers: dict[str, int], *, fixed_decay: bool = False,
                 fixed_shifts: bool = False) -> dict[str, int]:
    """:class:`CoreParams` keywords (``fixed_<register>``) that wire in the ``registers``
    the build options fix: the decay with ``fixed_decay``, both shifts with
    ``fixed_shifts``."""
    options = {"fixed_decay": fixed_decay, "fixed_shifts": fixed_shifts}
    return {f"fixed_{field}": int(registers[field]) for field, _, option in _FIXED_REGISTERS
            if options[option]}


@dataclass(frozen=True)
class CoreParams:
    """Elaboration-time sizes of one LSM core (one modality)."""

    inputs: int = 256
    neurons: int = 200
    lanes: int = 16
    """Column parallelism P: columns summed per cycle per active row."""
    adc_bits: int = 10
    dim: int = 64
    """Embedding width (head outputs)."""
    head_lanes: int = 16
    """Head outputs computed in parallel."""
    classes: int = 9
    noise: bool = False
    """Instantiate the read-noise generator (P hash units)."""
    class_lanes: int = 0
    """Classes the classifier scores in parallel (one multiplier each); 0: all of them.
    Fewer lanes take one more pass over the embedding per group of classes."""
    weight_bits: int = contract.WEIGHT_BITS
    """Signed width of a crossbar cell (the differential code ``G+ - G-``): what the
    bundle's device levels need (:func:`~rramlsm.sw.contract.weight_code_bits`), 9 bits for
    256 levels.  Sets the crossbar memory's word (``lanes * weight_bits``), nothing else:
    the column sums stay :data:`~rramlsm.sw.contract.COLUMN_SUM_BITS` wide."""
    windows: int = 1
    """Readout windows W: the LIF bank keeps one counter per neuron and window (the
    counter bank), the head reads ``windows * neurons`` counts, window-major.  The
    window of step ``t`` is ``t * W // steps`` (the ``steps`` register), which is
    ``t // (steps / W)`` for the step counts the golden model accepts (W dividing T)."""
    crossbar_bank_words: int = 0
    """Words per bank of the crossbar memory (a power of two), or 0 for the depth one
    ECP5 block RAM (DP16KD) has at the word's width (:attr:`bank_words`).  A deep array is
    several banks whose outputs pass a two-level mux, the first level registered."""
    trace_shift: int | None = None
    """None: each readout window counts spikes.  A shift k: the exponential-trace readout
    (:func:`~rramlsm.sw.contract.trace_readout`) with k built in; the LIF bank keeps a
    :data:`~rramlsm.sw.contract.TRACE_BITS`-bit trace per neuron beside the membranes and
    writes its sample into the window's counter word at the window's last step."""
    fixed_decay_q: int | None = None
    """The LIF decay ``decay_q`` fixed at build time (``0 <= decay_q < 2**10``), or None for
    a ``DECAY_Q`` register.  Fixed, the decay product is a constant multiplication (shifts
    and adds, no multiplier per lane); the register then reads back this value and ignores
    writes, and a bundle with another decay cannot be programmed into the core
    (:meth:`check_fixed`)."""
    fixed_adc_shift: int | None = None
    """The column ADC's shift fixed at build time (``0 <= adc_shift <= COLUMN_SUM_BITS``), or
    None for an ``ADC_SHIFT`` register.  Fixed, each lane's shift is wiring instead of a
    barrel shifter (about 200 LUTs a lane on the ECP5, synthesised module by module);
    the register then reads back this value and ignores writes (:meth:`check_fixed`)."""
    crossbar_lanes: int = 0
    """Crossbar column lanes Px: cells read and summed per cycle per active row, a multiple
    of :attr:`lanes` (at most :data:`MAX_FOLD` times it), or 0 for :attr:`lanes`.  The
    crossbar's work is the event-driven ``active rows x ceil(neurons / Px)`` cycles a step,
    the LIF bank's only ``ceil(neurons / P)``; so a wide crossbar before a narrow LIF bank
    buys the throughput of Px lanes for the adders of Px column accumulators, without Px
    LIF lanes.  Each pass's Px sums go to the read noise, ADC and LIF bank P at a time
    over the next :attr:`fold` cycles (a pass takes at least that many)."""
    fixed_head_shift: int | None = None
    """The head's requantising shift fixed at build time (``0 <= shift < ACC_BITS``), or
    None for a ``HEAD_SHIFT`` register: wiring instead of a barrel shifter and the rounding
    constant's decoder (:meth:`check_fixed`)."""

    def __post_init__(self):
        for name in ("inputs", "neurons", "lanes", "dim", "head_lanes", "classes"):
            check_int("CoreParams", name, getattr(self, name), lo=1)
        check_int("CoreParams", "class_lanes", self.class_lanes, lo=0)
        check_int("CoreParams", "windows", self.windows, lo=1)
        check_int("CoreParams", "weight_bits", self.weight_bits, lo=2, hi=contract.WEIGHT_BITS)
        if self.windows > contract.MAX_WINDOWS:
            raise ValueError(f"CoreParams windows must be at most {contract.MAX_WINDOWS} "
                             f"(contract.MAX_WINDOWS, the RTL's counter bank), not {self.windows}")
        if self.head_inputs * self.head_blocks > 1 << PROG_ADDR_BITS:
            raise ValueError(
                f"CoreParams: the head's weight memory needs windows x neurons x head blocks = "
                f"{self.windows} x {self.neurons} x {self.head_blocks} = "
                f"{self.head_inputs * self.head_blocks} words, more than the programming "
                f"path's {PROG_ADDR_BITS}-bit address reaches ({1 << PROG_ADDR_BITS})")
        check_int("CoreParams", "crossbar_lanes", self.crossbar_lanes, lo=0)
        if self.crossbar_lanes and (self.crossbar_lanes % self.lanes
                                    or self.crossbar_lanes > MAX_FOLD * self.lanes):
            raise ValueError(f"CoreParams crossbar_lanes must be a multiple of lanes "
                             f"({self.lanes}) and at most {MAX_FOLD} times it (MAX_FOLD), "
                             f"not {self.crossbar_lanes}")
        check_int("CoreParams", "crossbar_bank_words", self.crossbar_bank_words, lo=0)
        if self.crossbar_bank_words & (self.crossbar_bank_words - 1):
            raise ValueError(f"CoreParams crossbar_bank_words must be a power of two (or 0), "
                             f"not {self.crossbar_bank_words}")
        if self.trace_shift is not None:
            check_int("CoreParams", "trace_shift", self.trace_shift, lo=1,
                      hi=contract.MAX_TRACE_SHIFT)
        if self.fixed_decay_q is not None:
            check_int("CoreParams", "fixed_decay_q", self.fixed_decay_q, lo=0,
                      hi=(1 << contract.DECAY_FRAC_BITS) - 1)
        if self.fixed_adc_shift is not None:
            check_int("CoreParams", "fixed_adc_shift", self.fixed_adc_shift, lo=0,
                      hi=contract.COLUMN_SUM_BITS)
        if self.fixed_head_shift is not None:
            check_int("CoreParams", "fixed_head_shift", self.fixed_head_shift, lo=0,
                      hi=contract.ACC_BITS - 1)
        if not 1 <= self.adc_bits <= 16:
            raise ValueError(f"CoreParams adc_bits must be in [1, 16], not {self.adc_bits}")
        if self.rows > contract.TILE_ROWS:
            raise ValueError(f"CoreParams supports at most {contract.TILE_ROWS} rows (one "
                             f"crossbar tile), not {self.rows}")

    @property
    def readout(self) -> str:
        """``"trace"`` with a :attr:`trace_shift`, else ``"count"``."""
        return "count" if self.trace_shift is None else "trace"

    def check_readout(self, readout: str, trace_shift: int) -> None:
        """Refuse a bundle's readout this core was not built for (the kind and the trace's
        shift are wired in): :class:`~rramlsm.errors.BundleError` naming both."""
        from rramlsm.errors import BundleError

        want = "count" if readout == "count" else f"trace (shift {int(trace_shift)})"
        have = "count" if self.trace_shift is None else f"trace (shift {self.trace_shift})"
        if want != have:
            raise BundleError(f"the core was built for the {have} readout; it cannot run a "
                              f"macro with the {want} readout: rebuild it for this bundle")

    @property
    def fixed_registers(self) -> dict[str, int]:
        """The registers fixed at build time and their values (``{"decay_q": 996, ...}``)."""
        return {field: getattr(self, f"fixed_{field}") for field, _, _ in _FIXED_REGISTERS
                if getattr(self, f"fixed_{field}") is not None}

    def check_fixed(self, registers: dict) -> None:
        """Refuse register values this core cannot run: a decay or shift fixed at build time
        (:attr:`fixed_decay_q`, :attr:`fixed_adc_shift`, :attr:`fixed_head_shift`) is wired
        in, and the register cannot change it.  Raises
        :class:`~rramlsm.errors.BundleError` naming the register, both values and the option
        that fixed it."""
        from rramlsm.errors import BundleError

        fixed = self.fixed_registers
        for field, what, option in _FIXED_REGISTERS:
            if field in fixed and field in registers and int(registers[field]) != fixed[field]:
                raise BundleError(f"the core was built with its {what} fixed at {field} = "
                                  f"{fixed[field]} ({option}); it cannot run {field} = "
                                  f"{int(registers[field])}: rebuild it for this bundle")

    @property
    def bank_words(self) -> int:
        """Words per crossbar bank: :attr:`crossbar_bank_words`, or the depth of the DP16KD
        configuration (18 kbit: 512 x 36, 1,024 x 18, 2,048 x 9, 4,096 x 4; wider words
        take several side by side) in which the array takes the fewest blocks; at most the
        array's depth rounded up to a power of two (one bank)."""
        width, depth = self.xlanes * self.weight_bits, self.rows * self.xgroups
        # The configuration that takes the fewest blocks for the whole array (ties: the
        # wider one, fewer banks deep).
        words = self.crossbar_bank_words or min(
            DP16KD_SHAPES, key=lambda s: -(-width // s[0]) * -(-depth // s[1]))[1]
        # A bank deeper than the array is the array in one bank: what the crossbar builds
        # and what fpga.json records (not the 2^40 words asked for).
        return min(words, 1 << (depth - 1).bit_length())

    @property
    def rows(self) -> int:
        return self.inputs + self.neurons

    @property
    def head_inputs(self) -> int:
        """Inputs of the head: one spike count per window and neuron."""
        return self.windows * self.neurons

    @property
    def count_words(self) -> int:
        """Depth of the LIF bank's counter memory: word ``window * 2**ceil(log2 G) + group``
        (the address is window and group side by side, no multiplier)."""
        return (self.windows - 1) * (1 << math.ceil(math.log2(self.groups))) + self.groups

    @property
    def groups(self) -> int:
        """Column groups G = ceil(neurons / lanes)."""
        return -(-self.neurons // self.lanes)

    @property
    def sum_bits(self) -> int:
        """Width of the crossbar's column sums: what ``rows`` cells of ``weight_bits`` can
        add up to (``|sum| <= rows * 2**(weight_bits - 1)``), at most
        :data:`~rramlsm.sw.contract.COLUMN_SUM_BITS`.  Exact by that bound: 13 bits for the
        paper's 456 rows of 4-bit cells instead of 20, in every accumulator."""
        return min(contract.COLUMN_SUM_BITS,
                   (self.rows << (self.weight_bits - 1)).bit_length() + 1)

    @property
    def xlanes(self) -> int:
        """Crossbar column lanes Px: :attr:`crossbar_lanes`, or :attr:`lanes`."""
        return self.crossbar_lanes or self.lanes

    @property
    def fold(self) -> int:
        """LIF groups per crossbar group: ``Px / P`` (1 when the crossbar is as wide as
        the LIF bank)."""
        return self.xlanes // self.lanes

    @property
    def xgroups(self) -> int:
        """Crossbar column groups ceil(neurons / Px): the passes per step."""
        return -(-self.neurons // self.xlanes)

    @property
    def class_lanes_used(self) -> int:
        """Classifier lanes: ``class_lanes``, or every class when 0 (capped at ``classes``)."""
        return min(self.class_lanes or self.classes, self.classes)

    @property
    def class_groups(self) -> int:
        """Passes of the classifier over the embedding: ceil(classes / class lanes)."""
        return -(-self.classes // self.class_lanes_used)

    @property
    def head_blocks(self) -> int:
        return -(-self.dim // self.head_lanes)

    @property
    def row_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.rows)))

    @classmethod
    def from_bundle(cls, mb, *, lanes: int = 16, head_lanes: int = 16,
                    noise: bool | None = None, class_lanes: int = 0,
                    fixed_decay: bool = False, fixed_shifts: bool = False,
                    crossbar_lanes: int = 0, crossbar_bank_words: int = 0) -> CoreParams:
        """Sizes of a bundle's macro (single-layer heads, as the RTL implements).

        ``fixed_decay``: wire the bundle's ``decay_q`` into the LIF bank
        (:attr:`fixed_decay_q`) instead of a register and a multiplier per lane;
        ``fixed_shifts``: wire its ADC and head shifts (:attr:`fixed_adc_shift`,
        :attr:`fixed_head_shift`) instead of two registers and their barrel shifters.

        Raises :class:`~rramlsm.errors.BundleError` for a head the RTL cannot hold: more
        than one layer, or readout windows whose counters or head inputs exceed the RTL's
        limits (:data:`~rramlsm.sw.contract.MAX_WINDOWS`, the programming address width).
        """
        from rramlsm.errors import BundleError

        if len(mb.head.layers) != 1:
            raise BundleError(f"the RTL implements single-layer heads; this bundle's head has "
                              f"{len(mb.head.layers)} layers")
        windows = getattr(mb.lsm, "windows", 1)
        try:
            return cls(mb.lsm.inputs, mb.lsm.neurons, lanes, mb.lsm.adc_bits,
                       mb.head.layers[0].weight.shape[1], head_lanes, len(mb.classes),
                       bool(mb.lsm.noise_amplitude) if noise is None else noise, class_lanes,
                       contract.weight_code_bits(mb.lsm.levels), windows,
                       crossbar_lanes=crossbar_lanes, crossbar_bank_words=crossbar_bank_words,
                       trace_shift=(int(mb.lsm.trace_shift)
                                    if getattr(mb.lsm, "readout", "count") == "trace" else None),
                       **(fixed_params(bundle_registers(mb), fixed_decay=fixed_decay,
                                       fixed_shifts=fixed_shifts)
                          if fixed_decay or fixed_shifts else {}))
        except ValueError as e:
            raise BundleError(f"the RTL cannot hold this bundle's macro "
                              f"({windows} readout windows): {e}") from None


def pack_lanes(values: np.ndarray, width: int) -> list[int]:
    """Rows of ``values`` ``[words, lanes]`` (signed) -> integers, lane k at bit k * width."""
    v = np.asarray(values, np.int64) & ((1 << width) - 1)
    out = []
    for row in v:
        word = 0
        for k, x in enumerate(row.tolist()):
            word |= x << (k * width)
        out.append(word)
    return out


def unpack_lanes(word: int, lanes: int, width: int, signed: bool = True) -> list[int]:
    out = []
    for k in range(lanes):
        x = (word >> (k * width)) & ((1 << width) - 1)
        if signed and x >> (width - 1):
            x -= 1 << width
        out.append(x)
    return out


def _pad(a: np.ndarray, cols: int) -> np.ndarray:
    out = np.zeros((a.shape[0], cols), np.int64)
    out[:, : a.shape[1]] = a
    return out


def crossbar_words(codes: np.ndarray, p: CoreParams) -> list[int]:
    """Weight codes ``[rows, neurons]`` -> memory words of ``Px`` (:attr:`~CoreParams.xlanes`)
    cells of ``p.weight_bits``, address ``row * Gx + group`` (Gx =
    :attr:`~CoreParams.xgroups`); a code wider than that is refused (it would wrap)."""
    w = _pad(np.asarray(codes, np.int64), p.xgroups * p.xlanes)
    lim = 1 << (p.weight_bits - 1)
    if w.size and not (-lim <= w.min() and w.max() < lim):
        raise ValueError(f"weight codes {int(w.min())}..{int(w.max())} do not fit the core's "
                         f"{p.weight_bits}-bit cells ({-lim}..{lim - 1})")
    return pack_lanes(w.reshape(p.rows * p.xgroups, p.xlanes), p.weight_bits)


def head_weight_words(weight: np.ndarray, p: CoreParams) -> list[int]:
    """int8 ``[windows * neurons, dim]`` -> words at ``input * blocks + block`` (lanes =
    outputs; input ``w * neurons + j`` is neuron ``j``'s count in window ``w``)."""
    w = _pad(np.asarray(weight, np.int64), p.head_blocks * p.head_lanes)
    if w.shape[0] != p.head_inputs:
        raise ValueError(f"head weight has {w.shape[0]} input rows; the core's head reads "
                         f"windows x neurons = {p.head_inputs}")
    return pack_lanes(w.reshape(p.head_inputs * p.head_blocks, p.head_lanes),
                      contract.HEAD_WEIGHT_BITS)


def head_bias_words(bias: np.ndarray, p: CoreParams) -> list[int]:
    b = _pad(np.asarray(bias, np.int64)[None], p.head_blocks * p.head_lanes)
    return pack_lanes(b.reshape(p.head_blocks, p.head_lanes), contract.ACC_BITS)


def prototype_words(prototypes: np.ndarray, p: CoreParams) -> list[int]:
    """int8 ``[classes, dim]`` -> one word per embedding dimension, lane = class."""
    return pack_lanes(np.asarray(prototypes, np.int64).T, contract.ACT_BITS)
