"""Run the block testbenches (``cosim/tb_blocks.py``) through cocotb's runner."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rramlsm.cosim.build import (
    failed_testcases,
    runner_environment,
    sim_build_args,
    sim_env,
    simulator,
)
from rramlsm.errors import RRAMLSMError

__all__ = ["run_block"]


def run_block(block: str, *, lanes: int = 4, neurons: int = 10, inputs: int = 7,
              adc_bits: int = 8, seed: int = 0, steps: int = 40, decay_q: int = 922,
              threshold_q: int = 300, sim: str | None = None) -> dict:
    """Generate one block's Verilog, build it for ``sim`` (default ``$SIM``, else
    Verilator) and run its cocotb testbench.

    Returns ``{test name: [failures]}``; raises if the simulation did not run.
    """
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner

    from rramlsm.hw.crossbar import Crossbar
    from rramlsm.hw.params import CoreParams, crossbar_words
    from rramlsm.hw.periphery import LIFBank

    sim = simulator(sim)
    p = CoreParams(inputs, neurons, lanes, adc_bits)
    rng = np.random.default_rng(seed)
    job = {"block": block, "lanes": lanes, "inputs": inputs, "neurons": neurons,
           "adc_bits": adc_bits, "seed": seed, "steps": steps, "decay_q": decay_q,
           "threshold_q": threshold_q}
    if block == "crossbar":
        codes = rng.integers(-255, 256, (p.rows, neurons))
        dut = Crossbar(p, crossbar_words(codes, p))
        job["codes"] = codes.tolist()
    elif block == "lif":
        dut = LIFBank(p)
    else:
        raise ValueError(f"unknown block {block!r}; expected 'crossbar' or 'lif'")
    work = Path(tempfile.mkdtemp(prefix=f"rramlsm-{block}-"))
    try:
        src = work / f"{block}.v"
        src.write_text(verilog.convert(dut, name=block, emit_src=False))
        job["results"] = str(work / "results.json")
        (work / "job.json").write_text(json.dumps(job))
        env = {**sim_env(sim), "RRAMLSM_COSIM_JOB": str(work / "job.json")}
        with runner_environment(env):
            runner = get_runner(sim)
            runner.build(sources=[str(src)], hdl_toplevel=block, build_dir=str(work / "build"),
                         build_args=sim_build_args(sim),
                         timescale=("1ns", "1ps"), log_file=str(work / "build.log"))
            runner.test(test_module="rramlsm.cosim.tb_blocks", hdl_toplevel=block,
                        build_dir=str(work / "build"), test_dir=str(work), extra_env=env,
                        results_xml=str(work / "results.xml"), log_file=str(work / "sim.log"))
        if not (work / "results.json").exists():
            raise RRAMLSMError(f"block testbench {block} did not run")
        failed = failed_testcases(work / "results.xml")
        results = json.loads((work / "results.json").read_text())
        results["_failed_tests"] = failed
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)
