"""One command-line convention and no tracebacks for user errors.

Every sub-command is run in-process with the bad inputs a user makes -- a missing file, a
folder where a file is expected (and the reverse), an output that cannot be written, a
malformed source string, a wrong bundle, a number out of range -- and must exit with status 2
and one line that names the argument.  Every case fails before any long work (no dataset is
built, nothing is synthesised), so the whole file runs in seconds.  Only internal errors may
print a traceback, and then they say it is a bug.
"""

from __future__ import annotations

import argparse
import errno
import json
from pathlib import Path

import numpy as np
import pytest

from rramlsm.arguments import output_file, output_folder
from rramlsm.cli import BUG_NOTICE, build_parser, main
from rramlsm.errors import ConfigError, RRAMLSMError
from rramlsm.sw.bundle import Bundle, load_bundle, write_bundle
from rramlsm.sw.datasets import write_nmnist_file
from rramlsm.sw.events import make_vision_events
from tests.test_cosim import _noise_bundle


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """Named paths for the cases: ``{missing}``, ``{file}``, ``{folder}``, ``{blocked}`` (an
    output under a regular file, which not even root can create), ``{bundle}`` (a good
    small bundle), ``{wrong_bundle}`` (a folder whose manifest is another schema),
    ``{nmnist}`` (a one-recording N-MNIST folder) and sweep configs."""
    root = tmp_path_factory.mktemp("cli-errors")
    (root / "file.txt").write_text("not what anyone expects\n")
    (root / "folder").mkdir()
    wrong = root / "wrong_bundle"
    wrong.mkdir()
    (wrong / "manifest.json").write_text(json.dumps({"schema": "something-else"}))
    write_nmnist_file(root / "nmnist" / "Train" / "3" / "00001.bin",
                      make_vision_events([1, 2], [3, 4], [10, 20], [0, 1]))
    (root / "good.toml").write_text('parameter = "stuck"\nvalues = [0.0]\n')
    (root / "metrics.json").write_text('{"another": "command\'s output"}\n')
    (root / "dup_seeds.toml").write_text('parameter = "stuck"\nvalues = [0.0]\n'
                                         'seeds = [0, 0]\n')
    (root / "cut_sweep").mkdir()                          # a sweep folder whose record is cut
    (root / "cut_sweep" / "sweep.json").write_text('{"parameter": ')
    (root / "run" / "bundle").mkdir(parents=True)        # a "bundle" that is not one
    (root / "run" / "bundle" / "notes.txt").write_text("mine\n")
    (root / "bad_source.toml").write_text('parameter = "stuck"\nvalues = [0.0]\n'
                                          'visual = "mnist"\n')
    bundle = _noise_bundle(root / "bundle", noise=0)
    audio_only = write_bundle(root / "audio_bundle",
                              Bundle({"audio": load_bundle(bundle).modalities["audio"]}))
    return {"missing": str(root / "missing"), "file": str(root / "file.txt"),
            "folder": str(root / "folder"), "blocked": str(root / "file.txt" / "out"),
            "bundle": str(bundle), "audio_bundle": str(audio_only), "wrong_bundle": str(wrong),
            "nmnist": str(root / "nmnist"), "good_toml": str(root / "good.toml"),
            "bad_source_toml": str(root / "bad_source.toml"),
            "metrics": str(root / "metrics.json"), "run": str(root / "run"),
            "dup_seeds_toml": str(root / "dup_seeds.toml"), "cut_sweep": str(root / "cut_sweep")}


#: sub-command -> (arguments, the argument the message must name); ``{name}`` are paths.
CASES = {
    "data build": [("data build nothing", "names")],
    "data info": [
        ("data info nmnist:{missing}", "source"),
        ("data info ntidigits:{folder}", "source"),
        ("data info fsdd:{file}", "source"),
        ("data info mnist", "source"),
        ("data info nmnist", "source"),
    ],
    "data show": [
        ("data show nmnist:{missing} --out {folder}", "source"),
        ("data show speech:x --out {folder}", "source"),
        ("data show nmnist:{nmnist} --out {blocked}", "--out"),
        ("data show nmnist:{nmnist} --out {file}", "--out"),
        ("data show nmnist:{nmnist} --out {folder}/sample.npz", "--out"),
    ],
    "train": [
        ("train --visual digits --audio speech --windows visual=2,visual=5 --out {folder}",
         "--windows"),
        ("train --visual digits --audio speech --readout visual=trace,visual=count "
         "--out {folder}", "--readout"),
        # Refused before the training, not after it (when the bundle is written).
        ("train --out {run}", "--out"),
        # The training's settings, refused before the search, not after it.
        ("train --visual digits --audio speech --tune --epochs 0 --out {folder}/t", "--epochs"),
        # The option named, not the configuration class's field.
        ("train --visual digits --audio speech --weight-decay -1 --out {folder}",
         "--weight-decay"),
        ("train --visual digits --audio speech --target-rate 2 --out {folder}", "--target-rate"),
        ("train --task bmi --patience 0 --out {folder}", "--patience"),
        # Options that do not apply would be ignored: the search's without --tune, golden
        # heads for the BMI task, which has no macro.
        ("train --visual digits --audio speech --folds 4 --out {folder}", "--folds"),
        ("train --config {file} --visual digits --audio speech --trials 3 --out {folder}",
         "--trials"),
        ("train --visual digits --audio speech --address 10.0.0.1:6379 --out {folder}",
         "--address"),
        ("train --task bmi --heads golden --out {folder}", "--heads"),
        ("train --visual digits --audio speech --tune --neurons 0 --out {folder}/t",
         "--neurons"),
        ("train --tune --out {run}", "--out"),
        ("train --visual nmnist:{missing} --audio speech --out {folder}", "--visual"),
        ("train --visual digits --audio ntidigits:{folder} --out {folder}", "--audio"),
        ("train --visual nmist:{folder} --audio speech --out {folder}", "--visual"),
        ("train --visual speech --audio digits --out {folder}", "--visual"),
        ("train --visual digits --audio speech --out {blocked}", "--out"),
        ("train --visual digits --audio speech --windows 4 --out {folder}", "--windows"),
        ("train --visual digits --audio speech --windows audio=5 --out {folder}", "--windows"),
        ("train --tune --visual digits --audio speech --windows 1 --out {folder}", "--windows"),
        ("train --tune --visual digits --audio speech --readout trace --out {folder}",
         "--readout"),
        ("train --task bmi --neural willett:{missing} --out {folder}", "--neural"),
        ("train --task bmi --neural willett:{folder} --out {folder}", "--neural"),
        ("train --task bmi --neural letters --out {folder}", "--neural"),
        ("train --task bmi --neural willett: --out {folder}", "--neural"),
        ("train --task bmi --neurons 0 --out {folder}", "neurons"),
        ("train --config {missing} --visual digits --audio speech --out {folder}", "--config"),
        ("train --config {folder} --visual digits --audio speech --out {folder}", "--config"),
        ("train --config {file} --visual digits --audio speech --out {folder}", "--config"),
        ("train --visual digits --audio speech --unseen-splits x --out {folder}",
         "--unseen-splits"),
        ("train --visual digits --audio speech --unseen-splits 0 --out {folder}",
         "--unseen-splits"),
        ("train --visual digits --audio speech --unseen-splits 8,8 --out {folder}",
         "--unseen-splits"),
        ("train --task bmi --unseen-splits 8,9 --out {folder}", "--unseen-splits"),
        ("train --task bmi --unseen-splits all --out {folder}", "--unseen-splits"),
        # One chip counted twice; a seed torch cannot take.
        ("train --visual digits --audio speech --seeds 1 1 --out {folder}", "--seeds"),
        ("train --visual digits --audio speech --seeds 4294967296 --out {folder}", "--seeds"),
        ("train --task bmi --seeds 0 2 0 --out {folder}", "--seeds"),
        ("train --visual digits --audio speech --paper-constants --target-rate 0.1 "
         "--out {folder}", "--target-rate"),
        # A source of the other task would be ignored.
        ("train --task bmi --visual digits --out {folder}", "--visual"),
        ("train --task bmi --audio speech --out {folder}", "--audio"),
        ("train --visual digits --audio speech --neural model:x --out {folder}", "--neural"),
    ],
    "demo": [("demo --out {blocked}", "--out"), ("demo --out {file}", "--out"),
             ("demo --config {missing} --out {folder}", "--config"),
             ("demo --rtl-samples -1 --out {folder}", "--rtl-samples"),
             ("demo --task bmi --rtl-samples 3 --out {folder}", "--rtl-samples"),
             ("demo --unseen-splits 8-9 --out {folder}", "--unseen-splits")],
    "tune": [
        ("tune --visual nmnist:{missing} --audio speech --out {folder}", "--visual"),
        ("tune --visual digits --audio fsdd:{missing} --out {folder}", "--audio"),
        ("tune --visual speech --audio digits --out {folder}", "--visual"),
        ("tune --visual digits --audio speech --out {blocked}", "--out"),
        ("tune --visual digits --audio speech --out {folder} --folds 1", "--folds"),
        ("tune --visual digits --audio speech --out {folder} --unseen-splits 8-9",
         "--unseen-splits"),
        ("tune --visual nmnist:{nmnist} --audio speech --out {folder}/t", "--visual"),
        ("tune --visual digits --audio speech --out {folder} --cpus 0", "--cpus"),
    ],
    "eval": [
        ("eval --bundle {missing}", "--bundle"),
        ("eval --bundle {file}", "--bundle"),
        ("eval --bundle {wrong_bundle}", "--bundle"),
        ("eval --bundle {bundle} --visual nmnist", "--visual"),
        ("eval --bundle {bundle} --audio fsdd:{missing}", "--audio"),
        ("eval --bundle {bundle} --out {blocked}", "--out"),
        # Into the bundle (its manifest, or a file beside its arrays), over another
        # command's file: refused, not written.
        ("eval --bundle {bundle} --out {bundle}", "--out"),
        ("eval --bundle {bundle} --out {bundle}/manifest.json", "--out"),
        ("eval --bundle {bundle} --out {metrics}", "--out"),
        # A source with no test samples of the bundle's classes (this folder has only
        # Train/), and a source for a macro the bundle lacks, name the source.
        ("eval --bundle {bundle} --visual nmnist:{nmnist}", "--visual"),
        ("eval --bundle {audio_bundle} --visual digits", "--visual"),
    ],
    "export": [
        ("export --bundle {missing} --out {folder}/copy", "--bundle"),
        ("export --bundle {wrong_bundle} --out {folder}/copy", "--bundle"),
        ("export --bundle {bundle} --out {blocked}", "--out"),
        ("export --bundle {bundle} --out {file}", "--out"),
        ("export --bundle {bundle} --out {folder}", "--out"),  # a folder that is no bundle
        ("export --bundle {bundle} --out {bundle}/copy", "--out"),
    ],
    "sweep": [
        ("sweep {missing}.toml --out {folder}", "config"),
        ("sweep {folder} --out {folder}", "config"),
        ("sweep {file} --out {folder}", "config"),
        ("sweep {bad_source_toml} --out {folder}", "config"),
        ("sweep {good_toml} --out {blocked}", "--out"),
        ("sweep {good_toml} --out {folder} --cpus 0", "--cpus"),  # Ray would wait forever
        ("sweep {dup_seeds_toml} --out {folder}", "config"),     # one chip counted twice
        ("sweep {good_toml} --out {cut_sweep}", "sweep.json"),
    ],
    "energy": [
        ("energy --bundle {missing}", "--bundle"),
        ("energy --bundle {wrong_bundle}", "--bundle"),
        ("energy --bundle {bundle} --out {blocked}", "--out"),
        ("energy --bundle {bundle} --samples 0", "--samples"),
        ("energy --bundle {bundle} --lanes 0", "--lanes"),
        ("energy --bundle {bundle} --lanes 17", "--lanes"),   # 12 neurons: 16 lanes at most
        ("energy --bundle {bundle} --out {bundle}/energy.json", "--out"),
        ("energy --bundle {bundle} --clock-mhz nan", "--clock-mhz"),
        ("energy --task bmi --bundle {bundle}", "--bundle"),
    ],
    "baselines": [
        ("baselines --visual mnist --out {folder}", "--visual"),
        ("baselines --audio fsdd:{missing} --out {folder}", "--audio"),
        ("baselines --out {blocked}", "--out"),
        ("baselines --epochs 0 --out {folder}", "--epochs"),
        ("baselines --episodes 0 --out {folder}", "--episodes"),
        ("baselines --out {folder} --target-rate 0", "--target-rate"),
        ("baselines --out {folder} --seeds 0 -1", "--seeds"),
        ("baselines --out {folder} --seeds 3 3", "--seeds"),
    ],
    "rtl": [
        ("rtl --bundle {missing} --out {folder}", "--bundle"),
        ("rtl --bundle {wrong_bundle} --out {folder}", "--bundle"),
        ("rtl --bundle {bundle} --out {blocked}", "--out"),
        ("rtl --bundle {bundle} --out {folder} --lanes 0", "--lanes"),
        ("rtl --bundle {bundle} --out {folder} --head-lanes -1", "--head-lanes"),
        ("rtl --bundle {bundle} --out {folder} --lanes 1000000", "--lanes"),
        ("rtl --bundle {bundle} --out {folder} --head-lanes 17", "--head-lanes"),
    ],
    "fpga": [
        ("fpga --bundle {bundle} --cores ,", "--cores"),
        ("fpga --bundle {missing}", "--bundle"),
        ("fpga --bundle {file}", "--bundle"),
        ("fpga --board ulx3s-12f --bundle {bundle}", "--board"),
        ("fpga --bundle {bundle} --out {blocked}", "--out"),
        ("fpga --bundle {bundle} --synthesis fast --out {folder}", "--synthesis"),
        ("fpga --bundle {bundle} --seed 0 --out {folder}", "--seed"),
        ("fpga --bundle {bundle} --seed x --out {folder}", "--seed"),
        ("fpga --bundle {bundle} --seeds 0 --out {folder}", "--seeds"),
        ("fpga --bundle {bundle} --seeds 65 --out {folder}", "--seeds"),
        ("fpga --bundle {bundle} --seeds x --out {folder}", "--seeds"),
        ("fpga --bundle {bundle} --seed 2147483647 --seeds 2 --out {folder}", "--seeds"),
        ("fpga --bundle {bundle} --seeds 3 --cpus 0 --out {folder}", "--cpus"),
        ("fpga --bundle {bundle} --bank-words 300 --out {folder}", "--bank-words"),
        ("fpga --bundle {bundle} --bank-words -512 --out {folder}", "--bank-words"),
        ("fpga --bundle {bundle} --cores audio,audio --out {folder}", "--cores"),
    ],
    "run-fpga": [
        ("run-fpga --port {missing} --bundle {wrong_bundle}", "--bundle"),
        ("run-fpga --port {missing} --bundle {bundle}", "--port"),
        ("run-fpga --port {missing} --bundle {bundle} --timeout -1", "--timeout"),
        ("run-fpga --port {missing} --bundle {bundle} --samples 0", "--samples"),
        ("run-fpga --port {missing} --bundle {bundle} --baud 4000000000", "--baud"),
        ("run-fpga --port {missing} --bundle {bundle} --modality audio --modality audio",
         "--modality"),
    ],
    "import-nir": [
        ("import-nir {missing} --out {folder}/b", "graph"),
        ("import-nir {folder} --out {folder}/b", "graph"),
        ("import-nir {file} --out {folder}/b", "graph"),  # not a NIR file
        ("import-nir {file} --out {blocked}", "--out"),
        ("import-nir {file} --out {file}", "--out"),
        ("import-nir {file} --out {folder}/b --levels 0", "--levels"),
        ("import-nir {file} --out {folder}/b --levels 257", "--levels"),
        ("import-nir {file} --out {folder}/b --steps 100000", "--steps"),
        ("import-nir {file} --out {folder}/b --adc-bits 17", "--adc-bits"),
        ("import-nir {file} --out {folder}/b --framework snntorch", "--framework"),
    ],
    "cosim": [
        ("cosim --bundle {missing}", "--bundle"),
        ("cosim --bundle {bundle} --lanes 100000", "--lanes"),
        ("cosim --bundle {bundle} --crossbar-lanes -16", "--crossbar-lanes"),
        ("cosim --bundle {audio_bundle} --source nmnist:{nmnist}", "--source"),
        ("cosim --bundle {wrong_bundle}", "--bundle"),
        ("cosim --bundle {bundle} --source nmnist:{missing}", "--source"),
        ("cosim --bundle {bundle} --source digits:{folder}", "--source"),
        ("cosim --bundle {bundle} --source nmnist:{nmnist}", "--source"),  # does not fit
        ("cosim --bundle {bundle} --out {blocked}", "--out"),
        ("cosim --bundle {bundle} --out {file}", "--out"),
        ("cosim --bundle {bundle} --samples 0", "--samples"),
        ("cosim --bundle {bundle} --lanes 0", "--lanes"),
        ("cosim --bundle {bundle} --lanes 4 --crossbar-lanes 6", "--crossbar-lanes"),
        ("cosim --bundle {bundle} --lanes 4 --crossbar-lanes 36", "--crossbar-lanes"),
        ("cosim --bundle {bundle} --seed -1", "--seed"),
        ("cosim --bundle {bundle} --source nmnist:{nmnist} --source digits", "--source"),
    ],
}


def test_out_of_memory_is_the_settings_not_a_bug(monkeypatch, capsys):
    """numpy's allocation error for a setting too large for the machine (--neurons 10^8):
    one line with the size, exit 2, no traceback."""
    import rramlsm.commands.energy as energy

    def too_big(args):
        raise MemoryError("Unable to allocate 191. GiB for an array with shape "
                          "(256, 100000000) and data type float64")

    monkeypatch.setattr(energy, "_cmd_energy", too_big)
    code, err = _run(["energy", "--task", "bmi"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "error: out of memory (Unable to allocate 191. GiB" in err


def test_a_bundle_holding_the_input_is_not_replaced(paths, tmp_path, capsys):
    """import-nir of a graph inside a bundle (where `export --nir` puts them) into that
    bundle, export of a bundle into a bundle folder that holds it: refused, the input kept
    (the replacement would have deleted it); a bundle replaced otherwise is said to be."""
    b = tmp_path / "b"
    assert main(["export", "--bundle", paths["bundle"], "--out", str(b)]) == 0
    assert f"wrote bundle {b}" in capsys.readouterr().out
    # Where `export --nir` puts the graphs (this small bundle has no float configuration to
    # export; the refusal comes before the graph is read).
    graph = b / "nir" / "audio.nir"
    graph.parent.mkdir()
    graph.write_bytes(b"\x89HDF\r\n\x1a\n")
    code, err = _run(["import-nir", str(graph), "--out", str(b)], capsys)
    assert code == 2 and f"graph: {graph}: inside --out {b}, which this command replaces" in err
    assert graph.is_file()
    inner = b / "nir" / "copy"
    assert main(["export", "--bundle", paths["bundle"], "--out", str(tmp_path / "c")]) == 0
    (tmp_path / "c").rename(inner)     # a bundle inside another bundle's folder
    code, err = _run(["export", "--bundle", str(inner), "--out", str(b)], capsys)
    assert code == 2 and "--bundle: " in err and "which this command replaces" in err
    assert (inner / "manifest.json").is_file()
    assert main(["export", "--bundle", paths["bundle"], "--out", str(b)]) == 0
    assert f"replaced the bundle {b}" in capsys.readouterr().out
    # A folder whose manifest.json is not a bundle's is not replaced either.
    web = tmp_path / "web"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "an app"}')
    code, err = _run(["export", "--bundle", paths["bundle"], "--out", str(web)], capsys)
    assert code == 2 and "exists and is not a bundle" in err


def test_eval_refuses_a_bundle_made_for_other_data(paths, tmp_path, monkeypatch, capsys):
    """A bundle whose macro takes other inputs than the data's framing: named, no traceback."""
    from rramlsm.sw.datasets import load_source

    rec = make_vision_events([1, 2], [3, 4], [10, 20], [0, 1])
    for split, name in (("Train", "00001"), ("Test", "00002")):
        write_nmnist_file(tmp_path / "nmnist" / split / "3" / f"{name}.bin", rec)
    ds = load_source(f"nmnist:{tmp_path / 'nmnist'}")
    monkeypatch.setattr("rramlsm.commands.bundle.source_argument", lambda *a, **k: ds)
    code, err = _run(["eval", "--bundle", paths["bundle"], "--out", str(tmp_path / "e.json")],
                     capsys)
    assert code == 2 and "Traceback" not in err, err
    assert "error: --bundle: LSM 'visual' has 16 inputs but" in err
    assert not (tmp_path / "e.json").exists()


def test_a_bundle_for_other_data_is_blamed_not_a_failing_source(paths, digits, tmp_path, capsys):
    """energy and cosim frame the built-in data for the bundle: a framing that does not fit
    names --bundle; a source that cannot load is the source's own error, not the bundle's."""
    from rramlsm.sw.bundle import load_bundle
    from rramlsm.sw.features import sample_frames

    code, err = _run(["energy", "--bundle", paths["bundle"], "--out", str(tmp_path / "e")],
                     capsys)
    assert code == 2 and "error: --bundle: " in err and "Traceback" not in err, err
    assert not (tmp_path / "e").exists()
    bundle = load_bundle(paths["bundle"])
    with pytest.raises(ConfigError, match=r"^--bundle: "):
        sample_frames(bundle, {"visual": "digits"}, 1, mismatch="--bundle")
    with pytest.raises(RRAMLSMError) as e:
        sample_frames(bundle, {"visual": f"nmnist:{tmp_path / 'none'}"}, 1, mismatch="--bundle")
    assert str(tmp_path / "none") in str(e.value) and not str(e.value).startswith("--bundle")


def test_fewer_samples_than_asked_are_said():
    """energy, cosim and run-fpga say which source gave fewer samples than --samples: a
    figure over 3 samples must not pass for one over 64."""
    from rramlsm.sw.features import say_fewer_samples

    said = []
    say_fewer_samples({"visual": np.zeros((3, 5)), "audio": np.zeros((64, 5))},
                      {"visual": "nmnist:/d", "audio": "speech"}, 64, say=said.append)
    assert said == ["visual: 3 samples, all that nmnist:/d has (--samples 64)"]


def test_a_failed_nir_export_leaves_the_copy_there_as_it_was(paths, tmp_path, capsys):
    """export --nir of a bundle that cannot be NIR (no float configuration recorded) is
    refused before anything is written: the bundle already in --out stays."""
    out = tmp_path / "copy"
    other = _noise_bundle(tmp_path / "other", seed=1, noise=0)
    assert main(["export", "--bundle", str(other), "--out", str(out)]) == 0
    before = (out / "manifest.json").read_bytes()
    capsys.readouterr()
    code, err = _run(["export", "--bundle", paths["bundle"], "--out", str(out), "--nir"], capsys)
    assert code == 2 and "error: --bundle: the bundle does not record its float LSM" in err
    assert (out / "manifest.json").read_bytes() == before and not (out / "nir").exists()


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """Every leaf sub-command of ``parser`` (``data build``, ..., ``cosim``)."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _subcommands(sub, f"{prefix}{name} ") or [f"{prefix}{name}"]
    return out


def test_every_subcommand_has_error_cases():
    assert sorted(_subcommands(build_parser())) == sorted(CASES)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors (unknown choice, missing option)
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command, args, argument",
                         [(c, a, n) for c, cases in CASES.items() for a, n in cases])
def test_user_error_is_one_line_naming_the_argument(command, args, argument, paths, capsys):
    argv = [part.format(**paths) for part in args.split()]
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err and BUG_NOTICE not in err
    last = err.strip().splitlines()[-1]
    # argparse's errors come after its usage lines; ours are the only line.
    assert len(err.strip().splitlines()) == 1 or last.startswith("rramlsm " + command)
    assert last.startswith(f"rramlsm {command}: error: ") and argument in last, err


def test_internal_error_prints_a_traceback_and_says_it_is_a_bug(monkeypatch, capsys, paths):
    def broken(*args, **kwargs):
        raise RuntimeError("an internal inconsistency")

    monkeypatch.setattr("rramlsm.commands.bundle.bundle_argument", broken)
    code, err = _run(["eval", "--bundle", paths["bundle"]], capsys)
    assert code == 1
    assert "Traceback" in err and "RuntimeError: an internal inconsistency" in err
    assert err.strip().splitlines()[-1] == f"rramlsm eval: {BUG_NOTICE}"


@pytest.mark.parametrize("number, code", [(errno.ENOSPC, 2), (errno.EACCES, 2),
                                          (errno.ENOENT, 1), (errno.EISDIR, 1)])
def test_os_errors_past_the_argument_checks(number, code, monkeypatch, capsys, paths):
    """A full disk or a refused write is the user's to fix (status 2, one line naming the
    file); a missing file or a folder in the way after the checks is our bug."""
    def failing_write(*args, **kwargs):
        raise OSError(number, "refused", "/some/output.json")

    monkeypatch.setattr("rramlsm.commands.bundle.bundle_argument", failing_write)
    got, err = _run(["eval", "--bundle", paths["bundle"]], capsys)
    assert got == code
    if code == 2:
        assert err.strip() == "rramlsm eval: error: /some/output.json: refused"
    else:
        assert "Traceback" in err and BUG_NOTICE in err


def test_keyboard_interrupt_is_no_bug(monkeypatch, capsys, paths):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rramlsm.commands.bundle.bundle_argument", interrupted)
    code, err = _run(["eval", "--bundle", paths["bundle"]], capsys)
    assert code == 130 and "Traceback" not in err and BUG_NOTICE not in err


# --- --out: a folder everywhere, a file where it names one ----------------------------------

@pytest.mark.parametrize("out, written", [("runs/x", "runs/x/cosim.json"),
                                          ("runs/x.json", "runs/x.json"),
                                          ("runs/existing.json", "runs/existing.json/cosim.json")])
def test_cosim_out_is_a_folder_or_a_json_file(out, written, tmp_path, monkeypatch, capsys,
                                             paths):
    """The user's report: ``cosim --out DIR`` crashed with IsADirectoryError."""
    import rramlsm.commands.cosim as cosim_command
    from rramlsm.sw._io import write_json

    (tmp_path / "runs" / "existing.json").mkdir(parents=True)
    summary = {"samples": 2, "samples_per_modality": {"visual": 1, "audio": 1},
               "mismatches": 0, "mismatch_details": [], "failed_tests": [],
               "cycles_per_sample_mean": 100.0, "sim_cycles_per_s": 1e5,
               "simulator": "verilator"}

    def fake_run_cosim(bundle_dir, frames, *, out, **kwargs):  # no simulator needed here
        write_json(out, summary)
        return summary

    monkeypatch.setattr(cosim_command, "run_cosim", fake_run_cosim)
    monkeypatch.setattr(cosim_command, "sample_frames", lambda *a, **k: {})
    code = main(["cosim", "--bundle", paths["bundle"], "--samples", "1",
                 "--out", str(tmp_path / out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / written).read_text())["samples"] == 2
    assert f"wrote {tmp_path / written}" in capsys.readouterr().out


def test_output_helpers(tmp_path):
    assert output_file("--out", tmp_path / "a", "eval.json") == tmp_path / "a" / "eval.json"
    assert output_file("--out", tmp_path / "e.JSON", "eval.json") == tmp_path / "e.JSON"
    # A new path with another file type's suffix is refused: it would become a folder of
    # that name. An existing folder of that name, or a name with dots that is no file type,
    # stays a folder.
    with pytest.raises(ConfigError, match=r"^--out: .*/s\.jpg: this command writes a \.png file"):
        output_file("--out", tmp_path / "s.jpg", "sample0.png")
    assert not (tmp_path / "s.jpg").exists()
    # A trailing separator makes any name a folder, even one with the command's own suffix.
    assert output_file("--out", f"{tmp_path / 'figs.jpg'}/", "sample0.png") == \
        tmp_path / "figs.jpg" / "sample0.png"
    assert output_file("--out", f"{tmp_path / 'x.json'}/", "eval.json") == \
        tmp_path / "x.json" / "eval.json"
    (tmp_path / "b.png").mkdir()
    assert output_file("--out", tmp_path / "b.png", "eval.json") == tmp_path / "b.png/eval.json"
    assert output_file("--out", tmp_path / "demo.v2", "eval.json") == tmp_path / "demo.v2/eval.json"
    # Python's own table decides, not the machine's: Debian's /etc/mime.types calls .d a D
    # source, which would refuse a folder runs.d on one machine and not on another (this
    # line checks that only where the machine's table has .d).
    assert output_file("--out", tmp_path / "runs.d", "eval.json") == tmp_path / "runs.d/eval.json"
    assert output_folder("--out", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not created: a failure leaves nothing
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match=r"^--out: .*/f: is a file, not a folder$"):
        output_folder("--out", tmp_path / "f")
    with pytest.raises(ConfigError, match=r"cannot create the file: .*/f is a file"):
        output_file("--out", tmp_path / "f" / "x.json", "eval.json")
    # An earlier run's output is written again (under its own name or the one the user
    # gave it); another command's output, or a file of another type, is not overwritten.
    for name, text in (("eval.json", "{}"), ("metrics.json", "{}"), ("mine.json", '{"a": 1}'),
                       ("notes.json", "not JSON"), ("speech3.png", "text, not a PNG")):
        (tmp_path / name).write_text(text)
    for out in (tmp_path / "eval.json", tmp_path / "mine.json"):
        assert output_file("--out", out, "eval.json") == out
    assert output_file("--out", tmp_path, "eval.json") == tmp_path / "eval.json"
    with pytest.raises(ConfigError, match=r"metrics\.json: exists and is another command's "
                                          r"output"):
        output_file("--out", tmp_path / "metrics.json", "eval.json")
    for name in ("notes.json", "speech3.png"):
        with pytest.raises(ConfigError, match=rf"{name}: exists and is not a \.\w+ file this "
                                              rf"command wrote"):
            output_file("--out", tmp_path / name, "eval.json" if "json" in name
                        else "sample3.png")
    # The same rules for the file inside a folder given as --out.
    in_folder = tmp_path / "runs"
    in_folder.mkdir()
    (in_folder / "eval.json").write_text("a user's notes")
    with pytest.raises(ConfigError, match=r"runs/eval\.json: exists and is not a \.json file"):
        output_file("--out", in_folder, "eval.json")
    (in_folder / "eval.json").unlink()
    (in_folder / "eval.json").mkdir()
    with pytest.raises(ConfigError, match=r"runs/eval\.json: is a folder; this command "
                                          r"writes the file eval\.json there"):
        output_file("--out", in_folder, "eval.json")
    (tmp_path / "speech3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8))
    assert output_file("--out", tmp_path / "speech3.png", "sample3.png") == \
        tmp_path / "speech3.png"
    # Inside a bundle: refused, its manifest and all; a folder whose manifest.json is not a
    # bundle's is an ordinary folder.
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"schema": "rramlsm-bundle"}')
    for path in (bundle, bundle / "manifest.json", bundle / "visual" / "x.json"):
        with pytest.raises(ConfigError, match=rf"inside the bundle {bundle}; write outside"):
            output_file("--out", path, "eval.json")
    with pytest.raises(ConfigError, match="inside the bundle"):
        output_folder("--out", bundle / "copy")
    # The default beside a bundle named from inside it is its parent, not the bundle.
    from rramlsm.arguments import beside_bundle

    assert beside_bundle(bundle / ".") == tmp_path
    assert output_folder("--out", bundle) == bundle          # the bundle itself is replaced
    other = tmp_path / "web"
    other.mkdir()
    (other / "manifest.json").write_text('{"name": "an app"}')
    assert output_file("--out", other, "eval.json") == other / "eval.json"
    # Where nothing can be created although the permission bits say yes (root in /proc).
    if Path("/proc/self").is_dir():
        with pytest.raises(ConfigError, match=r"^--out: /proc/rramlsm: cannot create the "
                                              r"folder in /proc \("):
            output_folder("--out", "/proc/rramlsm")
        with pytest.raises(ConfigError, match=r"^--out: /proc: cannot write in the folder"):
            output_file("--out", "/proc", "eval.json")
    # A new folder named like a file is refused too (--out imp.json for a bundle).
    with pytest.raises(ConfigError, match=r"x\.json: names a \.json file; this command "
                                          r"writes a folder"):
        output_folder("--out", tmp_path / "x.json")
    assert output_folder("--out", f"{tmp_path / 'y.json'}/") == tmp_path / "y.json"
    # The suffixes of this field's files that Python's table lacks are file types too.
    for name in ("x.npz", "g.nir", "r.h5", "t.toml"):
        with pytest.raises(ConfigError, match="this command writes a .json file"):
            output_file("--out", tmp_path / name, "eval.json")
