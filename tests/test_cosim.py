"""Cosimulation: the generated Verilog on Verilator, driven by cocotb, against the golden model.

The simulator is ``$SIM`` (default Verilator): ``SIM=icarus pytest tests/test_cosim.py``
runs every test here on Icarus.  Where Icarus is installed, the quicker tests also
run on it in the default suite (``sim`` parameter).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rramlsm.cli import main
from rramlsm.cosim.blocks import run_block
from rramlsm.cosim.build import SimTop, build, simulator
from rramlsm.cosim.run import cosim_failures, expected_runs, run_cosim
from rramlsm.errors import RRAMLSMError
from rramlsm.sw.bundle import Bundle, ModalityBundle, load_bundle, quantize_prototypes, write_bundle
from rramlsm.sw.features import sample_frames
from rramlsm.sw.golden import IntegerLSM
from rramlsm.sw.heads import HeadConfig, ProjectionHead, quantize_head

#: Both simulators where both are installed; Icarus is skipped (not failed) without it.
SIMS = [pytest.param("verilator"),
        pytest.param("icarus", marks=pytest.mark.skipif(
            not shutil.which("iverilog"), reason="Icarus Verilog (iverilog) is not installed"))]


def _noise_bundle(path, seed=0, noise=700, windows=None, readout=None):
    import torch

    rng = np.random.default_rng(seed)
    mods = {}
    for m, inputs in (("visual", 16), ("audio", 8)):
        rows = inputs + 12
        w = (windows or {}).get(m, 1)
        lsm = IntegerLSM(rng.integers(40, 140, (rows, 12)).astype(np.uint8),
                         rng.integers(40, 140, (rows, 12)).astype(np.uint8),
                         inputs, 12, 10, 900, 150, 8, 1, noise, 17 + seed, w, 256,
                         *(readout or {}).get(m, ("count", 4)))
        torch.manual_seed(seed)
        head = quantize_head(ProjectionHead(HeadConfig(inputs=12 * w, dim=8)),
                             rng.integers(0, 10, (40, 12 * w)).astype(np.uint8), scale=10)
        mods[m] = ModalityBundle(lsm, head, quantize_prototypes(rng.normal(size=(4, 8))),
                                 np.arange(1, 5))
    return write_bundle(path, Bundle(mods))


@pytest.fixture(scope="module")
def cosim_frames(demo_run):
    return sample_frames(load_bundle(demo_run / "bundle"), {"visual": "digits",
                                                            "audio": "speech"}, 10)


def test_quick_cosim_10_samples_per_modality_with_stalls_abort_and_reprogramming(
        demo_run, cosim_frames, tmp_path):
    s = run_cosim(demo_run / "bundle", cosim_frames, out=tmp_path / "cosim.json",
                  patterns=[(0.0, 0.0), (0.25, 0.4)], scenarios=["abort", "reprogram"],
                  second_bundle=demo_run / "models" / "seed1")
    assert s["failed_tests"] == [] and s["mismatches"] == 0, s["mismatch_details"]
    assert s["missing_runs"] == [] and cosim_failures(s) == []
    assert s["samples_per_modality"] == {"visual": 10, "audio": 10}
    runs = s["runs"]
    assert runs["samples_0.0_0.0"]["samples"] == 20 and runs["samples_0.25_0.4"]["samples"] == 20
    assert runs["abort_0.0_0.0"]["samples"] == 12 and runs["reprogram_0.0_0.0"]["samples"] == 12
    on_disk = json.loads((tmp_path / "cosim.json").read_text())
    for key in ("samples", "mismatches", "cycles_per_sample_mean", "sim_cycles_per_s"):
        assert key in on_disk
    assert on_disk["cycles_per_sample_mean"] > 1000 and on_disk["sim_cycles_per_s"] > 0


def test_expected_runs_are_the_names_the_testbench_records():
    assert expected_runs([(0.0, 0.0), (0.25, 0.4)], ["abort", "reprogram"],
                         second_bundle=True) == [
        "samples_0.0_0.0", "samples_0.25_0.4", "abort_0.0_0.0", "abort_0.25_0.4",
        "reprogram_0.0_0.0", "reprogram_0.25_0.4"]
    # Reprogramming needs a second bundle; without one the testbench skips it.
    assert expected_runs([(0.0, 0.0)], ["reprogram"], second_bundle=False) == ["samples_0.0_0.0"]


_PASSING = {"samples": 10, "mismatches": 0, "failed_tests": [], "missing_runs": [],
            "cycles_per_sample_mean": 900.0, "sim_cycles_per_s": 1e5, "build_seconds": 1.0}


@pytest.mark.parametrize("change,reason", [
    ({"failed_tests": ["run_test_samples"]}, "failed cocotb tests: run_test_samples"),
    ({"missing_runs": ["samples_0.0_0.0"]}, "runs without results: samples_0.0_0.0"),
    ({"failed_tests": None}, "no cocotb test results"),
    ({"samples": 0}, "no samples checked"),
    ({"mismatches": 2}, "2 mismatches")])
def test_demo_rtl_check_fails_on_failed_or_missing_cocotb_results(monkeypatch, tmp_path,
                                                                   change, reason):
    """A testbench that times out records no mismatch: only its failed or missing result
    shows that the RTL was not checked, and the demo's check must say so."""
    import rramlsm.commands.train as train_command

    monkeypatch.setattr(train_command, "rtl_check", lambda bundle, n: dict(_PASSING))
    assert train_command.demo_rtl_check(tmp_path, 5)["passed"]
    summary = {k: v for k, v in {**_PASSING, **change}.items() if v is not None}
    monkeypatch.setattr(train_command, "rtl_check", lambda bundle, n: summary)
    r = train_command.demo_rtl_check(tmp_path, 5)
    assert r["ran"] and not r["passed"] and reason in r["failures"]


def test_cosim_catches_a_wrong_model(demo_run, cosim_frames):
    few = {m: f[:2] for m, f in cosim_frames.items()}
    s = run_cosim(demo_run / "bundle", few, model_bundle=demo_run / "models" / "seed1")
    assert s["mismatches"] > 0 and s["failed_tests"]


@pytest.mark.parametrize("sim", SIMS)
def test_cosim_read_noise_windows_stalls_abort_and_waves(tmp_path, sim):
    """Read noise and readout windows (W = 2 visual counts: the counter bank's window-major
    counts, the head over W x N counts; W = 5 audio traces, shift 2: the trace registers
    and their samples at the windows' ends) in the generated Verilog, the visual core's
    crossbar twice as wide as its LIF bank (8 lanes, P = 4: two passes a step, the
    second half padding): readout, class,
    score and cycles equal the golden and cycle models, also with gaps, back-pressure, an
    abort and reprogramming, with waves written."""
    windows = {"visual": 2, "audio": 5}
    readout = {"audio": ("trace", 2)}
    b = _noise_bundle(tmp_path / "noisy", windows=windows, readout=readout)
    rng = np.random.default_rng(1)
    frames = {"visual": (rng.random((6, 10, 16)) < 0.3).astype(np.uint8),
              "audio": (rng.random((6, 10, 8)) < 0.3).astype(np.uint8)}
    s = run_cosim(b, frames, lanes=4, head_lanes=4, patterns=[(0.0, 0.0), (0.3, 0.3)],
                  crossbar_lanes={"visual": 8},
                  scenarios=["abort", "reprogram"], out=tmp_path / "cosim.json", waves=True,
                  second_bundle=_noise_bundle(tmp_path / "noisy2", seed=1, windows=windows,
                                              readout=readout),
                  sim=sim)
    assert s["mismatches"] == 0 and s["failed_tests"] == [], (s["mismatch_details"],
                                                               s["log_tail"])
    assert s["simulator"] == sim and s["crossbar_lanes"] == {"visual": 8}
    assert s["runs"]["abort_0.3_0.3"]["samples"] > 0 and s["runs"]["reprogram_0.3_0.3"]["samples"]
    fst = (tmp_path / "cosim.fst").read_bytes()
    assert len(fst) > 1000 and fst[0] == 0  # FST files open with a header block (type 0)


def test_cosim_command(demo_run, tmp_path, capsys, monkeypatch):
    # A bundle path relative to the working folder (the simulator runs elsewhere).
    monkeypatch.chdir(demo_run)
    assert main(["cosim", "--bundle", "bundle", "--samples", "2", "--out",
                 str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "0 mismatches" in out and "simulated cycles/s" in out
    assert json.loads((tmp_path / "c.json").read_text())["samples"] == 4
    assert main(["cosim", "--bundle", str(demo_run / "bundle"), "--source", "speech",
                 "--source", "nmnist:/nonexistent", "--samples", "1"]) == 2


def test_only_the_testbenches_get_their_assertions_rewritten(monkeypatch):
    """cocotb rewrites assertions (pytest's hook) in the files COCOTB_REWRITE_ASSERTION_FILES
    names, every ``*.py`` by default: then every module the simulator imports (torch, SciPy)
    is compiled from source on every run.  Ours name the testbenches; a user's setting
    stands."""
    from fnmatch import fnmatch

    import rramlsm.cosim
    from rramlsm.cosim.build import sim_env
    from rramlsm.sw import golden

    # The testbench modules read their job when imported: named by file, not imported.
    testbenches = sorted(Path(rramlsm.cosim.__file__).parent.glob("tb_*.py"))
    assert [t.name for t in testbenches] == ["tb_blocks.py", "tb_macro.py", "tb_uart.py"]
    monkeypatch.delenv("COCOTB_REWRITE_ASSERTION_FILES", raising=False)
    for sim in ("verilator", "icarus"):
        pattern = sim_env(sim)["COCOTB_REWRITE_ASSERTION_FILES"]
        assert all(fnmatch(t.name, pattern) for t in testbenches)
        for other in (golden.__file__, np.__file__, pytest.__file__):
            assert not fnmatch(Path(other).name, pattern)
    monkeypatch.setenv("COCOTB_REWRITE_ASSERTION_FILES", "*.py")
    assert sim_env("verilator")["COCOTB_REWRITE_ASSERTION_FILES"] == "*.py"


def test_verilator_builds_share_the_runtime_objects(tmp_path):
    """A Verilator build after another (here of a second design, into the run's build
    cache, where other tests' builds may have kept them already) takes the runtime
    library's objects kept before, and still links its simulator."""
    from rramlsm.cosim.run import cache_folder

    top = SimTop("tiny_tb", "`timescale 1ns/1ps\nmodule tiny_tb(input rst, output q);\n"
                            "  tiny dut(.rst(rst), .q(q));\nendmodule\n", ("rst", "q"))
    root, logs = cache_folder() / "builds", []
    for value in (0, 1):
        v = tmp_path / f"tiny{value}.v"
        v.write_text(f"module tiny(input rst, output q);\n  assign q = rst ^ 1'b{value};\n"
                     f"endmodule // {tmp_path.name}\n")   # a design no other build has
        bdir = build(v, root, top=top)
        assert (bdir / "tiny_tb").stat().st_size > 0
        logs.append((bdir / "build.log").read_text())
    assert "verilated_vpi.cpp" not in logs[1]
    assert "verilated_vpi.o" in logs[1]          # linked in, from the kept copy
    assert any((d / "verilated_vpi.o").stat().st_size > 0
               for d in (root / "verilator-runtime").iterdir())


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("block,kw", [
    # A block's second configuration runs in make test-long (each is a Verilator build of
    # about 20 s; Amaranth's simulator runs the same configurations in make test: decay 1023
    # with threshold 1 in tests/hw/test_core.py, 5 neurons and 3 outputs and 2 classifier
    # lanes in tests/hw/test_head.py).
    ("lif", {}),
    pytest.param("lif", {"decay_q": 1023, "threshold_q": 1, "steps": 20}, marks=pytest.mark.long),
    ("crossbar", {"lanes": 3, "neurons": 7}),          # the last group half padding
    ("adc", {}), ("head", {}),
    pytest.param("head", {"neurons": 5, "dim": 3}, marks=pytest.mark.long),  # one output block
    ("classifier", {}),                               # all 5 classes at once
    pytest.param("classifier", {"class_lanes": 2},     # 2 lanes: 3 groups of classes
                 marks=pytest.mark.long)])
def test_block_testbenches(block, kw, sim):
    """Each block's generated Verilog against its golden twin in ``hw/reference.py``."""
    r = run_block(block, sim=sim, **kw)
    assert r.pop("_failed_tests") == []
    assert len(r) == 2 and all(v == [] for v in r.values())   # two idle patterns, no failure


def test_simulator_choice_is_checked(monkeypatch):
    monkeypatch.setenv("SIM", "questa")
    with pytest.raises(RRAMLSMError, match="simulator 'questa' .SIM. is not supported; "
                                           "expected one of verilator, icarus"):
        simulator()
    monkeypatch.setenv("SIM", "icarus")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RRAMLSMError, match="SIM=icarus needs Icarus Verilog's iverilog"):
        simulator()
    assert simulator("verilator") == "verilator"


def test_cosim_command_passes_the_simulator_on(demo_run, monkeypatch, capsys):
    """``--sim icarus`` reaches the simulator check (the demo's P = 16 macro runs at
    ~500 simulated cycles/s on Icarus, minutes per sample: too slow for this suite)."""
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["cosim", "--bundle", str(demo_run / "bundle"), "--samples", "1",
                 "--sim", "icarus"]) == 2
    assert "SIM=icarus needs Icarus Verilog's iverilog" in capsys.readouterr().err
