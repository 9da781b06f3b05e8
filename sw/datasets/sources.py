"""Source names, parsed and loaded the same way by every command."""

from __future__ import annotations

from pathlib import Path

from rramlsm.errors import EventDataError, UnknownSourceError
from rramlsm.sw.datasets.base import EventDataset

__all__ = ["SOURCE_KINDS", "parse_source", "check_source", "load_source"]

#: kind -> (modality, takes a path)
SOURCE_KINDS = {
    "digits": ("vision", False),
    "speech": ("audio", False),
    "nmnist": ("vision", True),
    "ntidigits": ("audio", True),
    "fsdd": ("audio", True),
    "shd": ("audio", True),
    "ssc": ("audio", True),
}
#: The kinds whose path is one file (the others name a folder).
_FILE_KINDS = {"ntidigits", "shd", "ssc"}


def parse_source(spec: str) -> tuple[str, Path | None]:
    """Split ``"kind"`` or ``"kind:PATH"`` and check the kind."""
    if not isinstance(spec, str) or not spec:
        raise UnknownSourceError(f"data source must be a non-empty string, not {spec!r}")
    kind, _, path = spec.partition(":")
    if kind not in SOURCE_KINDS:
        raise UnknownSourceError(
            f"unknown data source {spec!r}; expected one of digits, speech, nmnist:PATH, "
            f"ntidigits:FILE, fsdd:PATH, shd:FILE, ssc:FILE"
        )
    takes_path = SOURCE_KINDS[kind][1]
    if takes_path and not path:
        raise UnknownSourceError(f"data source {kind!r} needs a path: {kind}:PATH")
    if not takes_path and path:
        raise UnknownSourceError(f"data source {kind!r} is built in and takes no path")
    return kind, Path(path).expanduser() if path else None


def check_source(spec: str, modality: str | None = None) -> tuple[str, Path | None]:
    """:func:`parse_source`, then check the modality (when given) and that the path is an
    existing file or folder as the kind expects; nothing is read."""
    kind, path = parse_source(spec)
    if modality is not None and SOURCE_KINDS[kind][0] != modality:
        actual = SOURCE_KINDS[kind][0]
        raise UnknownSourceError(f"{spec!r} is {'an' if actual == 'audio' else 'a'} {actual} "
                                 f"source, not {modality}")
    if path is not None:
        want_file = kind in _FILE_KINDS
        if not path.exists():
            raise EventDataError(f"{path}: no such {'file' if want_file else 'folder'}")
        if want_file and path.is_dir():
            raise EventDataError(f"{path}: is a folder; {kind} takes a file")
        if not want_file and not path.is_dir():
            raise EventDataError(f"{path}: is a file; {kind} takes a folder")
    return kind, path


def load_source(spec: str, *, progress: bool = True, **builtin_options) -> EventDataset:
    """Load any source by name (built-in sources are built and cached on first use)."""
    from rramlsm.sw.datasets import builtin, fsdd, nmnist, ntidigits, shd

    kind, path = check_source(spec)
    if kind == "digits":
        return builtin.build_digits(progress=progress, **builtin_options)
    if kind == "speech":
        return builtin.build_speech(progress=progress, **builtin_options)
    if kind == "nmnist":
        return nmnist.load_nmnist_folder(path, name=spec)
    if kind == "ntidigits":
        return ntidigits.load_ntidigits(path, name=spec)
    if kind in ("shd", "ssc"):
        return shd.load_shd(path, kind=kind, name=spec)
    return fsdd.load_wav_folder(path, name=spec)


def source_modality(spec: str) -> str:
    return SOURCE_KINDS[parse_source(spec)[0]][0]
