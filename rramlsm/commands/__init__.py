"""The command line's sub-commands, one module per group; :mod:`rramlsm.cli` wires them.

==============  ===========================================================================
module          sub-commands
==============  ===========================================================================
``data``        ``data build``, ``data info``, ``data show``
``train``       ``train``, ``demo`` (with ``--config`` / ``--tune``)
``bundle``      ``eval``, ``export``
``sweep``       ``sweep``
``energy``      ``energy``
``baselines``   ``baselines``
``tune``        ``tune`` (and the tuning options ``train`` shares)
``nir``         ``import-nir``
``rtl``         ``rtl``
``fpga``        ``fpga``, ``run-fpga``
``cosim``       ``cosim``
==============  ===========================================================================

Each module has ``register(sub)``, which adds its parsers to the ``argparse`` sub-parsers
``sub`` and sets each one's ``func``; the work itself is the library's (``rramlsm.sw``,
``rramlsm.hw``, ``rramlsm.cosim``), which never imports this package.
"""
