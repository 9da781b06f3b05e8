"""Exact integer kernels: every kernel equals the int64 reference, worst cases included,
and the golden model's counts do not depend on the kernel (or device) that computes them."""

from pathlib import Path

import numpy as np
import pytest
import torch

from rramlsm.sw import contract, kernels
from rramlsm.sw.device import ADCConfig, DeviceConfig
from rramlsm.sw.golden import (
    GOLDEN_KERNELS,
    golden_counts,
    golden_kernel,
    quantize_reservoir,
    usable_reason,
)
from rramlsm.sw.kernels import KERNELS, KernelError, SpikeMatmul, exact_int_matmul, usable_golden
from rramlsm.sw.lsm import PRESETS, LSMConfig, make_reservoir

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


def _refused_here(kernel: str, w) -> bool:
    """A kernel that failed its proof on this machine (oneDNN's int8 on an AVX2-only CPU)
    must be refused when forced, never used: checked, then the caller has nothing to run."""
    if kernels.usable_reason(kernel, "cpu") is None:
        return False
    with pytest.raises(KernelError, match="cannot be used"):
        SpikeMatmul(w, kernel=kernel)
    return True


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("rows", [contract.TILE_ROWS, 192 + 2048,
                                  contract.TILE_ROWS * contract.MAX_TILES])
def test_every_kernel_is_exact_in_the_worst_case(kernel, rows):
    """All rows active, every code at +-255, one tile, the BMI array (3 tiles) and the
    contract's largest (16 tiles): the extreme column sums, against int64."""
    w = np.full((rows, 16), 255, np.int64)
    w[:, 1::2] = -255
    w[::3, 4] = -255
    x = np.ones((20, rows), np.uint8)
    x[1::2, 1::2] = 0
    if _refused_here(kernel, w):
        return
    got = SpikeMatmul(w, kernel=kernel)(torch.from_numpy(x)).numpy()
    want = x.astype(np.int64) @ w
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)
    assert np.abs(want).max() == rows * 255


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("m,k,n", [(40, 256, 200), (17, 13, 7), (5, 64, 200), (1, 9, 3)])
@pytest.mark.parametrize("span", [255, 128, 127])
def test_every_kernel_is_exact_over_the_code_range(kernel, m, k, n, span):
    """Codes beyond int8 (two int8 products), within it (one), and small or odd shapes
    (_int_mm's padding), with 0/1 and small-count inputs."""
    rng = np.random.default_rng(m + k + n + span)
    w = rng.integers(-span, span + 1, size=(k, n))
    w[0, :], w[-1, :] = span, -span
    x = (rng.random((m, k)) < 0.5).astype(np.uint8)
    x[0] = 1
    if m > 1:
        x[1, :3] = 3  # counts, not only spikes
        x[-1] = 0
    if _refused_here(kernel, w):
        return
    got = SpikeMatmul(w, kernel=kernel)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, x.astype(np.int64) @ w)


def test_weights_outside_the_contract_are_refused():
    with pytest.raises(ValueError, match=r"within \[-255, 255\]"):
        SpikeMatmul(np.full((4, 4), 256))
    with pytest.raises(ValueError, match="keep column sums exact"):
        SpikeMatmul(np.zeros((contract.TILE_ROWS * contract.MAX_TILES + 1, 2), np.int8))


def _reservoir(name="visual", **changes):
    cfg = PRESETS[name].replace(**changes)
    return cfg, make_reservoir(cfg, seed=3)


@pytest.mark.parametrize("noise", [False, True])
def test_golden_counts_and_trains_are_identical_for_every_kernel(noise):
    cfg, res = _reservoir(device=DeviceConfig(read_noise=0.05))
    lsm = quantize_reservoir(res, noise=noise, noise_seed=7)
    assert bool(lsm.noise_amplitude) == noise
    x = (np.random.default_rng(1).random((70, cfg.steps, cfg.inputs)) < 0.1).astype(np.uint8)
    results = {k: golden_counts(lsm, x, kernel=k, record=True, batch=32, first_sample=11)
               for k in usable_golden("cpu")}   # oneDNN int8 on AVX2 is refused
    ref_counts, ref_trains = results["fp32"]
    assert {"event", "fp32", "gather"} <= set(results)
    assert 0 < ref_counts.mean() < cfg.steps  # neither silent nor saturated
    for k, (counts, trains) in results.items():
        np.testing.assert_array_equal(counts, ref_counts, err_msg=k)
        np.testing.assert_array_equal(trains, ref_trains, err_msg=k)
    np.testing.assert_array_equal(ref_counts, ref_trains.sum(1))


def test_golden_kernels_agree_on_a_tiled_array_with_clipping_adc():
    """The BMI shape class: more than one tile, a narrow ADC that clips, every kernel."""
    cfg = LSMConfig(inputs=192, neurons=1100, steps=12, threshold=2.0, decay=0.95,
                    weight_scale=0.4, adc=ADCConfig(bits=5, shift=3))
    lsm = quantize_reservoir(make_reservoir(cfg, seed=2))
    assert lsm.tiles == 2
    x = (np.random.default_rng(5).random((6, cfg.steps, cfg.inputs)) < 0.3).astype(np.uint8)
    ref = golden_counts(lsm, x, kernel="fp32")
    assert ref.any()
    for k in usable_golden("cpu"):
        np.testing.assert_array_equal(golden_counts(lsm, x, kernel=k), ref, err_msg=k)


def test_auto_chooses_a_usable_kernel_and_keeps_it():
    cfg, res = _reservoir("audio")
    lsm = quantize_reservoir(res)
    x = (np.random.default_rng(2).random((8, cfg.steps, cfg.inputs)) < 0.1).astype(np.uint8)
    name = golden_kernel(lsm, x, kernel="auto")
    assert name in GOLDEN_KERNELS and usable_reason(name, "cpu") is None
    assert golden_kernel(lsm, x[:3], kernel="auto") == name  # cached per process and shape


def test_a_kernel_that_is_not_exact_is_never_chosen(monkeypatch):
    """A kernel whose worst case differs from int64 is unusable, however fast it is, and
    forcing it is a clear error that names the alternatives."""
    def wrong(p, x):
        return kernels._fp32(p, x) + 1

    monkeypatch.setitem(kernels._RUN, "fp32", wrong)
    monkeypatch.setattr(kernels, "_PROVEN", {})
    monkeypatch.setattr(kernels, "_CHOICE", {})
    assert "differs from the int64 reference" in kernels.available_kernels()["fp32"]
    w = np.random.default_rng(0).integers(-255, 256, (30, 20))
    mm = SpikeMatmul(w, kernel="auto")
    x = torch.ones(40, 30, dtype=torch.uint8)
    np.testing.assert_array_equal(mm(x).numpy(), x.numpy().astype(np.int64) @ w)
    assert mm.kernel != "fp32"
    with pytest.raises(KernelError, match=r"kernel 'fp32' cannot be used .* available: "
                                          r"(int8, )?gather"):
        SpikeMatmul(w, kernel="fp32")
    cfg, res = _reservoir("audio")
    lsm = quantize_reservoir(res)
    with pytest.raises(KernelError, match="'fp32' cannot be used on cpu"):
        golden_counts(lsm, np.zeros((1, cfg.steps, cfg.inputs), np.uint8), kernel="fp32")


def test_unknown_kernel_and_device_settings_are_clear_errors(monkeypatch):
    cfg, res = _reservoir("audio")
    lsm = quantize_reservoir(res)
    x = np.zeros((1, cfg.steps, cfg.inputs), np.uint8)
    with pytest.raises(KernelError, match="'fast' is not a golden-model kernel; choose auto"):
        golden_counts(lsm, x, kernel="fast")
    monkeypatch.setenv("RRAMLSM_KERNEL", "fast")
    with pytest.raises(KernelError, match="RRAMLSM_KERNEL='fast' is not a kernel"):
        golden_counts(lsm, x)
    monkeypatch.setenv("RRAMLSM_KERNEL", "auto")
    monkeypatch.setenv("RRAMLSM_DEVICE", "tpu")
    with pytest.raises(KernelError, match="RRAMLSM_DEVICE='tpu' is not a device"):
        golden_counts(lsm, x)
    if not torch.cuda.is_available():
        monkeypatch.setenv("RRAMLSM_DEVICE", "cuda")
        with pytest.raises(KernelError, match="no CUDA device is available"):
            golden_counts(lsm, x)
        with pytest.raises(KernelError, match="device='cuda:1': no CUDA device"):
            golden_counts(lsm, x, device="cuda:1")
    else:
        monkeypatch.setenv("RRAMLSM_DEVICE", "cpu")
        with pytest.raises(KernelError, match="'event' cannot be used on cuda: it runs on the"):
            golden_kernel(lsm, x, kernel="event", device="cuda")


@pytest.mark.parametrize("amax,bmax,k", [(1, 255, 16384), (255, 127, 200), (255, 127, 600),
                                         (2**20, 2**20, 50), (2**30, 2**30, 4)])
def test_exact_int_matmul_is_exact_on_each_side_of_the_float_bounds(amax, bmax, k):
    """float32 below 2**24, float64 below 2**53, int64 beyond: always the int64 result."""
    rng = np.random.default_rng(k)
    a = rng.integers(-amax, amax + 1, (7, k), dtype=np.int64)
    b = rng.integers(-bmax, bmax + 1, (k, 5), dtype=np.int64)
    a[0], b[:, 0] = amax, bmax  # the largest products, all of one sign
    a[1], b[:, 1] = amax, -bmax
    np.testing.assert_array_equal(exact_int_matmul(a, b), a @ b)
    with pytest.raises(TypeError, match="integer arrays"):
        exact_int_matmul(a.astype(float), b)


@CUDA
def test_golden_model_on_cuda_equals_the_cpu():
    cfg, res = _reservoir("visual")
    lsm = quantize_reservoir(res, noise=True, noise_seed=1)
    x = (np.random.default_rng(4).random((40, cfg.steps, cfg.inputs)) < 0.1).astype(np.uint8)
    ref = golden_counts(lsm, x, kernel="event", device="cpu")
    for k in KERNELS:
        if usable_reason(k, "cuda") is None:
            np.testing.assert_array_equal(golden_counts(lsm, x, kernel=k, device="cuda"), ref)


def test_cli_refuses_a_forced_kernel_that_cannot_run_here(monkeypatch, capsys, tmp_path):
    """--kernel names a kernel this machine cannot use: exit 2, one line with the alternatives,
    before any work."""
    from rramlsm.cli import main

    monkeypatch.setenv("RRAMLSM_KERNEL", "auto")  # restored after main() sets it
    monkeypatch.setenv("RRAMLSM_DEVICE", "cpu")
    monkeypatch.setattr(kernels, "_PROVEN", {kernels._proof_key("int8", torch.device("cpu")):
                                             "no int8 units (test)"})
    rc = main(["demo", "--kernel", "int8", "--out", str(tmp_path / "demo")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "kernel 'int8' cannot be used on cpu: no int8 units (test); available: event" in err
    assert not (tmp_path / "demo").exists()
    rc = main(["demo", "--kernel", "fp32", "--device", "tpu", "--out", str(tmp_path / "demo")])
    assert rc == 2 and "device='tpu' is not a device" in capsys.readouterr().err


def test_fastest_times_a_much_slower_kernel_once_and_checks_agreement():
    import time as _time

    calls = {"quick": 0, "slow": 0}

    def quick():
        calls["quick"] += 1
        return torch.ones(3)

    def slow():
        calls["slow"] += 1
        _time.sleep(0.05)
        return torch.ones(3)

    assert kernels.fastest({"quick": quick, "slow": slow}) == "quick"
    assert calls == {"quick": 3, "slow": 1}
    with pytest.raises(AssertionError, match="'quick' and 'wrong' disagree"):
        kernels.fastest({"quick": quick, "wrong": lambda: torch.zeros(3)})


_AVX2_PROBE = """
import numpy as np, torch
from rramlsm.sw import kernels
x, w = kernels.worst_case()
got = kernels._RUN["int8"](kernels._Prepared(w, torch.device("cpu")), torch.from_numpy(x))
exact = np.array_equal(got.numpy().astype(np.int64), x.astype(np.int64) @ w)
print(exact, kernels.usable_reason("int8", "cpu") is None)
"""


def _has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not _has_avx2(), reason="not an x86 CPU with AVX2")
def test_int8_on_an_avx2_only_cpu_is_used_only_if_exact():
    """With oneDNN capped at AVX2 (no VNNI: what most users' x86 CPUs have), its int8 matmul
    sums byte products in saturating 16-bit pairs; the proof must refuse it exactly when a
    direct worst-case check finds it wrong (and accept it otherwise)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run([sys.executable, "-c", _AVX2_PROBE], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    exact, accepted = (v == "True" for v in out)
    assert accepted == exact
