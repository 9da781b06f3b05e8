"""The import rules of docs/ARCHITECTURE.md ("Layers"), checked on every import of the
package: module level and inside functions, read from the source (``ast``), never run.

Layers, lowest first (a layer imports only from itself and the layers below it):

* ``base``: ``rramlsm`` (the package) and ``rramlsm.errors``;
* ``sw``: the software library (``rramlsm.sw``, folder ``sw/``, without its experiments);
* ``experiments``: the experiment drivers (``rramlsm.sw.experiments``);
* ``hw``: the RTL (``rramlsm.hw``) -- from ``sw`` it takes the library, never experiments;
* ``cosim``: the cosimulation (``rramlsm.cosim``) -- the library and ``hw``;
* ``cli``: the command line (``rramlsm.cli``, ``rramlsm.__main__``, ``rramlsm.arguments``,
  ``rramlsm.commands.*``) -- anything.

Also: no command-line module inside ``sw/``, ``hw/`` or ``cosim/`` (no ``argparse``, no
``add_parser``/``add_argument``, no ``commands.py`` or ``*_cli.py`` there), and no private
name (``_x``) of one module imported or used by another (the private modules ``sw/_io.py``,
``sw/_checks.py`` and ``sw/_machine.py`` are shared internals: their public names may be
imported anywhere).

Every rule is also run on small synthetic sources that break it (the ``*_catches_*``
tests), so this file cannot pass because the checker sees nothing.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# -- Reading the package -----------------------------------------------------------------------

def package_dirs() -> dict[str, Path]:
    """Package name -> folder, from pyproject.toml's ``package-dir`` (``rramlsm.sw`` -> sw/)."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {pkg: REPO / folder for pkg, folder in cfg["package-dir"].items()}


def package_modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file (sub-packages included)."""
    mods = {}
    for pkg, folder in package_dirs().items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("").parts
            if "__pycache__" in rel:
                continue
            # Sub-folders that are packages of their own in package-dir are read there.
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            name = ".".join((pkg, *parts))
            mods.setdefault(name, path)
    return mods


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    line: int
    target: str  # the module imported (or the module a name is imported from)
    name: str | None  # the name taken from ``target`` (``from target import name``), if any
    in_function: bool

    def __str__(self) -> str:
        what = f"from {self.target} import {self.name}" if self.name else f"import {self.target}"
        return f"{self.importer}:{self.line}: {what}"


def _resolve(importer: str, is_package: bool, module: str | None, level: int) -> str:
    if not level:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def read_imports(source: str, importer: str, *, is_package: bool = False,
                 modules: set[str] | frozenset[str] = frozenset()) -> list[Import]:
    """Every import in ``source`` (of module ``importer``), at any depth.  ``from p import m``
    where ``p.m`` is a module in ``modules`` counts as importing the module ``p.m``."""
    tree = ast.parse(source)
    out = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    out.append(Import(importer, child.lineno, a.name, None, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(importer, is_package, child.module, child.level)
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    if sub in modules:
                        out.append(Import(importer, child.lineno, sub, None, in_function))
                    else:
                        out.append(Import(importer, child.lineno, base, a.name, in_function))
            visit(child, inner)

    visit(tree, False)
    return out


def private_uses(source: str, importer: str, *, modules: set[str] | frozenset[str]) -> list[str]:
    """``module._name`` where ``module`` is a name bound to another module of the package
    (``import rramlsm.sw.bundle as b; b._arrays``, ``from rramlsm.sw import bundle``)."""
    tree = ast.parse(source)
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in modules and a.asname:
                    bound[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if f"{node.module}.{a.name}" in modules:
                    bound[a.asname or a.name] = f"{node.module}.{a.name}"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            mod = bound.get(node.value.id)
            if mod and mod != importer and _is_private(node.attr):
                found.append(f"{importer}:{node.lineno}: {mod}.{node.attr}")
        elif (isinstance(node, ast.Attribute) and _is_private(node.attr)
              and _dotted(node.value) in modules and _dotted(node.value) != importer):
            found.append(f"{importer}:{node.lineno}: {_dotted(node.value)}.{node.attr}")
    return found


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# -- The rules ---------------------------------------------------------------------------------

CLI_MODULES = ("rramlsm.cli", "rramlsm.__main__", "rramlsm.arguments", "rramlsm.commands")
LIBRARY_FOLDERS = ("rramlsm.sw", "rramlsm.hw", "rramlsm.cosim")


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer(module: str) -> str | None:
    """The layer of a module of the package (None: not ours, e.g. numpy)."""
    if any(_under(module, p) for p in CLI_MODULES):
        return "cli"
    if _under(module, "rramlsm.sw.experiments"):
        return "experiments"
    for name in ("sw", "hw", "cosim"):
        if _under(module, f"rramlsm.{name}"):
            return name
    if module in ("rramlsm", "rramlsm.errors"):
        return "base"
    if _under(module, "rramlsm"):
        return "unknown"
    return None


#: What each layer may import (besides itself).
ALLOWED = {
    "base": {"base"},
    "sw": {"base"},
    "experiments": {"base", "sw"},
    "hw": {"base", "sw"},
    "cosim": {"base", "sw", "hw"},
    "cli": {"base", "sw", "experiments", "hw", "cosim"},
}


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports that cross the layers the wrong way, with the rule broken."""
    bad = []
    for imp in imports:
        src, dst = layer(imp.importer), layer(imp.target)
        if dst is None or src == dst:
            continue
        if src == "unknown" or dst == "unknown":
            bad.append(f"{imp}: a module in no layer (add it to docs/ARCHITECTURE.md)")
        elif dst not in ALLOWED[src]:
            bad.append(f"{imp}: {src} must not import {dst}")
    return bad


def private_imports(imports: list[Import]) -> list[str]:
    """``from other_module import _name``: a private name of one of our modules taken by
    another.  (A private *module*, ``sw/_io.py``, ``sw/_checks.py`` or ``sw/_machine.py``,
    is the project's shared internals: any layer above it may import its public names.)"""
    return [f"{imp}: private name of another module" for imp in imports
            if layer(imp.target) is not None and imp.name and _is_private(imp.name)
            and imp.target != imp.importer]


def cli_in_library(modules: dict[str, str]) -> list[str]:
    """Command-line code in the libraries: a module named like one (``commands``, ``*_cli``,
    ``cli``), or one that builds an argument parser."""
    bad = []
    for name, source in modules.items():
        if not any(_under(name, p) for p in LIBRARY_FOLDERS):
            continue
        last = name.rsplit(".", 1)[-1]
        if last in ("commands", "cli") or last.endswith("_cli"):
            bad.append(f"{name}: a command-line module inside a library folder")
            continue
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""])
                if "argparse" in mods:
                    bad.append(f"{name}:{node.lineno}: imports argparse")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("add_parser", "add_subparsers", "add_argument",
                                         "add_argument_group")):
                bad.append(f"{name}:{node.lineno}: builds command-line arguments "
                           f"({node.func.attr})")
    return bad


# -- The package -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def package():
    mods = package_modules()
    sources = {name: path.read_text(encoding="utf-8") for name, path in mods.items()}
    names = set(mods)
    imports = []
    for name, source in sources.items():
        imports += read_imports(source, name, is_package=mods[name].name == "__init__.py",
                                modules=names)
    return mods, sources, imports


def test_the_package_is_read_whole(package):
    mods, _, imports = package
    # Every library folder and the command line are seen, with imports inside functions.
    for name in ("rramlsm.cli", "rramlsm.sw.golden", "rramlsm.sw.experiments.audiovisual",
                 "rramlsm.hw.core", "rramlsm.cosim.run", "rramlsm.sw.datasets.base"):
        assert name in mods, name
    assert any(n.startswith("rramlsm.commands.") for n in mods)
    assert len(imports) > 300
    assert any(i.in_function for i in imports) and any(not i.in_function for i in imports)
    assert all(layer(n) not in (None, "unknown") for n in mods), \
        [n for n in mods if layer(n) in (None, "unknown")]


def test_layers(package):
    _, _, imports = package
    assert layer_violations(imports) == []


def test_no_private_name_crosses_modules(package):
    mods, sources, imports = package
    bad = private_imports(imports)
    for name, source in sources.items():
        bad += private_uses(source, name, modules=set(mods))
    assert bad == []


def test_no_command_line_inside_the_libraries(package):
    _, sources, _ = package
    assert cli_in_library(sources) == []


# -- The checker on sources that break each rule -----------------------------------------------

MODS = frozenset({"rramlsm.sw.bundle", "rramlsm.sw.golden", "rramlsm.hw.cycles",
                  "rramlsm.cosim.run", "rramlsm.commands.train", "rramlsm.sw.experiments.bmi",
                  "rramlsm.sw._io", "rramlsm.sw.experiments"})


def _violations(source: str, importer: str) -> list[str]:
    return layer_violations(read_imports(source, importer, modules=MODS))


@pytest.mark.parametrize("importer, source", [
    ("rramlsm.sw.energy", "from rramlsm.hw.cycles import mean_cycles"),
    ("rramlsm.sw.energy", "def f():\n    from rramlsm.hw import cycles\n"),
    ("rramlsm.sw.golden", "import rramlsm.cosim.run"),
    ("rramlsm.sw.experiments.sweep", "def f():\n    import rramlsm.hw.cycles as c\n"),
    ("rramlsm.hw.verilog", "from rramlsm.cosim.run import run_cosim"),
    ("rramlsm.hw.verilog", "class A:\n    def f(self):\n        from rramlsm.cosim import run\n"),
    ("rramlsm.cosim.run", "from rramlsm.commands.train import run_training"),
    ("rramlsm.sw.bundle", "from rramlsm.cli import main"),
    ("rramlsm.hw.fpga", "def f():\n    from rramlsm.arguments import require\n"),
    ("rramlsm.sw.features", "from rramlsm.sw.experiments.bmi import run_bmi"),
    ("rramlsm.sw.features", "from rramlsm.sw.experiments import bmi"),
    ("rramlsm.hw.cycles", "from rramlsm.sw.experiments.bmi import run_bmi"),
    ("rramlsm.sw.bundle", "from ..experiments import bmi"),
    ("rramlsm.errors", "from rramlsm.sw.bundle import load_bundle"),
])
def test_layer_rule_catches(importer, source):
    assert _violations(source, importer), (importer, source)


@pytest.mark.parametrize("importer, source", [
    ("rramlsm.hw.cycles", "from rramlsm.sw.golden import golden_counts"),
    ("rramlsm.cosim.run", "from rramlsm.hw import cycles\nimport rramlsm.sw.bundle"),
    ("rramlsm.commands.train", "from rramlsm.cosim.run import run_cosim"),
    ("rramlsm.sw.experiments.bmi", "from rramlsm.sw.golden import golden_counts"),
    ("rramlsm.sw.golden", "import numpy\nfrom rramlsm.errors import ConfigError"),
])
def test_layer_rule_allows(importer, source):
    assert _violations(source, importer) == []


def test_relative_imports_are_resolved():
    imps = read_imports("from .golden import x\nfrom ..hw import cycles\n", "rramlsm.sw.bundle",
                        modules=MODS)
    assert [i.target for i in imps] == ["rramlsm.sw.golden", "rramlsm.hw.cycles"]
    assert layer_violations(imps)
    inits = read_imports("from . import bmi\n", "rramlsm.sw.experiments", is_package=True,
                         modules=MODS)
    assert [i.target for i in inits] == ["rramlsm.sw.experiments.bmi"]


@pytest.mark.parametrize("importer, source", [
    ("rramlsm.commands.train", "from rramlsm.sw.bundle import _arrays"),
    ("rramlsm.commands.train", "def f():\n    from rramlsm.sw.experiments.bmi import _x\n"),
    ("rramlsm.cosim.uart", "from rramlsm.cosim.run import _cache as cache"),
    ("rramlsm.sw.bundle", "from . import _arrays"),
])
def test_private_import_rule_catches(importer, source):
    assert private_imports(read_imports(source, importer, modules=MODS)), source


@pytest.mark.parametrize("importer, source", [
    ("rramlsm.sw.bundle", "from rramlsm.sw._io import write_atomic"),
    ("rramlsm.hw.fpga", "from rramlsm.sw._io import write_atomic"),
    ("rramlsm.commands.train", "import rramlsm.sw._io"),
    ("rramlsm.sw.bundle", "from numpy.core import _multiarray_umath"),
])
def test_private_import_rule_allows(importer, source):
    assert private_imports(read_imports(source, importer, modules=MODS)) == []


@pytest.mark.parametrize("source", [
    "from rramlsm.sw import bundle\ndef f(mb):\n    return bundle._arrays(mb)\n",
    "import rramlsm.sw.bundle as b\nb._arrays(None)\n",
    "import rramlsm.sw.bundle\nrramlsm.sw.bundle._arrays(None)\n",
])
def test_private_use_rule_catches(source):
    assert private_uses(source, "rramlsm.commands.train", modules=MODS), source


def test_private_use_rule_allows_own_and_dunder():
    src = "from rramlsm.sw import bundle\nbundle.__name__\nbundle.arrays(None)\n"
    assert private_uses(src, "rramlsm.commands.train", modules=MODS) == []


@pytest.mark.parametrize("name, source", [
    ("rramlsm.sw.commands", "X = 1\n"),
    ("rramlsm.sw.nir_cli", "X = 1\n"),
    ("rramlsm.cosim.commands", "X = 1\n"),
    ("rramlsm.hw.fpga", "import argparse\n"),
    ("rramlsm.sw.experiments.tune", "def register(sub):\n    sub.add_parser('tune')\n"),
    ("rramlsm.sw.experiments.tune", "def args(p):\n    p.add_argument('--trials')\n"),
])
def test_cli_in_library_rule_catches(name, source):
    assert cli_in_library({name: source}), name


def test_cli_in_library_rule_allows_the_command_line():
    src = "import argparse\ndef register(sub):\n    sub.add_parser('x').add_argument('--y')\n"
    assert cli_in_library({"rramlsm.commands.train": src, "rramlsm.cli": src}) == []
