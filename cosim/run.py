"""Run the cocotb testbench on the simulated macro: ``rramlsm cosim`` and the test suite."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import amaranth
import numpy as np

import rramlsm.hw as hw
from rramlsm.cosim.build import (
    TB_TOP,
    build,
    failed_testcases,
    runner_environment,
    sim_env,
    simulator,
)
from rramlsm.errors import RRAMLSMError
from rramlsm.hw.verilog import TOP, build_macro, write_verilog
from rramlsm.sw._io import atomic_path, write_json
from rramlsm.sw.bundle import load_bundle
from rramlsm.sw.datasets.builtin import DEFAULT_SOURCES, cache_dir
from rramlsm.sw.features import sample_frames

__all__ = ["run_cosim", "verilog_for", "expected_runs", "cosim_failures", "cache_folder",
           "rtl_check"]


def cache_folder() -> Path:
    """Where built Verilog and simulator builds are kept (in the dataset cache)."""
    return cache_dir() / "cosim"


def verilog_for(bundle_dir: Path, *, lanes: int, head_lanes: int,
                crossbar_lanes: dict[str, int] | None = None) -> Path:
    """The macro's Verilog for a bundle (weights baked in), cached by bundle content.
    ``crossbar_lanes``: per modality, a crossbar wider than the LIF bank."""
    manifest = json.loads((Path(bundle_dir) / "manifest.json").read_text())
    # 0 lanes is "as wide as the LIF bank", as a missing entry is: one key for one design,
    # so that `rramlsm cosim` (which names every core) reuses the demo's build.
    crossbar_lanes = {m: n for m, n in (crossbar_lanes or {}).items() if n}
    # The key covers the bundle, the sizes, the RTL's own source and Amaranth's version,
    # so editing the RTL never reuses stale Verilog.
    rtl = b"".join(p.read_bytes() for p in sorted(Path(hw.__file__).parent.glob("*.py")))
    blob = json.dumps([manifest["arrays"], manifest["modalities"], lanes, head_lanes,
                       crossbar_lanes, amaranth.__version__],
                      sort_keys=True, default=repr).encode() + rtl
    path = cache_folder() / "verilog" / f"{TOP}-{hashlib.sha256(blob).hexdigest()[:16]}.v"
    if not path.exists():
        macro, _ = build_macro(load_bundle(bundle_dir), lanes=lanes, head_lanes=head_lanes,
                               crossbar_lanes=crossbar_lanes)
        write_verilog(macro, path)
    return path


def expected_runs(patterns, scenarios, *, second_bundle: bool) -> list[str]:
    """Names of the runs the testbench records (``results.json``) for these settings."""
    kinds = ["samples"] + (["abort"] if "abort" in scenarios else []) + (
        ["reprogram"] if "reprogram" in scenarios and second_bundle else [])
    return [f"{kind}_{p[0]}_{p[1]}" for kind in kinds for p in patterns]


def cosim_failures(summary: dict) -> list[str]:
    """Why a cosimulation summary does not pass; empty when it does.

    A mismatch is not the only failure: a cocotb test that fails without recording a
    mismatch (a timeout, an exception in the testbench), a run that recorded no result,
    and a summary without test results or samples all count.
    """
    problems = []
    if summary.get("mismatches", 0):
        problems.append(f"{summary['mismatches']} mismatches")
    failed = summary.get("failed_tests")
    if failed is None:
        problems.append("no cocotb test results")
    elif failed:
        problems.append("failed cocotb tests: " + ", ".join(map(str, failed)))
    if summary.get("missing_runs"):
        problems.append("runs without results: " + ", ".join(summary["missing_runs"]))
    if not summary.get("samples"):
        problems.append("no samples checked")
    return problems


def run_cosim(bundle_dir: str | Path, frames: dict[str, np.ndarray], *,
              out: str | Path | None = None, lanes: int = 16, head_lanes: int = 16,
              patterns=((0.0, 0.0),), scenarios=(), second_bundle: str | Path | None = None,
              waves: bool = False, testcase: str | None = None,
              model_bundle: str | Path | None = None, sim: str | None = None,
              crossbar_lanes: dict[str, int] | None = None) -> dict:
    """Build (or reuse) the simulated macro and run the testbench on ``frames`` per modality.

    ``sim``: ``"verilator"`` or ``"icarus"`` (default ``$SIM``, else Verilator).
    ``crossbar_lanes``: per modality, a crossbar wider than the LIF bank (a multiple of
    ``lanes``; ``CoreParams.crossbar_lanes``).

    Returns ``{"samples", "mismatches", "cycles_per_sample_mean", "sim_cycles_per_s", ...}``.
    ``model_bundle`` makes the golden model predict from another bundle than the one
    built into the RTL (only to prove that the checker catches a difference).
    """
    from cocotb_tools.runner import get_runner  # cocotb: only when a simulation runs

    # The simulator runs in a scratch folder: every path it reads must be absolute.
    bundle_dir = Path(bundle_dir).resolve()
    second_bundle = Path(second_bundle).resolve() if second_bundle else None
    model_bundle = Path(model_bundle).resolve() if model_bundle else None
    sim = simulator(sim)
    verilog = verilog_for(bundle_dir, lanes=lanes, head_lanes=head_lanes,
                          crossbar_lanes=crossbar_lanes)
    t_build = time.perf_counter()
    bdir = build(verilog, cache_folder() / "builds", waves=waves, sim=sim)
    t_build = time.perf_counter() - t_build
    work = Path(tempfile.mkdtemp(prefix="rramlsm-cosim-"))
    try:
        np.savez(work / "vectors.npz", **{m: np.asarray(f, np.uint8) for m, f in frames.items()})
        job = {"vectors": str(work / "vectors.npz"), "results": str(work / "results.json"),
               "bundles": [str(model_bundle or bundle_dir)]
               + ([str(second_bundle)] if second_bundle else []),
               "lanes": lanes, "head_lanes": head_lanes,
               "crossbar_lanes": crossbar_lanes or {}, "patterns": [list(p) for p in patterns],
               "scenarios": list(scenarios)}
        (work / "job.json").write_text(json.dumps(job))
        env = {**sim_env(sim), "RRAMLSM_COSIM_JOB": str(work / "job.json")}
        t0 = time.perf_counter()
        xml = work / "results.xml"
        with runner_environment(env):
            get_runner(sim).test(
                test_module="rramlsm.cosim.tb_macro", hdl_toplevel=TB_TOP,
                hdl_toplevel_lang="verilog",
                build_dir=str(bdir),
                test_dir=str(work), extra_env=env, waves=waves, testcase=testcase,
                results_xml=str(xml), log_file=str(work / "sim.log"))
        wall = time.perf_counter() - t0
        if not xml.exists():
            log = (work / "sim.log").read_text()[-3000:] if (work / "sim.log").exists() else ""
            raise RRAMLSMError(f"the cosimulation did not run:\n{log}")
        failures = failed_testcases(xml)
        log_tail = ((work / "sim.log").read_text()[-4000:]
                    if failures and (work / "sim.log").exists() else "")
        if not (work / "results.json").exists():
            log = (work / "sim.log").read_text()[-3000:] if (work / "sim.log").exists() else ""
            raise RRAMLSMError(f"cosimulation produced no results:\n{log}")
        runs = json.loads((work / "results.json").read_text())
        mismatches = [m for r in runs.values() for m in r["mismatches"]]
        # A run that died before recording (a timeout, a crash) leaves only its absence.
        missing = ([] if testcase else
                   [r for r in expected_runs(patterns, scenarios,
                                             second_bundle=second_bundle is not None)
                    if r not in runs])
        cycles = [c for r in runs.values() for c in r["cycles"]]
        summary = {
            "samples": sum(r["samples"] for r in runs.values()),
            "samples_per_modality": {m: len(f) for m, f in frames.items()},
            "mismatches": len(mismatches),
            "mismatch_details": mismatches[:50],
            "failed_tests": failures,
            "missing_runs": missing,
            "log_tail": log_tail,
            "cycles_per_sample_mean": float(np.mean(cycles)) if cycles else 0.0,
            "sim_cycles_per_s": sum(r["sim_cycles"] for r in runs.values())
            / max(sum(r["wall_s"] for r in runs.values()), 1e-9),
            "runs": {k: {kk: v[kk] for kk in ("samples", "wall_s", "sim_cycles")}
                     for k, v in runs.items()},
            "build_seconds": t_build,
            "wall_seconds": wall,
            "lanes": lanes,
            "crossbar_lanes": crossbar_lanes or {},
            "simulator": sim,
        }
        if waves:
            fst = next(work.glob("*.fst"), None) or next(bdir.glob("*.fst"), None)
            if fst and out:
                with atomic_path(Path(out).parent / "cosim.fst") as tmp:
                    shutil.copyfile(fst, tmp)
                summary["waves"] = str(Path(out).parent / "cosim.fst")
        if out:
            write_json(Path(out), summary)
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rtl_check(bundle_dir: str | Path, n: int, out: str | Path | None = None, **kw) -> dict:
    """:func:`run_cosim` of ``n`` test samples per modality of the built-in data
    (:data:`~rramlsm.sw.datasets.builtin.DEFAULT_SOURCES`) through the bundle's macro."""
    frames = sample_frames(load_bundle(bundle_dir), DEFAULT_SOURCES, n)
    return run_cosim(bundle_dir, frames, out=out, **kw)
