"""A self-contained HTML report of a run (figures embedded as PNG data URIs)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from rramlsm.sw._io import write_atomic
from rramlsm.sw.experiments.audiovisual import PAPER_FIGURES
from rramlsm.sw.features import frame_dataset
from rramlsm.sw.golden import golden_counts
from rramlsm.sw.plots import png_base64, pyplot
from rramlsm.sw.stats import fmt_figure

__all__ = ["write_report", "figures", "write_bmi_report", "bmi_figures", "summary_rows",
           "class_list", "rotation_figures"]


def _pca2(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def _unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


def _training_curve(hist: list[dict], seen: list[float], unseen: list[float], best_epoch: int,
                    seed: int, suffix: str = ""):
    """Validation score (what selection sees) and test figures per epoch."""
    plt = pyplot()
    ep = [h["epoch"] for h in hist]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ep, [h["val_top1"] for h in hist], label="validation (selection)")
    ax.plot(ep, seen, label=f"test seen{suffix}")
    ax.plot(ep, unseen, label=f"test unseen{suffix}")
    ax.axvline(best_epoch, color="k", ls=":", label="selected epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 %")
    ax.legend(fontsize=8)
    ax.set_title(f"head training, seed {seed}")
    return fig


def figures(result) -> dict[str, str]:
    """Base64 PNGs of the first seed: embeddings, similarity, confusion, rasters, curves."""
    plt = pyplot()
    s0 = result.seeds[0]
    split = s0.embeddings["split"]
    v, a = result.visual, result.audio
    out = {}
    iv = np.concatenate(list(split.pool_v.values()))
    ia = np.concatenate(list(split.pool_a.values()))
    for path in ("software", "hardware"):
        ev = _unit(s0.embeddings[path]["visual"][iv].astype(np.float64))
        ea = _unit(s0.embeddings[path]["audio"][ia].astype(np.float64))
        xy = _pca2(np.concatenate([ev, ea]))
        lab = np.concatenate([v.labels[iv], a.labels[ia]])
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        cmap = plt.get_cmap("tab10")
        for mod, sl, mk in (("image", slice(0, len(ev)), "o"), ("audio", slice(len(ev), None),
                                                                 "^")):
            ax.scatter(xy[sl, 0], xy[sl, 1], c=[cmap(int(c)) for c in lab[sl]], marker=mk, s=10,
                       alpha=0.6, label=mod)
        for c in np.unique(lab):
            m = xy[lab == c].mean(0)
            ax.annotate(str(c), m, fontsize=12, weight="bold")
        ax.set_title(f"{path} embeddings (PCA), seed {s0.seed}; digits 8, 9 unseen")
        ax.legend(loc="best", fontsize=8)
        out[f"embeddings_{path}"] = png_base64(fig)

    # Class-mean cross-modal similarity (hardware embeddings).
    classes = s0.bundle.modalities["visual"].classes
    ev = _unit(s0.embeddings["hardware"]["visual"][iv].astype(np.float64))
    ea = _unit(s0.embeddings["hardware"]["audio"][ia].astype(np.float64))
    mv = _unit(np.stack([ev[v.labels[iv] == c].mean(0) for c in classes]))
    ma = _unit(np.stack([ea[a.labels[ia] == c].mean(0) for c in classes]))
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(ma @ mv.T, cmap="viridis")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("image class mean")
    ax.set_ylabel("audio class mean")
    ax.set_title("cross-modal cosine similarity (hardware)")
    fig.colorbar(im, ax=ax)
    out["similarity"] = png_base64(fig)

    # Confusion of the macro's 9-way prototype classifier on the test split.
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, m, ds in zip(axes, ("visual", "audio"), (v, a), strict=True):
        mb = s0.bundle.modalities[m]
        test = np.flatnonzero(~ds.is_train & np.isin(ds.labels, classes))
        # The pipeline's own golden counts: the figure shows the same predictions as the
        # classifier figures in metrics.json (read noise numbered by dataset index).
        pred = mb.classify(s0.embeddings["golden_counts"][m][test])
        cm = np.zeros((len(classes), len(classes)), int)
        for t, p in zip(ds.labels[test], pred, strict=True):
            cm[np.searchsorted(classes, t), np.searchsorted(classes, p)] += 1
        ax.imshow(cm, cmap="Blues")
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{m} macro classifier (int8, golden model)")
    out["confusion"] = png_base64(fig)

    # Spike rasters of one sample per modality (golden model).
    fig, axes = plt.subplots(2, 2, figsize=(10, 5), gridspec_kw={"width_ratios": [1, 2]})
    for row, (m, ds) in enumerate((("visual", v), ("audio", a))):
        mb = s0.bundle.modalities[m]
        i = int(np.flatnonzero(~ds.is_train)[0])
        fr = frame_dataset(ds, s0.configs[m], [i])
        _, train = golden_counts(mb.lsm, fr, record=True)
        t, n = np.nonzero(fr[0])
        axes[row, 0].scatter(t, n, s=1, c="k")
        axes[row, 0].set_title(f"{m} input (digit {ds.labels[i]})", fontsize=9)
        t, n = np.nonzero(train[0])
        axes[row, 1].scatter(t, n, s=1, c="C3")
        axes[row, 1].set_title(f"{m} reservoir spikes ({train[0].mean():.1%} of steps)",
                               fontsize=9)
        axes[row, 1].set_xlabel("time step")
    fig.tight_layout()
    out["rasters"] = png_base64(fig)

    # Training curve of seed 0: why selection matters.
    hist = s0.history
    fig = _training_curve(hist, [h["test"]["seen"]["a2v"] for h in hist],
                          [h["test"]["unseen"]["a2v"] for h in hist], s0.best_epoch, s0.seed,
                          " a2v")
    out["curve"] = png_base64(fig)
    return out


def _fmt(m: dict, key: str) -> str:
    return fmt_figure(m, key)


def class_list(classes) -> str:
    """``1-7`` for a run of consecutive classes, else ``0,2,5``."""
    cs = sorted(classes)
    if len(cs) > 2 and cs == list(range(cs[0], cs[-1] + 1)):
        return f"{cs[0]}-{cs[-1]}"
    return ",".join(str(c) for c in cs)


def summary_rows(metrics: dict) -> list[tuple[str, str, str, float | None, str | None]]:
    """The headline figures: (label, group, key, chance %, paper key) per row, for the
    printed summary and the report."""
    ch, pr = metrics["chance"], metrics["protocol"]
    seen, unseen = (class_list(pr.get(k, d)) for k, d in (("seen", range(1, 8)),
                                                           ("unseen", (8, 9))))
    gz = ch.get("gzsl", {})
    return [
        (f"zero-shot seen {seen} (audio->image)", "zero_shot", "seen_top1", ch["seen_top1"],
         "zero_shot_seen_top1"),
        (f"zero-shot unseen {unseen} (audio->image)", "zero_shot", "unseen_top1",
         ch["unseen_top1"], "zero_shot_unseen_top1"),
        ("prototype classifier seen", "zero_shot", "prototype_seen_top1", ch["seen_top1"], None),
        ("prototype classifier unseen", "zero_shot", "prototype_unseen_top1", ch["unseen_top1"],
         None),
        ("GZSL seen (all classes compete)", "gzsl", "seen", gz.get("seen"), None),
        ("GZSL unseen (all classes compete)", "gzsl", "unseen", gz.get("unseen"), None),
        ("GZSL harmonic mean", "gzsl", "harmonic_mean", gz.get("harmonic_mean"), None),
        ("GZSL prototype harmonic mean", "gzsl", "prototype_harmonic_mean",
         gz.get("harmonic_mean"), None),
        ("linear probe visual (10 digits)", "probe", "visual_top1", ch.get("probe_top1"),
         "probe_visual_top1"),
        ("linear probe audio (10 digits)", "probe", "audio_top1", ch.get("probe_top1"),
         "probe_audio_top1"),
    ]




def rotation_figures(rot: dict) -> dict[str, str]:
    """Base64 PNGs of a split rotation: the per-pair heat map of unseen accuracy (software,
    hardware) and the distribution over splits of unseen accuracy and GZSL harmonic mean."""
    plt = pyplot()
    classes = rot["classes"]
    pos = {c: i for i, c in enumerate(classes)}
    out = {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, path in zip(axes, ("software", "hardware"), strict=True):
        grid = np.full((len(classes), len(classes)), np.nan)
        for sp in rot["splits"]:
            if len(sp["unseen"]) == 2:
                i, j = (pos[c] for c in sp["unseen"])
                grid[i, j] = grid[j, i] = sp[path]["unseen_top1"]
        im = ax.imshow(grid, cmap="RdBu", vmin=0, vmax=100)
        for i in range(len(classes)):
            for j in range(i + 1, len(classes)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("held-out class")
        ax.set_ylabel("held-out class")
        ax.set_title(f"unseen top-1 % per held-out pair ({path})", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    out["split rotation: unseen accuracy per held-out pair (chance 50 %, white)"] = png_base64(fig)

    fig, ax = plt.subplots(figsize=(7, 3.5))
    series = [(f"{path}\n{name}", [sp[path][key] if "." not in key else
                                   sp[path]["gzsl"][key.split(".")[1]] for sp in rot["splits"]])
              for path in ("software", "hardware")
              for name, key in (("unseen", "unseen_top1"), ("GZSL H", "gzsl.harmonic_mean"))]
    rng = np.random.default_rng(0)
    for k, (_, ys) in enumerate(series):
        ax.scatter(k + rng.uniform(-0.12, 0.12, len(ys)), ys, s=12, alpha=0.7)
        ax.boxplot([ys], positions=[k], widths=0.4, showfliers=False)
    ax.axhline(rot["chance"]["unseen_top1"], color="k", ls=":", lw=1, label="chance unseen")
    ax.axhline(rot["chance"]["gzsl"], color="grey", ls="--", lw=1, label="chance GZSL")
    ax.set_xticks(range(len(series)), [n for n, _ in series], fontsize=8)
    ax.set_ylabel("top-1 % (mean over seeds)")
    ax.set_title(f"distribution over {len(rot['splits'])} splits", fontsize=9)
    ax.legend(fontsize=7)
    out["split rotation: distribution over splits"] = png_base64(fig)
    return out


def _rotation_html(rot: dict | None) -> str:
    if not rot:
        return ("<h2>Split rotation</h2><p>Not run: one held-out split only (run with "
                "<code>--unseen-splits all|K|a,b</code>).</p>")
    rows = "".join(
        f"<tr><td>{path}</td>" + "".join(
            f"<td>{html.escape(_fmt(d, k))}</td>" for d, k in (
                (rot["aggregate"][path], "seen_top1"), (rot["aggregate"][path], "unseen_top1"),
                (rot["aggregate"][path]["gzsl"], "seen"),
                (rot["aggregate"][path]["gzsl"], "unseen"),
                (rot["aggregate"][path]["gzsl"], "harmonic_mean")))
        + f"<td>{html.escape(str(rot['unseen_vs_chance'][path]))}</td></tr>"
        for path in ("software", "hardware"))
    ch = rot["chance"]
    img = "".join(f'<h3>{html.escape(k)}</h3><img src="data:image/png;base64,{v}">'
                  for k, v in rotation_figures(rot).items())
    return f"""<h2>Split rotation ({html.escape(str(rot['spec']))}: {len(rot['splits'])}
held-out groups x {len(rot['seeds'])} seeds)</h2>
<p>{html.escape(rot['protocol'])}. Every class present in both modalities and not held out
is seen. Intervals: {html.escape(rot['intervals'])}. Chance: seen {ch['seen_top1']:.1f} %,
unseen {ch['unseen_top1']:.1f} %, GZSL {ch['gzsl']:.1f} %.</p>
<table><tr><th>path</th><th>seen</th><th>unseen (2-way)</th><th>GZSL seen</th>
<th>GZSL unseen</th><th>GZSL harmonic mean</th><th>unseen vs chance (95 %)</th></tr>
{rows}</table>{img}"""


def write_report(path: str | Path, result, metrics: dict) -> Path:
    """Write ``report.html`` (atomically) for a
    :class:`~rramlsm.sw.experiments.audiovisual.PipelineResult`."""
    P = PAPER_FIGURES
    figs = figures(result)
    sw, hw = metrics["software"], metrics["hardware"]
    rows = []
    for label, grp, key, chance, pk in summary_rows(metrics):
        paper = f"{P[pk]['software']} / {P[pk]['hardware']}" if pk else "-"
        rows.append((label, _fmt(sw.get(grp, {}), key), _fmt(hw.get(grp, {}), key),
                     "-" if chance is None else f"{chance:.1f}", paper))
    rows.insert(2, ("unseen, test-selected epoch (optimistic; the paper's single split)",
                    _fmt(sw["test_selected"], "unseen_top1"), "-",
                    f"{metrics['chance']['unseen_top1']:.1f}", "(paper's protocol)"))
    cost = metrics.get("training_cost", {})
    if cost:
        rows.append(("training cost vs SRNN-CLIP (FLOPs)", f"{cost['srnn_clip_ratio']:.1f}×", "",
                     "", f"{P['training_cost_srnn_clip_ratio']}×"))
        rows.append(("training cost vs ProtoNet (FLOPs)", f"{cost['protonet_ratio']:.1f}×", "",
                     "", f"{P['training_cost_protonet_ratio']}×"))
        for step, v in cost.get("ours", {}).items():
            gflop = "-" if v.get("flops") is None else f"{v['flops'] / 1e9:.2f} GFLOP"
            rows.append((f"ours: {step.replace('_', ' ')}", gflop, f"{v.get('seconds', 0):.1f} s",
                         "", "counted in the ratios"))
    table = "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>"
                    for row in rows)
    al = metrics["alignment"]
    align = "".join(f"<tr><td>{k}</td><td>{_fmt(al[k], 'seen_top1')}</td>"
                    f"<td>{_fmt(al[k], 'unseen_top1')}</td></tr>" for k in ("clip", "cca", "ridge"))
    chance = metrics["chance"]
    intervals = metrics["protocol"].get("intervals", "")
    img = "".join(f'<h3>{html.escape(k)}</h3><img src="data:image/png;base64,{v}">'
                  for k, v in figs.items())
    doc = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>rramlsm report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}</style></head>
<body><h1>rramlsm: zero-shot LSM run</h1>
<p>Sources: visual <code>{html.escape(metrics['sources']['visual'])}</code>, audio
<code>{html.escape(metrics['sources']['audio'])}</code>; seeds
{metrics['protocol']['seeds']}; mean ± s.d. [{html.escape(intervals)}] over seeds, checkpoint
chosen on validation pairs. Chance: seen {chance['seen_top1']:.1f} %, unseen
{chance['unseen_top1']:.1f} %.
Pools: {html.escape(metrics['protocol']['pools'])}.</p>
<h2>Figures beside the paper's (top-1 %)</h2>
<table><tr><th>metric</th><th>software</th><th>hardware (int)</th><th>chance</th>
<th>paper sw / RRAM</th></tr>
{table}</table>
<p>The test-selected row picks, per seed, the epoch with the best unseen test figure, as the
authors' scripts do; it is optimistic and shown only to explain the published figure.
GZSL (generalized zero-shot): {html.escape(metrics['protocol'].get('gzsl', ''))}; the paper
reports no GZSL figure. Chance is a uniform guess among the classes that compete.</p>
<h2>Alignment methods (software, audio→image)</h2>
<table><tr><th>method</th><th>seen</th><th>unseen</th></tr>{align}</table>
<p>Best on unseen classes: <b>{al['best_unseen']}</b>.</p>
{_rotation_html(metrics.get('zero_shot_splits'))}
<h2>Figures</h2>{img}
</body></html>"""
    path = Path(path)
    write_atomic(path, doc)
    return path


def bmi_figures(result) -> dict[str, str]:
    """Base64 PNGs of a BMI run's first seed: embeddings, training curve, sample inputs."""
    plt = pyplot()
    s0 = result.seeds[0]
    emb, split = s0["embeddings"], s0["embeddings"]["split"]
    names = result.letters.class_names
    out = {}
    # Unseen letters in the shared space: both modalities, software and hardware.
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    iv, ia = split.pool_v["unseen"], split.pool_a["unseen"]
    for ax, path in zip(axes, ("software", "hardware"), strict=True):
        ev = _unit(emb[path]["letters"][iv].astype(np.float64))
        en = _unit(emb[path]["neural"][ia].astype(np.float64))
        xy = _pca2(np.concatenate([ev, en]))
        lab = np.concatenate([result.letters.labels[iv], result.neural.labels[ia]])
        cmap = plt.get_cmap("tab10")
        classes = list(np.unique(lab))
        for mod, sl, mk in (("image", slice(0, len(ev)), "o"), ("neural", slice(len(ev), None),
                                                                  "^")):
            ax.scatter(xy[sl, 0], xy[sl, 1], c=[cmap(classes.index(c)) for c in lab[sl]],
                       marker=mk, s=12, alpha=0.7, label=mod)
        for c in classes:
            ax.annotate(names[c], xy[lab == c].mean(0), fontsize=14, weight="bold")
        ax.set_title(f"unseen letters, {path} embeddings (PCA)")
        ax.legend(fontsize=8)
    out["unseen embeddings"] = png_base64(fig)

    hist = s0["history"]
    fig = _training_curve(hist, [h["test_seen_top1"] for h in hist],
                          [h["test_unseen_top1"] for h in hist], s0["best_epoch"], s0["seed"])
    out["training curve"] = png_base64(fig)

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 2, 1]})
    li, ne = result.letters, result.neural
    i = int(np.flatnonzero(li.labels == 0)[0])
    side = int(round(np.sqrt(li.channels)))
    axes[0].imshow(li.frames[i].mean(0).reshape(side, side), cmap="gray")
    axes[0].set_title(f"letter image '{names[0]}' (rate code, mean of {li.bins} steps)",
                      fontsize=8)
    axes[0].axis("off")
    j = int(np.flatnonzero(ne.labels == 0)[0])
    t, c = np.nonzero(ne.frames[j])
    axes[1].scatter(t, c, s=0.5, c="k")
    axes[1].set_title(f"neural trial '{names[0]}' ({ne.name})", fontsize=8)
    axes[1].set_xlabel("10 ms bin")
    axes[1].set_ylabel("channel")
    rate = ne.frames[ne.labels == 0].mean((0, 2))
    axes[2].plot(rate)
    axes[2].set_title("population activity, mean over trials", fontsize=8)
    axes[2].set_xlabel("10 ms bin")
    fig.tight_layout()
    out["inputs"] = png_base64(fig)
    return out


def write_bmi_report(path: str | Path, result, metrics: dict) -> Path:
    """Write ``report.html`` (atomically) for a :class:`~rramlsm.sw.experiments.bmi.BMIResult`."""
    figs = bmi_figures(result)
    sw, hw, P = metrics["software"], metrics["hardware"], metrics["paper"]
    rows = [
        ("zero-shot seen (neural→image)", _fmt(sw["zero_shot"], "seen_top1"),
         _fmt(hw["zero_shot"], "seen_top1"), f"{P['zero_shot_seen_top1']}"),
        ("zero-shot unseen (neural→image)", _fmt(sw["zero_shot"], "unseen_top1"),
         _fmt(hw["zero_shot"], "unseen_top1"), f"{P['zero_shot_unseen_top1']}"),
        ("unseen, test-selected epoch (optimistic)", _fmt(sw["test_selected"], "unseen_top1"),
         "-", "-"),
        ("prototype classifier seen", _fmt(sw["zero_shot"], "prototype_seen_top1"),
         _fmt(hw["zero_shot"], "prototype_seen_top1"), "-"),
        ("prototype classifier unseen", _fmt(sw["zero_shot"], "prototype_unseen_top1"),
         _fmt(hw["zero_shot"], "prototype_unseen_top1"), "-"),
        ("linear probe neural (26 letters)", _fmt(sw["probe"], "neural_top1"),
         _fmt(hw["probe"], "neural_top1"), "-"),
        ("linear probe letter images (26)", _fmt(sw["probe"], "letters_top1"),
         _fmt(hw["probe"], "letters_top1"), "-"),
    ]
    cost = metrics.get("training_cost")
    if cost:
        rows.append(("training cost vs SRNN-CLIP (FLOPs)", f"{cost['srnn_clip_ratio']:.1f}×",
                     "", "-"))
        rows.append(("training cost vs ProtoNet (FLOPs)", f"{cost['protonet_ratio']:.1f}×", "",
                     "-"))
        rows += [(f"ours: {step.replace('_', ' ')}", f"{v['flops'] / 1e9:.2f} GFLOP",
                  f"{v['seconds']:.1f} s", "counted in the ratios")
                 for step, v in cost["ours"].items()]
    table = "".join(f"<tr><td>{html.escape(a)}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>"
                    for a, b, c, d in rows)
    pr, ch = metrics["protocol"], metrics["chance"]
    fr = metrics["firing_rate"]
    rates = ", ".join(f"{m} {100 * fr[m]['float']:.1f} / {100 * fr[m]['golden']:.1f} %"
                      for m in fr)
    img = "".join(f'<h3>{html.escape(k)}</h3><img src="data:image/png;base64,{v}">'
                  for k, v in figs.items())
    choice = ""
    if metrics.get("temperature_choice"):
        choice = "<p>Temperature chosen per seed by retrieval of seen letters held out of " \
                 "training (training trials only; mean top-1 % per candidate):</p><ul>" + "".join(
            f"<li>seed {seed}: held out {html.escape(', '.join(c['held_out']))}; "
            + ", ".join(f"{t}: {np.mean(v):.1f}" for t, v in c["held_out_top1"].items())
            + f" &rarr; <b>{c['chosen']}</b></li>"
            for seed, c in zip(pr["seeds"], metrics["temperature_choice"], strict=True)) \
            + "</ul>"
    doc = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>rramlsm BMI report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}</style></head>
<body><h1>rramlsm: BMI zero-shot run (neural activity ↔ letter images)</h1>
<p>Sources: neural <code>{html.escape(metrics['sources']['neural'])}</code>, letters
<code>{html.escape(metrics['sources']['letters'])}</code>; seen letters
<code>{pr['seen']}</code>, unseen <code>{pr['unseen']}</code>; loss {html.escape(pr['loss'])};
seeds {pr['seeds']}; mean ± s.d. over seeds, checkpoint chosen on validation pairs.
Chance: seen {ch['seen_top1']:.1f} %, unseen {ch['unseen_top1']:.1f} %.
Firing rate float / golden: {rates}. Each reservoir spans {metrics['tiles']} crossbar tiles
of 1,024 rows.</p>{choice}
<h2>Figures beside the paper's (top-1 %)</h2>
<table><tr><th>metric</th><th>software</th><th>hardware (int)</th><th>paper (software)</th></tr>
{table}</table>
<h2>Figures</h2>{img}
</body></html>"""
    path = Path(path)
    write_atomic(path, doc)
    return path
