"""Energy and latency per sample: the RRAM macro against a digital accelerator, from counted
events.

Every operation the macro performs on a sample is counted from the golden
model's own inputs and spike trains (:func:`count_events`): row activations,
cell reads, ADC conversions, LIF updates, head and classifier MACs, memory
accesses.  Energies per operation live in :class:`OpEnergies`, each with its
source; the model multiplies them out (:func:`macro_energy`).  The digital
baseline does the same LSM workload densely -- every weight of both arrays
fetched and multiplied every step, as a digital accelerator without event
skipping does (:func:`digital_energy`); an event-driven digital variant (only
the active rows) is reported beside it, since it is the fairer opponent.

Latency comes from the RTL's cycle model (``hw.cycles.predict``, exact; passed
in to :func:`energy_report`, since the software library does not import the RTL) at a
given clock, and from an analog-macro mode in which each time step is one
array read plus one ADC conversion per column in parallel.

All of this is a model: the assumptions are part of the output and printed
with every figure.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rramlsm.sw._checks import check_real
from rramlsm.sw.golden import golden_counts

__all__ = ["OpEnergies", "EventCounts", "count_events", "macro_energy", "digital_energy",
           "energy_figures",
           "analog_latency_ns", "energy_report", "PAPER_RATIOS", "ASSUMPTION_SOURCES"]

#: Energy efficiency against "cutting-edge digital hardware" (Lin et al., Nature
#: Computational Science 5, 37-47 (2025), abstract).
PAPER_RATIOS = (23.34, 160.0)

ASSUMPTION_SOURCES = {
    "cell_read": "E = V_read^2 * (G+ + G-) * t_read per cell pair on an active row (Ohmic "
                 "read); G from the device statistics of the group of Lin et al., Nat. Comput. "
                 "Sci. 2025 (34.06 uS mean), V_read and "
                 "t_read assumed (typical non-disturbing RRAM read)",
    "adc": "SAR ADC, Walden figure of merit x 2^bits per conversion; 20 fJ/conversion-step "
           "is typical of 40 nm-class SAR ADCs in B. Murmann's ADC performance survey",
    "digital": "M. Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm, 0.9 V): 8-bit "
               "add 0.03 pJ, 32-bit add 0.1 pJ, 8-bit multiply 0.2 pJ, 32-bit multiply "
               "3.1 pJ, 64-bit read of an 8 KB SRAM 10 pJ; used unscaled for 40 nm",
    "lif_multiply": "the LIF decay product is 24 x 10 bits: taken as a 16-bit multiply, "
                    "interpolated between Horowitz's 8- and 32-bit figures (quadratic in "
                    "width): 0.8 pJ",
}


@dataclass(frozen=True)
class OpEnergies:
    """Energy per operation.  Sources: :data:`ASSUMPTION_SOURCES`."""

    read_voltage_v: float = 0.2
    """Row read voltage (V)."""
    read_pulse_ns: float = 10.0
    """Read pulse per time step (ns)."""
    g_mean_us: float = 34.06
    """Mean device conductance (uS): N(34.06, 5.32) uS, the random-weight devices of the group
    of Lin et al. 2025 (:class:`~rramlsm.sw.device.RandomProjectionDevice`)."""
    adc_fom_fj: float = 20.0
    """ADC energy per conversion step (fJ): E_conv = fom * 2**bits."""
    adc_conversion_ns: float = 50.0
    """Time of one conversion (ns), all columns in parallel (analog-macro latency)."""
    add8_pj: float = 0.03
    add32_pj: float = 0.1
    mul8_pj: float = 0.2
    mul16_pj: float = 0.8
    mul32_pj: float = 3.1
    sram_pj_per_byte: float = 1.25
    """On-chip SRAM access per byte (10 pJ per 64-bit read of 8 KB)."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            check_real("OpEnergies", f.name, getattr(self, f.name), lo=0.0, lo_open=True)

    @property
    def cell_read_pj(self) -> float:
        """One differential cell pair on an active row, one read."""
        g = 2 * self.g_mean_us * 1e-6
        return self.read_voltage_v ** 2 * g * self.read_pulse_ns * 1e-9 * 1e12

    def adc_pj(self, bits: int) -> float:
        return self.adc_fom_fj * 1e-3 * (1 << bits)

    @property
    def mac8_pj(self) -> float:
        """int8 x int8 multiply with a 32-bit accumulate."""
        return self.mul8_pj + self.add32_pj

    @property
    def lif_update_pj(self) -> float:
        """Decay product, input add, threshold compare, counter increment (state in
        registers next to the columns; its SRAM traffic is counted separately)."""
        return self.mul16_pj + 2 * self.add32_pj + self.add8_pj


@dataclass
class EventCounts:
    """Operations of one macro on one sample (means over the samples counted)."""

    inputs: int
    neurons: int
    steps: int
    adc_bits: int
    dim: int
    classes: int
    active_rows: float
    """Row activations: input events plus recurrent spikes, summed over steps."""
    active_steps: float
    """Steps with at least one active row (the array is read, the ADCs convert)."""
    spikes: float
    windows: int = 1
    """Readout windows: the head reads ``windows * neurons`` counts."""
    readout: str = "count"
    """``"trace"``: every LIF update also updates the neuron's 16-bit trace."""

    @property
    def features(self) -> int:
        return self.windows * self.neurons

    @property
    def cell_reads(self) -> float:
        return self.active_rows * self.neurons

    @property
    def adc_conversions(self) -> float:
        return self.active_steps * self.neurons

    @property
    def lif_updates(self) -> int:
        return self.steps * self.neurons

    @property
    def trace_updates(self) -> int:
        """Trace register updates (``x - (x >> k) + s``: a subtract and an add)."""
        return self.lif_updates if self.readout == "trace" else 0

    @property
    def head_macs(self) -> int:
        return self.features * self.dim

    @property
    def classifier_macs(self) -> int:
        return self.dim * self.classes

    @property
    def dense_macs(self) -> int:
        """A digital LSM without event skipping: every weight, every step."""
        return (self.inputs + self.neurons) * self.neurons * self.steps


def count_events(lsm, head_dim: int, classes: int, frames: np.ndarray,
                 trains: np.ndarray) -> EventCounts:
    """Mean operation counts over ``frames`` ``[N, T, inputs]`` with the golden model's spike
    trains ``trains`` ``[N, T, neurons]``."""
    frames, trains = np.asarray(frames), np.asarray(trains)
    rec = np.concatenate([np.zeros_like(trains[:, :1].sum(2)), trains[:, :-1].sum(2)], axis=1)
    rows = frames.sum(2).astype(np.int64) + rec                      # [N, T]
    return EventCounts(lsm.inputs, lsm.neurons, lsm.steps, lsm.adc_bits, head_dim, classes,
                       float(rows.sum(1).mean()), float((rows > 0).sum(1).mean()),
                       float(trains.sum((1, 2)).mean()), getattr(lsm, "windows", 1),
                       getattr(lsm, "readout", "count"))


def _trace_energy(c: EventCounts, e: OpEnergies) -> dict[str, float]:
    """The trace readout's cost: two 32-bit adds per update (an upper bound for the 16-bit
    subtract and add), its 2-byte register read and written."""
    if not c.trace_updates:
        return {}
    return {"trace": c.trace_updates * 2 * e.add32_pj,
            "trace_sram": c.trace_updates * 4 * e.sram_pj_per_byte}


def macro_energy(c: EventCounts, e: OpEnergies = OpEnergies()) -> dict[str, float]:
    """Energy per sample (pJ) of the in-memory macro, by operation."""
    return {**_trace_energy(c, e),
        "cell_reads": c.cell_reads * e.cell_read_pj,
        "adc": c.adc_conversions * e.adc_pj(c.adc_bits),
        "lif": c.lif_updates * e.lif_update_pj,
        # Membrane (3 bytes) and counter (1 byte) read and written per update.
        "lif_state_sram": c.lif_updates * 8 * e.sram_pj_per_byte,
        "head": c.head_macs * (e.mac8_pj + e.sram_pj_per_byte),     # weight fetch per MAC
        "classifier": c.classifier_macs * (e.mac8_pj + e.sram_pj_per_byte),
    }


def digital_energy(c: EventCounts, e: OpEnergies = OpEnergies(), *,
                   event_driven: bool = False) -> dict[str, float]:
    """Energy per sample (pJ) of a digital accelerator running the same LSM with int8
    weights from on-chip SRAM: dense (every weight every step) or event-driven (only the
    rows of active inputs and spikes).  Head, classifier and LIF as in the macro."""
    macs = c.cell_reads if event_driven else c.dense_macs
    return {**_trace_energy(c, e),
        "lsm_macs": macs * e.mac8_pj,
        "weight_fetch": macs * e.sram_pj_per_byte,
        "lif": c.lif_updates * e.lif_update_pj,
        "lif_state_sram": c.lif_updates * 8 * e.sram_pj_per_byte,
        "head": c.head_macs * (e.mac8_pj + e.sram_pj_per_byte),
        "classifier": c.classifier_macs * (e.mac8_pj + e.sram_pj_per_byte),
    }


def energy_figures(c: EventCounts, e: OpEnergies = OpEnergies()) -> dict:
    """Macro, dense-digital and event-driven-digital energy of one macro's counts: the
    breakdowns (pJ), the totals (nJ per sample) and the ratios to the macro."""
    mac, dig = macro_energy(c, e), digital_energy(c, e)
    ev = digital_energy(c, e, event_driven=True)
    total = sum(mac.values())
    return {"macro_pj": mac, "digital_pj": dig, "digital_event_driven_pj": ev,
            "macro_nj_per_sample": total / 1e3,
            "digital_nj_per_sample": sum(dig.values()) / 1e3,
            "digital_event_driven_nj_per_sample": sum(ev.values()) / 1e3,
            "ratio": sum(dig.values()) / total, "ratio_event_driven": sum(ev.values()) / total}


def analog_latency_ns(c: EventCounts, e: OpEnergies = OpEnergies(), *, head_lanes: int = 16,
                      clock_mhz: float = 100.0) -> float:
    """Analog-macro latency: per step one array read and one conversion (all columns in
    parallel), then the digital head and classifier at ``clock_mhz``."""
    per_step = e.read_pulse_ns + e.adc_conversion_ns
    digital_cycles = math.ceil(c.dim / head_lanes) * c.features + c.dim * 1
    return c.steps * per_step + digital_cycles * 1e3 / clock_mhz


_RAPL = "/sys/class/powercap/intel-rapl:0/energy_uj"


def measured_energy(fn) -> dict:
    """Run ``fn()`` and measure its energy where the machine allows: CPU package energy
    through RAPL, GPU energy through NVML.  Returns what was measured, and why not."""
    import time
    from pathlib import Path

    out = {}
    rapl = Path(_RAPL)
    try:
        before = int(rapl.read_text())
    except (OSError, ValueError) as err:
        out["cpu_rapl"] = {"available": False, "reason": f"{_RAPL}: {err.__class__.__name__}"}
        before = None
    nvml = None
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        nvml = pynvml.nvmlDeviceGetHandleByIndex(0)
        gpu_before = pynvml.nvmlDeviceGetTotalEnergyConsumption(nvml)   # mJ
    except Exception as err:  # noqa: BLE001 - any NVML failure means "not measurable"
        out["gpu_nvml"] = {"available": False, "reason": f"{err.__class__.__name__}: {err}"[:200]}
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    if before is not None:
        out["cpu_rapl"] = {"available": True, "joules": (int(rapl.read_text()) - before) / 1e6,
                           "seconds": seconds}
    if nvml is not None:
        out["gpu_nvml"] = {"available": True, "seconds": seconds, "joules":
                           (pynvml.nvmlDeviceGetTotalEnergyConsumption(nvml) - gpu_before) / 1e3}
    out["seconds"] = seconds
    return out


def energy_report(bundle, frames: dict, *,
                  rtl_cycles: Callable[[object, np.ndarray, np.ndarray], float],
                  clock_mhz: float = 100.0, lanes: int = 16, head_lanes: int = 16,
                  energies: OpEnergies | None = None) -> dict:
    """Energy and latency per sample of each macro of ``bundle`` on ``frames`` (per modality),
    against the digital baseline.  ``rtl_cycles(modality_bundle, frames, spike_trains)``:
    the RTL's mean cycles per sample at ``lanes`` / ``head_lanes`` (the cycle model,
    :func:`rramlsm.hw.cycles.macro_cycles`)."""
    e = energies or OpEnergies()
    out = {"modalities": {}}
    for m, fr in frames.items():
        mb = bundle.modalities[m]
        _, trains = golden_counts(mb.lsm, fr, record=True)
        c = count_events(mb.lsm, mb.head.layers[-1].weight.shape[1], len(mb.classes), fr, trains)
        cycles = rtl_cycles(mb, fr, trains)
        out["modalities"][m] = {
            "samples": len(fr),
            "events": {k: getattr(c, k) for k in ("active_rows", "active_steps", "spikes",
                                                  "cell_reads", "adc_conversions",
                                                  "lif_updates", "trace_updates",
                                                  "head_macs", "classifier_macs",
                                                  "dense_macs")},
            **energy_figures(c, e),
            "latency_rtl_us": cycles / clock_mhz,
            "latency_analog_us": analog_latency_ns(c, e, head_lanes=head_lanes,
                                                   clock_mhz=clock_mhz) / 1e3,
            "rtl_cycles_per_sample": cycles,
        }
    mods = out["modalities"]
    first = "visual" if "visual" in mods else next(iter(mods))
    out.update({
        "modality": first,
        "macro_nj_per_sample": mods[first]["macro_nj_per_sample"],
        "digital_nj_per_sample": mods[first]["digital_nj_per_sample"],
        "ratio": mods[first]["ratio"],
        "paper_ratios": list(PAPER_RATIOS),
        "clock_mhz": clock_mhz, "lanes": lanes,
        "assumptions": {"energies": dataclasses.asdict(e), "cell_read_pj": e.cell_read_pj,
                        "sources": ASSUMPTION_SOURCES},
    })
    return out
