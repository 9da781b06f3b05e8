"""Run the block testbenches (``cosim/tb_blocks.py``) through cocotb's runner."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from amaranth import Module, signed
from amaranth.back import verilog
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rramlsm.cosim.build import (
    SimTop,
    build,
    failed_testcases,
    runner_environment,
    sim_env,
    simulator,
)
from rramlsm.cosim.run import cache_folder
from rramlsm.errors import RRAMLSMError
from rramlsm.hw.crossbar import Crossbar
from rramlsm.hw.head import Classifier, Head
from rramlsm.hw.params import (
    CoreParams,
    crossbar_words,
    head_bias_words,
    head_weight_words,
    prototype_words,
)
from rramlsm.hw.periphery import ADC, NOISE_AMP_BITS, LIFBank, ReadNoise
from rramlsm.sw import contract

__all__ = ["run_block", "NoisyADC", "BLOCKS"]

#: The blocks :func:`run_block` tests.
BLOCKS = ("crossbar", "adc", "lif", "head", "classifier")


class NoisyADC(wiring.Component):
    """The core's column path between crossbar and LIF bank: :class:`ReadNoise` added to
    the P column sums, then the :class:`ADC`, combined as ``LSMCore`` combines them.

    Both blocks are combinational; the codes of a ``valid`` cycle are registered here
    (``codes_valid`` one cycle later) so the testbench has a clock to pace them by.
    """

    def __init__(self, params: CoreParams):
        self.params = p = params
        super().__init__({
            "valid": In(1),
            "sums": In(data.ArrayLayout(signed(contract.COLUMN_SUM_BITS), p.lanes)),
            "shift": In(range(contract.COLUMN_SUM_BITS + 1)),
            "seed": In(contract.NOISE_SEED_BITS),
            "sample": In(contract.NOISE_KEY_BITS),
            "step": In(contract.STEP_BITS),
            "group": In(range(p.groups)),
            "amplitude": In(NOISE_AMP_BITS),
            "codes_valid": Out(1),
            "codes": Out(data.ArrayLayout(signed(p.adc_bits), p.lanes)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.noise = noise = ReadNoise(p)
        m.submodules.adc = adc = ADC(p)
        m.d.comb += [noise.seed.eq(self.seed), noise.sample.eq(self.sample),
                     noise.step.eq(self.step), noise.group.eq(self.group),
                     noise.amplitude.eq(self.amplitude), adc.shift.eq(self.shift)]
        for k in range(p.lanes):
            m.d.comb += adc.sums[k].eq(self.sums[k] + noise.noise[k])
        m.d.sync += self.codes_valid.eq(self.valid)
        with m.If(self.valid):
            m.d.sync += self.codes.eq(adc.codes)
        return m


def _random_layer(rng, p: CoreParams, shift: int, lut) -> dict:
    """A head layer (int8 weight, int32 bias, shift, int8 table) as JSON lists."""
    return {"weight": rng.integers(-128, 128, (p.head_inputs, p.dim)).tolist(),
            "bias": rng.integers(-(1 << 14), 1 << 14, p.dim).tolist(), "shift": shift,
            "lut": np.asarray(lut, np.int64).tolist()}


def _dut(block: str, p: CoreParams, rng, job: dict):
    """The block's component, its memory images (and what the testbench needs) in ``job``."""
    if block == "crossbar":
        codes = rng.integers(-255, 256, (p.rows, p.neurons))
        job["codes"] = codes.tolist()
        return Crossbar(p, crossbar_words(codes, p))
    if block == "adc":
        return NoisyADC(p)
    if block == "lif":
        return LIFBank(p)
    if block == "head":
        # The first layer is the memories' initial image, the second is programmed
        # through the write ports; a GELU table, then an arbitrary one.
        job["layers"] = [_random_layer(rng, p, 10, contract.gelu_lut(0.05)),
                         _random_layer(rng, p, 7, rng.integers(-128, 128, 256))]
        first = job["layers"][0]
        return Head(p, {"weight": head_weight_words(np.array(first["weight"]), p),
                        "bias": head_bias_words(np.array(first["bias"]), p),
                        "lut": [x & 0xFF for x in first["lut"]]})
    if block == "classifier":
        # Two prototype sets (initial image, then programmed), each with a tie (rows 1, 3).
        protos = rng.integers(-128, 128, (2, p.classes, p.dim))
        if p.classes > 3:
            protos[:, 3] = protos[:, 1]
        job["prototypes"] = protos.tolist()
        return Classifier(p, prototype_words(protos[0], p))
    raise ValueError(f"unknown block {block!r}; expected one of {', '.join(BLOCKS)}")


def run_block(block: str, *, lanes: int = 4, neurons: int = 10, inputs: int = 7,
              adc_bits: int = 8, dim: int = 6, head_lanes: int = 4, classes: int = 5,
              class_lanes: int = 0, seed: int = 0, steps: int = 40, decay_q: int = 922,
              threshold_q: int = 300, sim: str | None = None) -> dict:
    """Generate one block's Verilog (``block`` in :data:`BLOCKS`), build it for ``sim``
    (default ``$SIM``, else Verilator) and run its cocotb testbench.

    Returns ``{test name: [failures]}``; raises if the simulation did not run.
    """
    from cocotb_tools.runner import get_runner

    sim = simulator(sim)
    p = CoreParams(inputs, neurons, lanes, adc_bits, dim, head_lanes, classes,
                   class_lanes=class_lanes)
    rng = np.random.default_rng(seed)
    job = {"block": block, "params": dataclasses.asdict(p), "seed": seed, "steps": steps,
           "decay_q": decay_q, "threshold_q": threshold_q}
    dut = _dut(block, p, rng, job)
    work = Path(tempfile.mkdtemp(prefix=f"rramlsm-{block}-"))
    try:
        src = work / f"{block}.v"
        src.write_text(verilog.convert(dut, name=block, emit_src=False))
        job["results"] = str(work / "results.json")
        (work / "job.json").write_text(json.dumps(job))
        env = {**sim_env(sim), "RRAMLSM_COSIM_JOB": str(work / "job.json")}
        # Built as the macro is (the block is its own top, its ports VPI-visible): a build
        # of the same Verilog is reused, and Verilator's runtime objects are kept.
        bdir = build(src, cache_folder() / "builds", top=SimTop(block, "", ("*",)), sim=sim)
        with runner_environment(env):
            get_runner(sim).test(test_module="rramlsm.cosim.tb_blocks", hdl_toplevel=block,
                                 hdl_toplevel_lang="verilog",
                                 build_dir=str(bdir), test_dir=str(work), extra_env=env,
                                 results_xml=str(work / "results.xml"),
                                 log_file=str(work / "sim.log"))
        if not (work / "results.json").exists():
            raise RRAMLSMError(f"block testbench {block} did not run")
        failed = failed_testcases(work / "results.xml")
        results = json.loads((work / "results.json").read_text())
        results["_failed_tests"] = failed
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)
