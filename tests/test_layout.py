import subprocess
import sys

import rramlsm
import rramlsm.commands
import rramlsm.cosim
import rramlsm.hw
import rramlsm.sw
import rramlsm.sw.datasets as datasets
import rramlsm.sw.events as events
import rramlsm.sw.experiments
from rramlsm import errors


def test_namespace_maps_top_level_folders():
    root = rramlsm.__file__.rsplit("/", 2)[0]
    assert rramlsm.sw.__file__.startswith(root + "/sw/")
    assert rramlsm.hw.__file__.startswith(root + "/hw/")
    assert rramlsm.cosim.__file__.startswith(root + "/cosim/")


def test_all_names_exist():
    import importlib
    import pkgutil

    mods = [rramlsm, errors, datasets, events]
    for pkg in (rramlsm.sw, rramlsm.hw, rramlsm.cosim, datasets, rramlsm.sw.experiments,
                rramlsm.commands):
        for info in pkgutil.iter_modules(pkg.__path__):
            # Testbench modules run inside the simulator (they read their job at import).
            if not info.name.startswith(("tb_", "_")):
                mods.append(importlib.import_module(f"{pkg.__name__}.{info.name}"))
    assert len(mods) > 30
    for mod in mods:
        for name in getattr(mod, "__all__", ()):
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


def test_errors_share_one_base():
    for cls in (errors.EventDataError, errors.UnknownSourceError, errors.BundleError,
                errors.ConfigError):
        assert issubclass(cls, errors.RRAMLSMError)
        assert issubclass(cls, ValueError)


def test_python_dash_m_runs_the_cli():
    """``--help`` works, and the command line starts without the libraries only some
    commands need (plotting, signal processing, cocotb: about 2.5 s of imports that every
    ``--help`` and every refused argument paid), imported where they are used."""
    probe = ("import runpy, sys\n"
             "sys.argv = ['rramlsm', '--help']\n"
             "try:\n    runpy.run_module('rramlsm', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('loaded:', sorted(m for m in ('matplotlib', 'scipy.signal', 'cocotb') "
             "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       check=True)
    assert "data" in r.stdout and "demo" in r.stdout
    assert "loaded: []" in r.stdout
