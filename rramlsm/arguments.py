"""Command-line arguments that name files and folders, checked before any work is done.

Every sub-command follows one convention: ``--out`` is a folder (a command that
writes one JSON file writes it into that folder under its usual name; a path
ending in ``.json`` is taken as the file itself), inputs are checked to exist
and to be a file or a folder as expected, and every error names the argument
(``--bundle: runs/x: no such bundle folder``).  The checks run before the long
work, so a typo costs a second, not the minutes of a build or a training run.

Nothing that is not the command's own is overwritten: an existing file is replaced
only if it can be an earlier run's output (not another command's, of the type written),
no ``--out`` lands inside a bundle folder, and a command that replaces a bundle refuses
when one of its inputs lies inside it.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from pathlib import Path

from rramlsm.errors import ConfigError, naming
from rramlsm.sw._checks import MAX_SEED
from rramlsm.sw.bundle import is_bundle_folder, load_bundle
from rramlsm.sw.datasets import load_source
from rramlsm.sw.datasets.sources import check_source

__all__ = ["require", "check_cpus", "input_file", "output_folder", "output_file",
           "replaced_folder", "run_folder", "beside_bundle", "bundle_argument",
           "source_argument", "check_source_argument", "add_source_arguments", "check_sources",
           "load_sources"]


#: File types by suffix from Python's own table, not the machine's (/etc/mime.types), so
#: that a name means the same on every machine with the same Python.
_FILE_TYPES = mimetypes.MimeTypes()
# ... and the files of this field that Python's table lacks: arrays, HDF5 recordings and
# NIR graphs, configurations, event streams.
for _suffix in (".npy", ".npz", ".h5", ".hdf5", ".nir", ".toml", ".jsonl", ".bin", ".aedat",
                ".aedat4", ".fst", ".vcd", ".bit", ".mem"):
    _FILE_TYPES.add_type("application/octet-stream", _suffix)


def require(argument: str, value, ok: bool, what: str) -> None:
    """A number argument's check: ``ok`` (computed so that NaN fails, e.g. ``value >= 1``),
    else the error ``--lanes must be at least 1, not 0``."""
    if not ok:
        raise ConfigError(f"{argument} must be {what}, not {value}")


def check_lanes(argument: str, lanes: int, widths, default: int = 16) -> None:
    """A lane count (``--lanes``, ``--head-lanes``) from 1 to the widest of ``widths`` (the
    bundle's reservoirs or head outputs; lanes beyond it only pad, and a design a million
    lanes wide takes forever to elaborate), or the ``default`` where that is more."""
    limit = max(default, *widths)
    require(argument, lanes, 1 <= lanes <= limit,
            f"1 to {limit} (the bundle's widest is {max(widths)}; more lanes only pad)")


def check_cpus(argument: str, cpus: int | None) -> None:
    """A local CPU count (``--cpus``; None: all of them): at least 1, since a Ray with no
    CPU waits for one for ever."""
    if cpus is not None:
        require(argument, cpus, cpus >= 1, "at least 1")


def check_seeds(argument: str, seeds) -> None:
    """Run seeds: integers in ``0..MAX_SEED``, none repeated (a repeated seed is the same
    chip counted twice in every mean and interval)."""
    require(argument, seeds, all(0 <= s <= MAX_SEED for s in seeds),
            f"integers in 0..{MAX_SEED}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{argument} repeat: {' '.join(map(str, seeds))}")


def input_file(argument: str, path) -> Path:
    """An existing file (not a folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"{argument}: {p}: is a folder, not a file")
    if not p.is_file():
        raise ConfigError(f"{argument}: {p}: no such file")
    return p


def _check_creatable(argument: str, p: Path, what: str) -> None:
    """``p`` can be created or replaced: its first existing ancestor is a folder in which
    an entry can be made (tried, :func:`_probe`)."""
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{argument}: {p}: cannot create the {what}: {parent} is a file, "
                          f"not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{argument}: {p}: cannot create the {what}: {parent} is not "
                          f"writable")
    _probe(argument, parent, f"{p}: cannot create the {what} in {parent}")


def _probe(argument: str, folder: Path, what: str) -> None:
    """Make and remove an entry in ``folder``: permission bits do not stop root, and /proc,
    /sys or a read-only mount refuse what they seem to allow."""
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".rramlsm-probe-"))
    except OSError as e:
        raise ConfigError(f"{argument}: {what} ({e.strerror or e})") from None


def _inside_bundle(argument: str, p: Path) -> None:
    """Refuse an output inside a bundle folder (:func:`is_bundle_folder`) above ``p``:
    a file written there replaces one of the bundle's (``--out B/manifest.json``) or joins
    files whose hashes the manifest lists."""
    for folder in p.resolve().parents:
        if is_bundle_folder(folder):
            raise ConfigError(f"{argument}: {p}: inside the bundle {folder}; write outside it")


def output_folder(argument: str, path) -> Path:
    """An output folder that exists and is writable, or that can be created (it is not
    created here: a command that fails later leaves no empty folder behind)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{argument}: {p}: is a file, not a folder")
    if not p.exists() and not str(path).endswith(("/", os.sep)) \
            and _FILE_TYPES.guess_type(p.name)[0] is not None:
        # "--out bundle.json" would become a folder of that name.
        raise ConfigError(f"{argument}: {p}: names a {p.suffix} file; this command writes a "
                          f"folder (a trailing / makes any name one)")
    _inside_bundle(argument, p)
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(f"{argument}: {p}: folder is not writable")
        _probe(argument, p, f"{p}: cannot write in the folder")
    else:
        _check_creatable(argument, p, "folder")
    return p


def run_folder(argument: str, path) -> Path:
    """A training run's output folder (:func:`output_folder`) whose ``bundle`` entry, if it
    exists, is a bundle the run may replace: anything else there would stop the run at its
    end, after the training, with the models already written."""
    p = output_folder(argument, path)
    if (p / "bundle").exists() and not is_bundle_folder(p / "bundle"):
        raise ConfigError(f"{argument}: {p / 'bundle'}: exists and is not a bundle; the run "
                          f"writes its bundle there (move it, or choose another --out)")
    return p


def replaced_folder(argument: str, out: Path, inputs: dict[str, str | Path]) -> bool:
    """Before a command replaces the bundle folder ``out`` with its new one: refuse when one
    of its ``inputs`` (argument -> path) lies inside it, which the replacement would
    delete.  True if ``out`` is a bundle (the caller says it replaced it)."""
    if not is_bundle_folder(out):
        return False
    root = out.resolve()
    for name, path in inputs.items():
        where = Path(path).expanduser().resolve()
        if where == root or root in where.parents:
            raise ConfigError(f"{name}: {path}: inside {argument} {out}, which this command "
                              f"replaces; write the new bundle elsewhere")
    return True


#: What the commands write under fixed names: a file of one of these names is another
#: command's output, never replaced by a command whose own output it is not.
OUTPUT_NAMES = frozenset({
    "baselines.json", "cosim.json", "energy.json", "eval.json", "fpga.json", "fpga.txt",
    "import.html", "import.json", "manifest.json", "metrics.json", "report.html",
    "results.jsonl", "summary.json", "sweep.json", "sweep.png", "trials.jsonl", "tune.json",
    "tune.png", "tuned.toml"})

#: The first bytes of the files the commands write by suffix (JSON: an object).
_MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".json": b"{"}


def _check_replaceable(argument: str, p: Path, name: str) -> None:
    """An existing file at ``p`` may be replaced by this command's output ``name`` only if
    it is such an output: not another command's (by name, :data:`OUTPUT_NAMES`), and of
    the type this command writes (a PNG, a JSON object), so that a re-run writes its file
    again while a user's file that happens to be there is not silently overwritten."""
    if p.name in OUTPUT_NAMES and p.name != name:
        raise ConfigError(f"{argument}: {p}: exists and is another command's output; name "
                          f"another file")
    magic = _MAGIC.get(p.suffix.lower())
    if magic is not None:
        with open(p, "rb") as f:
            head = f.read(len(magic) + 64).lstrip() if magic == b"{" else f.read(len(magic))
        if not head.startswith(magic):
            raise ConfigError(f"{argument}: {p}: exists and is not a {p.suffix} file this "
                              f"command wrote; remove it or name another file")


def output_file(argument: str, path, name: str) -> Path:
    """Where a command writes its one output file ``name`` (e.g. ``cosim.json``): into the
    folder ``path``, or ``path`` itself when it ends in the same suffix and is no folder.

    An existing file there is replaced only if it can be an earlier run's output
    (:func:`_check_replaceable`): another command's (``--out runs/demo/metrics.json``) or a
    file of another type is refused, not silently overwritten."""
    p = Path(path).expanduser()
    # A trailing separator says "a folder" whatever the name (Path drops it).
    folder = str(path).endswith(("/", os.sep))
    suffix = Path(name).suffix
    if p.suffix.lower() == suffix and not p.is_dir() and not folder:
        _inside_bundle(argument, p)
        _check_creatable(argument, p, "file")
        _check_existing(argument, p, name)
        return p
    if not p.exists() and not folder and _FILE_TYPES.guess_type(p.name)[0] is not None:
        # "--out s.jpg" for a PNG would otherwise become a folder named s.jpg; folder names
        # with dots ("demo.v2") are no file type and pass.
        raise ConfigError(f"{argument}: {p}: this command writes a {suffix} file; name the "
                          f"file *{suffix}, or give a folder (a trailing / makes any name one)")
    where = output_folder(argument, path)   # checks the folders above it
    out = where / name
    if is_bundle_folder(where):
        raise ConfigError(f"{argument}: {out}: inside the bundle {where}; write outside it")
    _check_existing(argument, out, name)
    return out


def _check_existing(argument: str, p: Path, name: str) -> None:
    """What :func:`output_file` asks of a file already at ``p``: writable, and replaceable
    by this command's ``name`` (:func:`_check_replaceable`)."""
    if p.is_dir():
        raise ConfigError(f"{argument}: {p}: is a folder; this command writes the file {name} "
                          f"there")
    if not p.exists():
        return
    if not os.access(p, os.W_OK):
        raise ConfigError(f"{argument}: {p}: file is not writable")
    _check_replaceable(argument, p, name)


def beside_bundle(path) -> Path:
    """The folder that holds the bundle ``path``: where a command writes by default (the
    run folder), resolved so that ``--bundle .`` from inside the bundle names its parent,
    not the bundle itself."""
    return Path(path).expanduser().resolve().parent


def bundle_argument(path, argument: str = "--bundle"):
    """Load and verify the bundle ``path``; errors name ``argument``."""
    p = Path(path).expanduser()
    if p.is_file():
        raise ConfigError(f"{argument}: {p}: is a file; a bundle is a folder")
    with naming(argument):
        return load_bundle(p)


def check_source_argument(argument: str, spec: str, modality: str | None = None) -> None:
    """A well-formed source whose path exists, of ``modality`` when given; cheap (nothing is
    read), so a command checks all its sources before loading the first."""
    with naming(argument):
        check_source(spec, modality)


def source_argument(argument: str, spec: str, modality: str | None = None, **options):
    """Load the source ``spec``; errors name ``argument``."""
    check_source_argument(argument, spec, modality)
    with naming(argument):
        return load_source(spec, **options)


def add_source_arguments(p, required: bool) -> None:
    """``--visual`` and ``--audio`` (default digits and speech unless ``required``)."""
    p.add_argument("--visual", default=None if required else "digits", required=required,
                   help="vision source: digits | nmnist:PATH")
    p.add_argument("--audio", default=None if required else "speech", required=required,
                   help="audio source: speech | fsdd:PATH | ntidigits:FILE")


def check_sources(args) -> None:
    """Both sources well formed and present, before the first is loaded (or built)."""
    check_source_argument("--visual", args.visual, "vision")
    check_source_argument("--audio", args.audio, "audio")


def load_sources(args):
    """``(visual, audio)`` datasets of ``--visual`` and ``--audio``, both checked first."""
    check_sources(args)
    return (source_argument("--visual", args.visual, "vision", progress=False),
            source_argument("--audio", args.audio, "audio", progress=False))
