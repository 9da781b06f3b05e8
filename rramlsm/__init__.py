"""rramlsm: a zero-shot liquid state machine on a random RRAM crossbar.

Sub-packages:

* :mod:`rramlsm.sw` -- event data, device model, LSM (float and integer
  golden model), heads, features, export (folder ``sw/``); its experiment
  drivers in :mod:`rramlsm.sw.experiments` (folder ``sw/experiments/``);
* :mod:`rramlsm.hw` -- Amaranth HDL of the in-memory-computing macro
  (folder ``hw/``);
* :mod:`rramlsm.cosim` -- cocotb testbenches on Verilator (folder ``cosim/``);
* :mod:`rramlsm.cli` and :mod:`rramlsm.commands` -- the command line, which
  no library module imports (docs/ARCHITECTURE.md, "Layers").
"""

from .errors import BundleError, ConfigError, EventDataError, RRAMLSMError, UnknownSourceError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "RRAMLSMError",
    "EventDataError",
    "UnknownSourceError",
    "BundleError",
    "ConfigError",
]
