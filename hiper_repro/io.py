"""Files shared by every module: atomic writes (a killed job never leaves half a file or folder) and where
results are."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class DiskFullError(OSError):
    """The disk filled during a write (or would): the message names the path, the free space and how much
    the write needs. Every caller's earlier files are intact: writes here replace files only when complete."""


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC/EDQUOT, also when a library rewraps it (safetensors: "No space left on device (os error 28)")."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err)
    return "No space left on device" in text or "os error 28" in text or "Disk quota exceeded" in text


def size_text(n: float) -> str:
    """Bytes in words: ``1.5 GB``."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def free_space(path: Path) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent)."""
    where = next(p for p in (path, *path.parents) if p.exists())
    return shutil.disk_usage(where).free


def disk_full(path: str | os.PathLike, need: int, during: bool = False) -> DiskFullError:
    """The error for a write of about ``need`` bytes to ``path`` that the disk cannot hold (``during``:
    it filled while writing, and ``need`` is what was written by then, a lower bound)."""
    path = Path(path)
    free = free_space(path)
    if during:  # what was written and what is still free were not enough: the write needs more than both
        text = (f"{path}: the disk filled during the write: it needs more than {size_text(need + free)}, "
                f"{size_text(need + free)} were free; free more space than that and rerun")  # fmt: skip
    else:
        text = (f"{path}: not enough disk space ({size_text(free)} free, the write needs about "
                f"{size_text(need)}): free at least {size_text(need - free)} and rerun")  # fmt: skip
    err = DiskFullError(text + " (files written before are intact)")
    err.errno = errno.ENOSPC
    return err


def ensure_space(path: str | os.PathLike, need: int) -> None:
    """Raise `DiskFullError` before a write of about ``need`` bytes that the disk of ``path`` cannot hold
    (some libraries crash rather than fail when the disk fills under them)."""
    if need > free_space(Path(path)):
        raise disk_full(path, need)


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary name beside ``path``; when the block succeeds it replaces ``path``.

    The temporary file is not created here, so a writer (HDF5, matplotlib) creates it with the usual
    permissions; being in the same folder keeps ``os.replace`` atomic. On an error it is removed; a full
    disk becomes a `DiskFullError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as err:
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise disk_full(path, max(_size_of(tmp), _size_of(path)), during=True) from err
        raise
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
    temporary folder is removed; a full disk becomes a `DiskFullError` naming ``path``.
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
    except Exception as err:
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise disk_full(path, max(_size_of(tmp), _size_of(path)), during=True) from err
        raise
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
