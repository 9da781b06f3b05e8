import json

import pytest

from rramlsm.cli import main
from rramlsm.errors import UnknownSourceError
from rramlsm.sw.datasets import parse_source, write_ntidigits
from rramlsm.sw.events import make_audio_events


def _info(capsys, src):
    assert main(["data", "info", src, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_json_on_every_source(capsys, tmp_path, nmnist_dir, fsdd_dir, digits, speech):
    write_ntidigits(tmp_path / "n.h5", {"train": [("man-a-1", make_audio_events([1, 2], [0, 9],
                                                                                [1, 1]))]})
    for src in ("digits", "speech", f"nmnist:{nmnist_dir}", f"fsdd:{fsdd_dir}",
                f"ntidigits:{tmp_path / 'n.h5'}"):
        info = _info(capsys, src)
        for key in ("samples", "train", "test", "classes", "events_per_sample_mean"):
            assert key in info, (src, key)
        assert info["samples"] == info["train"] + info["test"]
        assert sum(info["classes"].values()) == info["samples"]


def test_show_writes_png(tmp_path, nmnist_dir, speech):
    for src in (f"nmnist:{nmnist_dir}", "speech"):
        out = tmp_path / f"{src[:5]}.png"
        assert main(["data", "show", src, "--index", "1", "--out", str(out)]) == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_source_is_a_clear_error(capsys):
    assert main(["data", "info", "mnist"]) == 2
    assert "unknown data source 'mnist'" in capsys.readouterr().err
    with pytest.raises(UnknownSourceError, match="needs a path"):
        parse_source("nmnist")
    with pytest.raises(UnknownSourceError, match="takes no path"):
        parse_source("digits:/x")


def test_show_index_out_of_range(capsys, nmnist_dir):
    assert main(["data", "show", f"nmnist:{nmnist_dir}", "--index", "99", "--out", "x.png"]) == 2
    assert "--index 99 is outside 0..19" in capsys.readouterr().err
