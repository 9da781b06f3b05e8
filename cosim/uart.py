"""The board top's logic in simulation, driven by the real host driver over a UART model."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rramlsm.cosim.build import (
    UART_TB,
    UART_TOP,
    build,
    failed_testcases,
    runner_environment,
    sim_env,
    simulator,
)
from rramlsm.errors import RRAMLSMError

__all__ = ["run_uart_top"]


def run_uart_top(bundle_dir: str | Path, frames: dict[str, np.ndarray], *, lanes: int = 8,
                 head_lanes: int = 8, divisor: int = 8, dump: bool = True,
                 modalities: tuple[str, ...] | None = None,
                 model_bundle: str | Path | None = None, sim: str | None = None) -> dict:
    """Build :class:`~rramlsm.hw.bridge.BridgedMacro` of the bundle, run ``frames`` through
    :class:`~rramlsm.hw.hostlink.HostLink` over a simulated UART, compare with the golden
    model.  Returns a summary with ``mismatches`` (0 when bit-exact).  ``model_bundle``:
    predict from another bundle than the one built (only to prove the check can fail)."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner

    from rramlsm.cosim.run import cache_folder
    from rramlsm.hw.bridge import BridgedMacro
    from rramlsm.hw.verilog import build_macro
    from rramlsm.sw.bundle import load_bundle
    from rramlsm.sw.golden import golden_counts

    sim = simulator(sim)
    bundle = load_bundle(bundle_dir)
    mods = tuple(modalities or frames)
    macro, _ = build_macro(bundle, lanes=lanes, head_lanes=head_lanes, modalities=mods)
    work = Path(tempfile.mkdtemp(prefix="rramlsm-uart-"))
    try:
        src = work / f"{UART_TOP}.v"
        src.write_text(verilog.convert(BridgedMacro(macro, divisor), name=UART_TOP,
                                       emit_src=False))
        t0 = time.perf_counter()
        bdir = build(src, cache_folder() / "builds", top=UART_TB, sim=sim)
        t_build = time.perf_counter() - t0
        np.savez(work / "vectors.npz", **{m: np.asarray(frames[m], np.uint8) for m in mods})
        job = {"vectors": str(work / "vectors.npz"), "results": str(work / "results.json"),
               "divisor": divisor, "modalities": list(mods), "dump": dump}
        (work / "job.json").write_text(json.dumps(job))
        env = {**sim_env(sim), "RRAMLSM_COSIM_JOB": str(work / "job.json")}
        xml = work / "results.xml"
        t0 = time.perf_counter()
        with runner_environment(env):
            get_runner(sim).test(
                test_module="rramlsm.cosim.tb_uart", hdl_toplevel=UART_TB.name,
                hdl_toplevel_lang="verilog", build_dir=str(bdir), test_dir=str(work),
                extra_env=env, results_xml=str(xml), log_file=str(work / "sim.log"))
        wall = time.perf_counter() - t0
        log = (work / "sim.log").read_text()[-3000:] if (work / "sim.log").exists() else ""
        if not xml.exists() or not (work / "results.json").exists():
            raise RRAMLSMError(f"the UART cosimulation did not run:\n{log}")
        failed = failed_testcases(xml)
        res = json.loads((work / "results.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    model = load_bundle(model_bundle) if model_bundle else bundle
    mismatches = []
    for m in mods:
        mb = model.modalities[m]
        counts = golden_counts(mb.lsm, frames[m])
        emb, labels, scores = mb.embed(counts), mb.classify(counts), mb.scores(counts).max(1)
        for i, got in enumerate(res["samples"][m]):
            want = {"label": int(labels[i]), "score": int(scores[i])}
            if dump:
                want["counts"] = counts[i].tolist()
                want["embedding"] = emb[i].tolist()
            for k, v in want.items():
                if got[k] != v:
                    mismatches.append(f"{m} sample {i}: {k} {got[k]} != golden {v}")
    return {"samples": sum(len(res["samples"][m]) for m in mods), "mismatches": len(mismatches),
            "mismatch_details": mismatches[:20], "failed_tests": failed, "id": res["id"],
            "overflow": res["overflow"], "frame_errors": res["frame_errors"],
            "cycles": {m: [s["cycles"] for s in res["samples"][m]] for m in mods},
            "sim_time_ns": res["sim_time_ns"], "wall_seconds": wall, "build_seconds": t_build,
            "simulator": sim}
