"""Every file the project writes goes through the atomic writer (``sw/_io.py``).

A static check of the source: a call that writes a file (``write_text``,
``write_bytes``, ``np.save``/``savez``, ``torch.save``, ``savefig``, ``open`` for
writing, ``shutil.copy``) must sit inside a ``with atomic_path(...)`` block, unless
it writes into a private scratch or temporary folder listed below with its reason.
A new in-place write of an output fails here, naming its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rramlsm.sw._io import write_atomic

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rramlsm", "sw", "hw", "cosim")

_WRITERS = {"write_text", "write_bytes", "save", "savez", "savez_compressed", "savefig"}
_COPIES = {"copy", "copy2", "copyfile", "copytree"}

#: (file, function): writes that are not outputs, and why they need no atomic rename.
SCRATCH = {
    ("cosim/run.py", "run_cosim"): "job files in a private mkdtemp folder, deleted after",
    ("cosim/uart.py", "run_uart_top"): "job files in a private mkdtemp folder",
    ("cosim/blocks.py", "run_block"): "job files in a private mkdtemp folder",
    ("cosim/build.py", "_build_icarus"): "build cache: valid only once the .built stamp exists",
    ("cosim/build.py", "_build_verilator"): "build cache: valid only once the .built stamp "
                                            "exists",
    ("cosim/build.py", "restore"): "into a build folder, valid only once its .built stamp "
                                   "exists",
    ("cosim/build.py", "store"): "into a folder of this process's own, renamed into place "
                                 "whole",
    ("cosim/tb_macro.py", "_record"): "testbench results in the caller's scratch folder",
    ("cosim/tb_blocks.py", "_record"): "testbench results in the caller's scratch folder",
    ("cosim/tb_uart.py", "run_test_host_driver"): "testbench results in the caller's "
                                                  "scratch folder",
    ("sw/datasets/builtin.py", "_cached"): "EventDataset.save writes through atomic_path",
    ("sw/experiments/sweep.py", "run_sweep"): "results.jsonl is an append-only journal: a "
                                              "line cut by a crash is found and its trial "
                                              "rerun (_read_results)",
    ("sw/experiments/tune.py", "add"): "trials.jsonl is an append-only journal: a line cut "
                                       "by a crash is found and its trial rerun "
                                       "(read_trials)",
    ("sw/bundle.py", "write_bundle"): "the whole folder is written under a temporary name "
                                      "and renamed into place",
    ("sw/plots.py", "png_base64"): "into an in-memory buffer",
}


def _in_place_writes(path: Path) -> list[tuple[str, int]]:
    """``(function, line)`` of each file-writing call outside a ``with atomic_path``."""
    found = []

    def visit(node, function: str, atomic: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, (ast.With, ast.AsyncWith)) and any(
                isinstance(i.context_expr, ast.Call)
                and getattr(i.context_expr.func, "id", getattr(i.context_expr.func, "attr", ""))
                == "atomic_path" for i in node.items):
            atomic = True
        if isinstance(node, ast.Call) and not atomic:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            writes = name in _WRITERS or (name in _COPIES and isinstance(f, ast.Attribute)
                                          and getattr(f.value, "id", "") == "shutil")
            if name == "open":
                mode = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "mode"), None)
                writes = isinstance(mode, ast.Constant) and any(c in str(mode.value)
                                                                for c in "wax+")
            if writes:
                found.append((function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function, atomic)

    visit(ast.parse(path.read_text()), "<module>", False)
    return found


def _sources():
    for pkg in PACKAGES:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def test_every_output_is_written_atomically():
    offenders = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        offenders += [f"{rel}:{line} ({fn})" for fn, line in _in_place_writes(path)
                      if (rel, fn) not in SCRATCH]
    assert offenders == [], "in-place writes (use sw._io.atomic_path / write_atomic):\n" + \
        "\n".join(offenders)


def test_the_check_sees_an_in_place_write(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f(p):\n    p.write_text('x')\n"
                   "def g(p):\n    with atomic_path(p) as tmp:\n        tmp.write_text('x')\n"
                   "def h(p):\n    with open(p, 'w') as f:\n        f.write('x')\n"
                   "def k(a, p, q):\n    a.copy()\n    shutil.copy(p, q)\n")
    assert _in_place_writes(src) == [("f", 2), ("h", 7), ("k", 11)]


@pytest.mark.parametrize("data", ["text ✓\n", b"\x00\x01bytes"])
def test_write_atomic_replaces_the_file_whole(tmp_path, data):
    target = tmp_path / "sub" / "out.txt"
    target.parent.mkdir()
    target.write_text("old")
    assert write_atomic(target, data) == target
    got = target.read_bytes()
    assert got == (data if isinstance(data, bytes) else data.encode())
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]     # no temporary left
