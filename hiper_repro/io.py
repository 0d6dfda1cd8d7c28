"""Files shared by every module: atomic writes (a killed job never leaves half a file or folder) and where
results are."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary name beside ``path``; when the block succeeds it replaces ``path``.

    The temporary file is not created here, so a writer (HDF5, matplotlib) creates it with the usual
    permissions; being in the same folder keeps ``os.replace`` atomic. On an error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(
    path: str | os.PathLike, replace: bool = True, owns: Callable[[str], bool] | None = None
) -> Iterator[Path]:
    """Yield a fresh empty folder beside ``path``; when the block succeeds it becomes ``path``.

    So ``path`` is either complete or absent, never half-written: a reader sees the old folder, the new
    one, or (for the instant between two renames) none, never a mix. With ``replace=False`` a ``path``
    that exists by then (another process finished the same work first) is kept and the new folder dropped.
    ``owns(name)`` says which entries of an existing ``path`` the caller writes: any other entry raises
    FileExistsError before the block runs, since replacing the folder would delete it. On an error the
    temporary folder is removed.
    """
    path = Path(path)
    if owns is not None and replace and path.is_dir():
        foreign = sorted(e.name for e in path.iterdir() if not owns(e.name))
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise FileExistsError(
                f"{path} holds {', '.join(foreign[:3])}{more}, which this command does not write: its "
                "outputs replace the whole folder, so give an empty or new folder"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            if not replace:
                return
            # rename the old folder aside (instant) rather than delete it in place (slow, half-deleted)
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically: see :func:`atomic_target`."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


RESULTS_ENV = "HIPER_REPRO_RESULTS"
PRESET_ENV = "HIPER_REPRO_PRESET"
DEFAULT_PRESET = "quick"  # the pipeline schema's default preset


def repo_root(start: str | os.PathLike | None = None) -> Path | None:
    """The repository root: the first folder at or above ``start`` (default: the working directory) that
    holds ``pyproject.toml``; None when there is none."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), None)


def default_preset(root: Path) -> str:
    """The preset a bare ``snakemake`` runs in ``root``: ``$HIPER_REPRO_PRESET``, else the ``preset`` of
    ``root/config/config.yaml``, else the schema's default."""
    if os.environ.get(PRESET_ENV):
        return os.environ[PRESET_ENV]
    config = root / "config" / "config.yaml"
    if config.is_file():
        from hiper_repro.yamlfile import safe_load

        data = safe_load(config.read_text()) or {}
        if isinstance(data, dict) and data.get("preset"):
            return str(data["preset"])
    return DEFAULT_PRESET


def find_results(required: str | None = "merged/traces.nc", preset: str | None = None) -> Path:
    """One preset's results folder: ``$HIPER_REPRO_RESULTS``, else ``results/{preset}`` in the repository
    root (the first folder at or above the working directory holding ``pyproject.toml``), where the
    pipeline writes that preset's outputs. ``preset`` defaults to :func:`default_preset`.

    ``required`` (a path inside it) must exist, else a FileNotFoundError says how to produce it.
    """
    if os.environ.get(RESULTS_ENV):
        results = Path(os.environ[RESULTS_ENV]).expanduser().resolve()
        how = "`snakemake --cores 2`"
    else:
        root = repo_root()
        if root is None:
            raise FileNotFoundError(
                f"no pyproject.toml at or above {Path.cwd().resolve()}: set {RESULTS_ENV}"
            )
        preset = preset or default_preset(root)
        results = root / "results" / preset
        how = f"`snakemake --cores 2 --config preset={preset}`"
    if required is not None and not (results / required).exists():
        raise FileNotFoundError(
            f"{results / required} does not exist: run the pipeline first ({how}; the smoke preset, a few "
            f"minutes: `snakemake --cores 2 --config preset=smoke`, then {PRESET_ENV}=smoke), or set "
            f"{RESULTS_ENV} to a results folder"
        )
    return results
