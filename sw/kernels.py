"""Exact integer matrix products that are fast on every machine.

The macro's arithmetic is integer: column sums of weight codes over the
active rows of a crossbar (:mod:`rramlsm.sw.golden`), and the heads' int8
multiply-accumulates (:mod:`rramlsm.sw.heads`).  Which arithmetic unit does
that fastest depends on the machine, by factors of a hundred: ``torch._int_mm``
reaches a TOP/s on CPUs with int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI,
AMX) and falls back to a scalar loop of a few GOP/s everywhere else (AVX2-only
x86, most ARM laptops); float32 GEMM (MKL, OpenBLAS) is fast on every CPU and
GPU; and a sum of the active rows (an event-driven gather) does a tenth of a
dense product's work when a tenth of the inputs are active.

**Why every kernel here is exact.**  A float32 sum of integers is exact as long as
every partial sum is an integer of magnitude below 2**24 (the float32
significand has 24 bits), *whatever the order of summation*.  For a product
``x @ W`` with ``|x| <= a`` and ``|W| <= b`` over ``k`` rows every partial sum is at
most ``k * a * b`` in magnitude, so float32 is exact when ``k * a * b < 2**24``.
The contract's crossbar (:data:`~rramlsm.sw.contract.MAX_TILES` tiles of
:data:`~rramlsm.sw.contract.TILE_ROWS` rows, 0/1 inputs, codes within +-255)
gives at most 16,384 x 255 = 4,177,920 < 2**24; a head layer (counts <= 255,
int8 weights) stays below it up to 518 inputs, beyond which float64 (exact
below 2**53) takes over.  The int8 kernel splits each code ``w = 128 h + l`` with
``h`` in {-2, 0, 2} and ``l`` in [-128, 127] and accumulates in int32 (exact by
the same bound).  GPUs round float32 products to TF32 when allowed to; every
float32 product here runs with the float32 matmul precision set to
``"highest"``, which forbids that.

Besides the argument, each kernel proves itself once per process and device
before it may be chosen: it computes the worst case (every row active, every
code at +255, then at alternating +-255, over the largest array the contract
allows) and must equal the int64 reference; a kernel that fails is never used
(:func:`available_kernels` says why).

**Choosing.**  ``RRAMLSM_KERNEL`` (or ``--kernel`` on the command line) forces a
kernel; ``auto`` (the default) times every exact kernel once per process on the
shape at hand, with the input density the caller expects, and keeps the fastest.
All kernels give bit-identical results, so the choice changes speed only.
``RRAMLSM_DEVICE`` (``--device``) moves the float and golden models to a GPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from rramlsm.errors import ConfigError
from rramlsm.sw import contract

__all__ = [
    "GOLDEN_KERNELS",
    "KERNELS",
    "KernelError",
    "SpikeMatmul",
    "available_kernels",
    "check_golden_kernel",
    "compute_device",
    "event_lif_available",
    "event_lif_counts",
    "event_drive",
    "exact_int_matmul",
    "fastest",
    "kernel_setting",
    "set_compute",
    "sum_active_rows",
    "usable_golden",
    "usable_reason",
]

#: Every exact column-sum kernel (:class:`SpikeMatmul`), in the order a tie is broken.
KERNELS = ("int8", "fp32", "gather")
#: Every implementation of the golden model: the event-driven CPU loop
#: (:func:`event_lif_counts`), and the step-major tensor loop with each column-sum kernel.
GOLDEN_KERNELS = ("event",) + KERNELS
_EXACT_F32 = 1 << 24
_EXACT_F64 = 1 << 53


class KernelError(ConfigError):
    """A forced kernel or device cannot be used here."""


# --- process-wide settings ---------------------------------------------------------------

def kernel_setting() -> str:
    """The kernel asked for: ``$RRAMLSM_KERNEL`` or ``"auto"``."""
    name = os.environ.get("RRAMLSM_KERNEL", "auto").strip() or "auto"
    if name != "auto" and name not in GOLDEN_KERNELS:
        raise KernelError(f"RRAMLSM_KERNEL={name!r} is not a kernel; choose auto or one of "
                          f"{', '.join(GOLDEN_KERNELS)}")
    return name


def compute_device(name: str | torch.device | None = None) -> torch.device:
    """The device the float and golden models run on: ``name``, else ``$RRAMLSM_DEVICE``,
    else the CPU; checked, so that a missing GPU is a clear error, not a traceback."""
    what = "device" if name is not None else "RRAMLSM_DEVICE"
    if name is None:
        name = os.environ.get("RRAMLSM_DEVICE", "cpu").strip() or "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise KernelError(f"{what}={str(name)!r} is not a device (cpu, cuda, cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise KernelError(f"{what}={str(name)!r}: only cpu and cuda are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise KernelError(f"{what}={str(name)!r}: no CUDA device is available here "
                          f"(torch {torch.__version__}, CUDA build: {torch.version.cuda})")
    return device


def set_compute(*, kernel: str | None = None, device: str | None = None) -> None:
    """Set the kernel and device for this process and the workers it starts.

    Both are environment variables so that Ray workers inherit them; each is
    checked here, so a bad value stops before any work.
    """
    dev = compute_device(device)
    if kernel is not None:
        name = kernel.strip() or "auto"
        if name != "auto":
            check_golden_kernel(name, dev)
        os.environ["RRAMLSM_KERNEL"] = name
    if device is not None:
        os.environ["RRAMLSM_DEVICE"] = str(dev)


# --- the kernels -------------------------------------------------------------------------

class _Prepared:
    """A weight matrix ``[k, n]`` of integers in [-255, 255] ready for every kernel."""

    def __init__(self, w: np.ndarray, device: torch.device):
        w = np.asarray(w)
        if w.ndim != 2 or w.dtype.kind not in "ui":
            raise TypeError(f"weights must be a 2-D integer array, not {w.dtype} {w.shape}")
        if w.size and int(np.abs(w.astype(np.int64)).max()) > 255:
            raise ValueError("weight codes must lie within [-255, 255]")
        if w.shape[0] > contract.TILE_ROWS * contract.MAX_TILES:
            raise ValueError(f"at most {contract.TILE_ROWS * contract.MAX_TILES} rows keep "
                             f"column sums exact, not {w.shape[0]}")
        self.k, self.n = w.shape
        self.device = device
        self.codes = w.astype(np.int32)
        self._cache: dict[str, object] = {}

    def f32(self) -> torch.Tensor:
        if "f32" not in self._cache:
            self._cache["f32"] = torch.as_tensor(self.codes, dtype=torch.float32,
                                                 device=self.device)
        return self._cache["f32"]

    def int8(self):
        if "int8" not in self._cache:
            # _int_mm wants k and n in multiples of 8: pad with zero rows / columns.
            kp, np_ = -(-self.k // 8) * 8, -(-self.n // 8) * 8
            wp = np.zeros((kp, np_), np.int32)
            wp[: self.k, : self.n] = self.codes
            low = (wp + 128) % 256 - 128          # w wrapped into [-128, 127]
            high = (wp - low) // 128               # in {-2, 0, 2}
            lo = torch.as_tensor(low.astype(np.int8), device=self.device)
            # Codes within [-128, 127] (the common case) need one int8 product, not two.
            hi = torch.as_tensor(high.astype(np.int8), device=self.device) if high.any() else None
            self._cache["int8"] = (kp, np_, lo, hi)
        return self._cache["int8"]


@contextlib.contextmanager
def _highest_precision():
    """float32 products in full float32 (no TF32 / bf16 shortcuts), restored after."""
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


def _fp32(p: _Prepared, x: torch.Tensor) -> torch.Tensor:
    with _highest_precision():
        return (x.to(torch.float32) @ p.f32()).to(torch.int32)


def _int8(p: _Prepared, x: torch.Tensor) -> torch.Tensor:
    kp, np_, lo, hi = p.int8()
    m = x.shape[0]
    xi = x.to(torch.int8)
    if m <= 16:
        # _int_mm needs more than 16 rows; zero rows cost nothing to the result.
        xi = torch.nn.functional.pad(xi, (0, 0, 0, 17 - m))
    if kp != p.k:
        xi = torch.nn.functional.pad(xi, (0, kp - p.k))
    out = torch._int_mm(xi, lo)
    if hi is not None:
        out.add_(torch._int_mm(xi, hi).mul_(128))
    return out[:m, : p.n]


def sum_active_rows(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x @ w`` as a sum of the rows of ``w`` where ``x`` is non-zero, weighted by ``x``.

    Event data are mostly zeros, so this does a fraction of a dense product's
    work (``embedding_bag`` over the active rows, in ``w``'s float dtype).
    """
    rows, cols = x.nonzero(as_tuple=True)
    offsets = torch.searchsorted(rows, torch.arange(x.shape[0], device=x.device))
    return torch.nn.functional.embedding_bag(cols, w, offsets, mode="sum",
                                             per_sample_weights=x[rows, cols].to(w.dtype))


def _gather(p: _Prepared, x: torch.Tensor) -> torch.Tensor:
    return sum_active_rows(x, p.f32()).to(torch.int32)


_RUN: dict[str, Callable[[_Prepared, torch.Tensor], torch.Tensor]] = {
    "int8": _int8, "fp32": _fp32, "gather": _gather}

# (kernel, device, oneDNN on) -> None if proven exact, else why not usable.
_PROVEN: dict[tuple[str, str, bool], str | None] = {}


def _proof_key(name: str, device: torch.device) -> tuple[str, str, bool]:
    # Per backend too: oneDNN can be switched off, which changes the int8 matmul's code.
    return name, str(device), device.type == "cpu" and torch.backends.mkldnn.enabled


def worst_case() -> tuple[np.ndarray, np.ndarray]:
    """``(x, w)``: the inputs every kernel must sum exactly before it is used."""
    rows = contract.TILE_ROWS * contract.MAX_TILES
    w = np.full((rows, 8), 255, np.int32)
    w[:, 1::2] = -255                     # the most negative column sums
    w[1::2, 2] = -255                     # +-255 alternating down a column (cancellation)
    w[:, 3] = np.arange(rows) % 511 - 255  # every code
    x = np.ones((24, rows), np.uint8)     # every row active
    x[1::2, ::3] = 0
    return x, w


def _prove(name: str, device: torch.device) -> str | None:
    """Run the worst case through ``name`` on ``device``; None if it equals int64.

    Proved per backend as well as per device: on a CPU with AVX2 but no VNNI, oneDNN's
    int8 matmul sums byte products in saturating 16-bit pairs and fails the worst case,
    while PyTorch's own loop (oneDNN switched off) is exact."""
    key = _proof_key(name, device)
    if key in _PROVEN:
        return _PROVEN[key]
    x, w = worst_case()
    ref = x.astype(np.int64) @ w.astype(np.int64)
    try:
        got = _RUN[name](_Prepared(w, device), torch.as_tensor(x, device=device))
        ok = np.array_equal(got.cpu().numpy().astype(np.int64), ref)
        reason = None if ok else "its worst-case result differs from the int64 reference"
    except Exception as e:  # noqa: BLE001 - any failure makes the kernel unusable, not fatal
        reason = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}"
    _PROVEN[key] = reason
    return reason


def available_kernels(device: torch.device | str = "cpu") -> dict[str, str | None]:
    """Every kernel with ``None`` where it is usable (proven exact) on ``device``,
    or the reason it is not."""
    device = torch.device(device)
    return {name: _prove(name, device) for name in KERNELS}


def _usable(device: torch.device) -> list[str]:
    return [k for k, why in available_kernels(device).items() if why is None]


def usable_reason(name: str, device: torch.device | str) -> str | None:
    """Why golden-model kernel ``name`` cannot run on ``device``, or None if it can."""
    device = torch.device(device)
    if name == "event":
        if device.type != "cpu":
            return "it runs on the CPU only"
        return None if event_lif_available() else "numba is not installed"
    return available_kernels(device)[name]


def usable_golden(device: torch.device | str) -> list[str]:
    """The golden-model kernels usable on ``device``, in :data:`GOLDEN_KERNELS` order."""
    return [k for k in GOLDEN_KERNELS if usable_reason(k, device) is None]


def check_golden_kernel(name: str, device: torch.device) -> str:
    """``name`` if it is a golden-model kernel usable on ``device``; else a KernelError
    naming the alternatives."""
    if name not in GOLDEN_KERNELS:
        raise KernelError(f"kernel {name!r} is not a golden-model kernel; choose auto or "
                          f"one of {', '.join(GOLDEN_KERNELS)}")
    reason = usable_reason(name, device)
    if reason:
        raise KernelError(f"kernel {name!r} cannot be used on {device}: {reason}; available: "
                          f"{', '.join(usable_golden(device)) or 'none'}")
    return name


# (device, k, n, rows, density) -> the fastest kernel measured there.
_CHOICE: dict[tuple, str] = {}
_PROBE_ROWS = 1024


def fastest(runs: dict[str, Callable[[], object]], *, sync: torch.device | None = None,
            equal: Callable[[object, object], bool] = torch.equal) -> str:
    """The name of the fastest of ``runs`` (thunks computing the same result), checking
    that all agree.

    Each run is timed cold once; a run slower than 4x the best so far is not timed
    again (a scalar fallback 100x slower costs one call, not four), the others take
    the best of two more calls.
    """
    def timed(fn):
        if sync is not None and sync.type == "cuda":
            torch.cuda.synchronize(sync)
        t0 = time.perf_counter()
        out = fn()
        if sync is not None and sync.type == "cuda":
            torch.cuda.synchronize(sync)
        return time.perf_counter() - t0, out

    times, results = {}, {}
    for name, fn in runs.items():
        times[name], results[name] = timed(fn)
        if times[name] <= 4 * min(times.values()):
            times[name] = min(times[name], *(timed(fn)[0] for _ in range(2)))
    first_name = next(iter(results))
    for name, r in results.items():
        if not equal(r, results[first_name]):  # cannot happen if the exactness argument holds
            raise AssertionError(f"exact kernels {first_name!r} and {name!r} disagree; "
                                 f"please report this bug")
    return min(times, key=times.get)


def _probe(p: _Prepared, rows: int, density: float) -> str:
    """Time every usable kernel on a random 0/1 input of this shape and density."""
    # Rows to the next power of two, at most _PROBE_ROWS: one probe per octave of
    # batch size, and a bounded probe cost for the tall input-drive products.
    rows = min(1 << max(0, rows - 1).bit_length(), _PROBE_ROWS)
    key = (str(p.device), p.k, p.n, rows, density)
    if key not in _CHOICE:
        usable = _usable(p.device)
        if not usable:
            raise KernelError(f"no exact kernel works on {p.device}: "
                              f"{available_kernels(p.device)}")
        gen = torch.Generator().manual_seed(0)
        x = (torch.rand(rows, p.k, generator=gen) < density).to(torch.uint8).to(p.device)
        for name in usable:  # warm-up: allocations, lazy weight copies
            _RUN[name](p, x[:1])
        _CHOICE[key] = fastest({name: (lambda name=name: _RUN[name](p, x)) for name in usable},
                               sync=p.device)
    return _CHOICE[key]


def _density_bucket(density: float) -> float:
    """The nearest power of two in [1/64, 1]: one probe per octave of input activity."""
    return 2.0 ** min(0, max(-6, round(math.log2(max(density, 1e-6)))))


class SpikeMatmul:
    """``x @ W`` exactly, as int32, for 0/1 (or small non-negative) ``x``.

    ``W`` is a ``[k, n]`` integer array of codes within [-255, 255], ``k`` up to
    the contract's largest tiled array.  ``kernel``: ``None`` for the process
    setting (:func:`kernel_setting`), ``"auto"`` or a name of :data:`KERNELS`.
    ``density``: the fraction of non-zero inputs the caller expects (used only
    to choose the fastest kernel).
    """

    def __init__(self, w: np.ndarray, *, device: torch.device | str | None = None,
                 kernel: str | None = None, density: float = 0.1):
        self.device = compute_device(device)
        self.prepared = _Prepared(w, self.device)
        self.requested = kernel_setting() if kernel is None else kernel
        if self.requested == "event":
            self.requested = "auto"  # the golden model's own loop: columns sums are free to choose
        if self.requested != "auto":
            if self.requested not in KERNELS:
                raise KernelError(f"kernel {self.requested!r} is not a kernel; choose auto or "
                                  f"one of {', '.join(KERNELS)}")
            reason = _prove(self.requested, self.device)
            if reason:
                raise KernelError(f"kernel {self.requested!r} cannot be used on {self.device}: "
                                  f"{reason}; available: {', '.join(_usable(self.device))}")
        self.density = _density_bucket(density)
        self.kernel: str | None = None if self.requested == "auto" else self.requested

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel is None:
            self.kernel = _probe(self.prepared, x.shape[0], self.density)
        return _RUN[self.kernel](self.prepared, x)


def exact_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer arrays, exactly, as int64, on the fastest exact path.

    float32 BLAS when ``k * max|a| * max|b| < 2**24``, float64 below 2**53, and
    int64 arithmetic (numpy's own loop, slow) beyond: every partial sum is then an
    integer the float type holds exactly, in any order of summation.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind not in "ui" or b.dtype.kind not in "ui":
        raise TypeError(f"exact_int_matmul takes integer arrays, not {a.dtype} and {b.dtype}")
    amax = int(np.abs(a.astype(np.int64)).max(initial=0))
    bmax = int(np.abs(b.astype(np.int64)).max(initial=0))
    bound = a.shape[-1] * amax * bmax
    if bound < _EXACT_F32:
        with _highest_precision():
            return torch.as_tensor(a, dtype=torch.float32).matmul(
                torch.as_tensor(b, dtype=torch.float32)).numpy().astype(np.int64)
    if bound < _EXACT_F64:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    if math.log2(max(bound, 1)) >= 63:
        raise OverflowError("integer product would overflow int64")
    return a.astype(np.int64) @ b.astype(np.int64)


# --- the whole golden model as one event-driven loop ----------------------------------------

# The contract's constants, as globals numba compiles in.
_FRAC, _MASK = contract.DECAY_FRAC_BITS, (1 << contract.DECAY_FRAC_BITS) - 1
_MEM_FRAC, _MEM_MIN, _MEM_MAX = (contract.MEMBRANE_FRAC_BITS, contract.MEMBRANE_MIN,
                                 contract.MEMBRANE_MAX)


def _event_lif_impl(frames, w_in, w_rec, noise, decay_q, threshold_q, adc_shift, adc_lo,
                    adc_hi, window, counts, trains):
    """The golden model's step loop, sample by sample, touching only the active rows.

    Integer arithmetic in :mod:`rramlsm.sw.golden`'s order: column sums in int32
    (below 2**24), the decay product split as there, so every value fits int32.
    ``noise`` is ``[B, T, N]`` int32 or ``[0, 0, 0]`` for none; ``trains`` is
    ``[B, T, N]`` uint8 to record spike trains or ``[0, 0, 0]`` not to; ``counts``
    is ``[B, W, N]``, step ``t`` counting into window ``t // window``.  Numba
    compiles this for the CPU at hand, at its SIMD width; the active-row lists are
    built without branches (the spike pattern is random, so branches mispredict).
    """
    batch, steps, inputs = frames.shape
    neurons = w_rec.shape[0]
    record = trains.shape[0] > 0
    for b in numba.prange(batch):
        v = np.zeros(neurons, np.int32)
        keep = np.ones(neurons, np.int32)    # 0 where the neuron spiked at t - 1
        act_in = np.empty(inputs, np.int64)
        act_rec = np.empty(neurons, np.int64)
        col = np.empty(neurons, np.int32)
        n_rec = 0
        for t in range(steps):
            w = t // window
            n_in = 0
            for i in range(inputs):
                act_in[n_in] = i
                n_in += frames[b, t, i] != 0
            for j in range(neurons):
                col[j] = 0
            for a in range(n_in):
                row = act_in[a]
                for j in range(neurons):
                    col[j] += w_in[row, j]
            for a in range(n_rec):
                row = act_rec[a]
                for j in range(neurons):
                    col[j] += w_rec[row, j]
            if noise.shape[0]:
                for j in range(neurons):
                    col[j] += noise[b, t, j]
            for j in range(neurons):
                adc = min(max(col[j] >> adc_shift, adc_lo), adc_hi)
                r = v[j] * keep[j]
                u = (decay_q * (r >> _FRAC) + ((decay_q * (r & _MASK)) >> _FRAC)
                     + (adc << _MEM_FRAC))
                u = min(max(u, _MEM_MIN), _MEM_MAX)
                v[j] = u
                keep[j] = u < threshold_q
            n_rec = 0
            for j in range(neurons):
                act_rec[n_rec] = j
                n_rec += 1 - keep[j]
                counts[b, w, j] += 1 - keep[j]
            if record:
                for j in range(neurons):
                    trains[b, t, j] = 1 - keep[j]
    return counts


def _event_drive_impl(x, w, out, other):
    """``out[t, b] = sum_k w[k]`` over the ``k`` with ``x[b, t, k] == 1``, in ascending
    ``k``, accumulated in ``w``'s dtype (the order and roundings of ``embedding_bag``'s
    sum, which it replaces: bit-identical, tested).  Sets ``other[0]`` and stops that
    step's sum at any value other than 0 and 1 (the caller then discards ``out`` and takes
    the general path)."""
    batch, steps, inputs = x.shape
    n = w.shape[1]
    for b in numba.prange(batch):
        acc = np.empty(n, w.dtype)
        for t in range(steps):
            acc[:] = 0
            for k in range(inputs):
                v = x[b, t, k]
                if v == 1:
                    for j in range(n):
                        acc[j] += w[k, j]
                elif v != 0:
                    other[0] = 1
                    break
            out[t, b, :] = acc
    return out


try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; kept optional for safety
    numba = None
    _event_lif = _event_drive = None
else:
    # cache=True keeps the machine code in __pycache__: compiled once per machine (~2 s).
    _event_lif = numba.njit(parallel=True, cache=True, nogil=True)(_event_lif_impl)
    _event_drive = numba.njit(parallel=True, cache=True, nogil=True)(_event_drive_impl)


def _numba_threads() -> None:
    # Respect the caller's thread budget (torch's, which Ray workers and tests lower).
    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, torch.get_num_threads())))


def event_drive(x: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """The float model's input drive ``x [B, T, K] @ w [K, N]`` step-major ``[T, B, N]``
    for binary ``x``, as a sum of the rows of ``w`` where ``x`` is 1; None where ``x``
    holds other values or numba is missing.

    What :func:`sum_active_rows` computes, in the same order and roundings (so the
    float model's spikes do not depend on which runs), several times faster: no
    index lists, no transpose of ``x``, one pass per sample on each core.
    """
    if _event_drive is None:
        return None
    _numba_threads()
    out = np.empty((x.shape[1], x.shape[0], w.shape[1]), w.dtype)
    other = np.zeros(1, np.uint8)
    _event_drive(np.ascontiguousarray(x), np.ascontiguousarray(w), out, other)
    return None if other[0] else out


def event_lif_available() -> bool:
    """Whether the event-driven golden loop can run (numba is importable)."""
    return _event_lif is not None


def event_lif_counts(frames: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray,
                     noise: np.ndarray | None, *, decay_q: int, threshold_q: int,
                     adc_shift: int, adc_lo: int, adc_hi: int, windows: int = 1,
                     record: bool = False):
    """The golden model's counts ``[B, windows * N]`` (int32, window-major), and trains
    ``[B, T, N]`` with ``record``, by the event-driven CPU loop; the caller checks shapes
    and ranges (``windows`` divides ``T``)."""
    if _event_lif is None:
        raise KernelError("kernel 'event' needs numba, which is not installed")
    batch, steps, _ = frames.shape
    neurons = w_rec.shape[0]
    counts = np.zeros((batch, windows, neurons), np.int32)
    trains = np.zeros((batch, steps, neurons) if record else (0, 0, 0), np.uint8)
    noise = np.zeros((0, 0, 0), np.int32) if noise is None else noise.astype(np.int32)
    _numba_threads()
    _event_lif(np.ascontiguousarray(frames, np.uint8), w_in.astype(np.int16),
               w_rec.astype(np.int16), noise, int(decay_q), int(threshold_q), int(adc_shift),
               int(adc_lo), int(adc_hi), steps // windows, counts, trains)
    counts = counts.reshape(batch, windows * neurons)
    return (counts, trains) if record else counts
