"""Pictures of event samples, and figures as embeddable PNGs (matplotlib, Agg backend: no
display needed)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from rramlsm.sw._io import atomic_path
from rramlsm.sw.datasets.base import EventDataset

__all__ = ["plot_sample", "draw_sample", "plot_comparison", "png_base64", "pyplot"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use:
    half a second that ``rramlsm --help`` and every refused argument need not pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_base64(fig) -> str:
    """``fig`` as a base64 PNG (for a data URI in an HTML report); the figure is closed."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def draw_sample(ds: EventDataset, index: int, axes_row, *, frames: int = 6) -> None:
    """Draw sample ``index`` on a row of axes: vision as time-sliced frames, audio as a raster."""
    ev = ds.events[index]
    label = int(ds.labels[index])
    if ds.modality == "vision":
        w, h = ds.sensor
        t_edges = np.linspace(ev["t"].min(), ev["t"].max() + 1, frames + 1)
        for k, ax in enumerate(axes_row[:frames]):
            sel = (ev["t"] >= t_edges[k]) & (ev["t"] < t_edges[k + 1])
            img = np.zeros((h, w))
            np.add.at(img, (ev["y"][sel], ev["x"][sel]), np.where(ev["p"][sel] == 1, 1, -1))
            lim = max(1.0, np.abs(img).max())
            ax.imshow(img, cmap="bwr", vmin=-lim, vmax=lim)
            ax.set_title(f"{t_edges[k] / 1e3:.0f}-{t_edges[k + 1] / 1e3:.0f} ms", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        axes_row[0].set_ylabel(f"{ds.name}\nlabel {label}", fontsize=8)
    else:
        ax = axes_row[0]
        on = ev["p"] == 1
        ax.scatter(ev["t"][on] / 1e3, ev["x"][on], s=0.5, c="tab:red", label="ON")
        ax.scatter(ev["t"][~on] / 1e3, ev["x"][~on], s=0.5, c="tab:blue", label="OFF")
        ax.set_xlabel("time (ms)")
        ax.set_ylabel(f"{ds.name}\nchannel (label {label})", fontsize=8)
        ax.set_ylim(-1, ds.sensor[0])


def plot_sample(ds: EventDataset, index: int, out: Path) -> None:
    """Write a PNG of one sample (atomically)."""
    plt = pyplot()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if ds.modality == "vision":
        fig, axes = plt.subplots(1, 6, figsize=(10, 2.2))
    else:
        fig, ax = plt.subplots(1, 1, figsize=(7, 3))
        axes = [ax]
    draw_sample(ds, index, axes)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_comparison(pairs: list[tuple[EventDataset, int]], out: Path) -> None:
    """One row per (dataset, index): e.g. a built-in sample above a real one."""
    plt = pyplot()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vision = pairs[0][0].modality == "vision"
    fig, axes = plt.subplots(len(pairs), 6 if vision else 1,
                             figsize=(10, 2.1 * len(pairs)) if vision else (7, 2.6 * len(pairs)),
                             squeeze=False)
    for row, (ds, i) in zip(axes, pairs, strict=True):
        draw_sample(ds, i, row)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
