"""Software side of rramlsm, in two tiers.

The reusable library (this package's modules): event data (:mod:`.events`,
:mod:`.datasets`), the RRAM device model (:mod:`.device`), the LSM (:mod:`.lsm`, float) and
its integer golden model (:mod:`.golden`, :mod:`.kernels`, :mod:`.contract`), heads
(:mod:`.heads`, :mod:`.zeroshot`), features (:mod:`.features`), export bundles
(:mod:`.bundle`), the energy model (:mod:`.energy`) and NIR (:mod:`.nir_export`,
:mod:`.nir_import`).  The experiment drivers (:mod:`.experiments`) run the studies on it.
Neither imports the RTL (``rramlsm.hw``), the cosimulation or the command line.
"""

__all__: list[str] = []
