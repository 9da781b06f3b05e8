"""Source names, parsed and loaded the same way by every command."""

from __future__ import annotations

from pathlib import Path

from rramlsm.errors import UnknownSourceError
from rramlsm.sw.datasets.base import EventDataset

__all__ = ["SOURCE_KINDS", "parse_source", "load_source"]

#: kind -> (modality, takes a path)
SOURCE_KINDS = {
    "digits": ("vision", False),
    "speech": ("audio", False),
    "nmnist": ("vision", True),
    "ntidigits": ("audio", True),
    "fsdd": ("audio", True),
}


def parse_source(spec: str) -> tuple[str, Path | None]:
    """Split ``"kind"`` or ``"kind:PATH"`` and check the kind."""
    if not isinstance(spec, str) or not spec:
        raise UnknownSourceError(f"data source must be a non-empty string, not {spec!r}")
    kind, _, path = spec.partition(":")
    if kind not in SOURCE_KINDS:
        raise UnknownSourceError(
            f"unknown data source {spec!r}; expected one of digits, speech, nmnist:PATH, "
            f"ntidigits:FILE, fsdd:PATH"
        )
    takes_path = SOURCE_KINDS[kind][1]
    if takes_path and not path:
        raise UnknownSourceError(f"data source {kind!r} needs a path: {kind}:PATH")
    if not takes_path and path:
        raise UnknownSourceError(f"data source {kind!r} is built in and takes no path")
    return kind, Path(path).expanduser() if path else None


def load_source(spec: str, *, progress: bool = True, **builtin_options) -> EventDataset:
    """Load any source by name (built-in sources are built and cached on first use)."""
    from rramlsm.sw.datasets import builtin, fsdd, nmnist, ntidigits

    kind, path = parse_source(spec)
    if kind == "digits":
        return builtin.build_digits(progress=progress, **builtin_options)
    if kind == "speech":
        return builtin.build_speech(progress=progress, **builtin_options)
    if kind == "nmnist":
        return nmnist.load_nmnist_folder(path, name=spec)
    if kind == "ntidigits":
        return ntidigits.load_ntidigits(path, name=spec)
    return fsdd.load_wav_folder(path, name=spec)


def source_modality(spec: str) -> str:
    return SOURCE_KINDS[parse_source(spec)[0]][0]
