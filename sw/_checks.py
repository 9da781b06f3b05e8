"""Argument checks shared by the configuration dataclasses (messages name owner and field)."""

from __future__ import annotations

import math

import numpy as np

from rramlsm.errors import ConfigError

#: Largest run seed: the pipeline seeds torch (< 2**64) with 2 * seed + 1.
MAX_SEED = 2**32 - 1


def check_real(owner: str, name: str, value, *, lo=None, hi=None, lo_open=False,
               hi_open=False) -> None:
    """A finite real number, optionally within bounds; TypeError/ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner} {name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{owner} {name} must be finite, not {value}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{owner} {name} must be {'>' if lo_open else '>='} {lo}, not {value}")
    if hi is not None and (value >= hi if hi_open else value > hi):
        raise ValueError(f"{owner} {name} must be {'<' if hi_open else '<='} {hi}, not {value}")


def check_int(owner: str, name: str, value, *, lo: int, hi: int | None = None) -> None:
    """An integer (not a bool) in ``[lo, hi]``; TypeError/ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner} {name} must be an integer, not {type(value).__name__}")
    if value < lo:
        raise ValueError(f"{owner} {name} must be an integer >= {lo}, not {value}")
    if hi is not None and value > hi:
        raise ValueError(f"{owner} {name} must be an integer <= {hi}, not {value}")


def check_seeds(owner: str, seeds) -> None:
    """Run seeds: integers in ``0..MAX_SEED`` (TypeError/ValueError otherwise), none
    repeated (:class:`ConfigError`): one chip counted twice would pass for two in every
    mean and interval."""
    for s in seeds:
        check_int(owner, "seed", s, lo=0, hi=MAX_SEED)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{owner} seeds repeat: {list(seeds)}")
