"""Intervals for figures measured over a few seeds (and class splits).

Every headline figure is reported as mean, sample s.d. and a 95 % *Student t*
interval of the mean, ``mean +- t(0.975, n-1) * sd / sqrt(n)`` over the ``n``
independent runs (seeds, or splits x seeds).  With five seeds the t quantile is
2.78, so the interval is wide: that is the point, it cannot mislead.  One run
has no interval (``None``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["t_interval", "INTERVAL_METHOD", "harmonic_mean", "fmt_figure"]

INTERVAL_METHOD = ("95 % Student t interval of the mean over independent runs "
                   "(mean ± t(0.975, n-1) · s.d. / √n)")


def t_interval(values, level: float = 0.95) -> list[float] | None:
    """``[low, high]`` of the ``level`` t interval of the mean of ``values`` (None if < 2)."""
    x = np.asarray(values, np.float64)
    if x.size < 2:
        return None
    from scipy.stats import t

    mean, sd = float(x.mean()), float(x.std(ddof=1))
    half = float(t.ppf(0.5 + level / 2, x.size - 1)) * sd / math.sqrt(x.size)
    return [mean - half, mean + half]


def harmonic_mean(a: float, b: float) -> float:
    """``2ab / (a + b)`` (0 when both are 0): the generalized zero-shot summary figure."""
    return 0.0 if a + b <= 0 else 2.0 * a * b / (a + b)


def fmt_figure(d: dict, key: str) -> str:
    """``mean ± s.d. [low, high]`` of ``d[key]`` with its ``_sd`` / ``_ci95`` siblings
    (``-`` when absent, no interval for one run)."""
    if key not in d:
        return "-"
    text = f"{d[key]:.1f} ± {d.get(f'{key}_sd', 0.0):.1f}"
    ci = d.get(f"{key}_ci95")
    return text + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")
