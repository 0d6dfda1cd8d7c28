"""Reading and writing trace files: netCDF4 (HDF5) through h5netcdf, replaced atomically.

netCDF has no boolean type: xarray's CF encoder stores bools as int8 with the attribute
``dtype = "bool"`` and decodes them on open; `decode_tree` then restores every schema dtype.
Float and integer variables are gzip-compressed with the shuffle filter: padding (NaN, -1) compresses
to almost nothing, so ragged iterations cost little on disk.

Checksums, two layers. Every numeric and boolean variable is written with HDF5's fletcher32 filter, so
a damaged data chunk fails when it is read. That leaves what fletcher32 does not cover: variable-length
strings (HDF5 cannot filter them) and the file's own metadata (a flipped bit in a chunk index makes HDF5
return fill values, silently). So every variable also carries the CRC-32 of its values as written
(attribute ``checksum_crc32``; see `checksum`), checked on read against the values read, and removed.
The root attr ``checksums`` marks files written so; older files without it still open, and `read_tree`
says so in its ``notes``. `read_tree` reads every variable, so a damaged file fails there, naming it.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import xarray as xr

from hiper_repro.io import atomic_target, ensure_space
from hiper_repro.traces.convert import decode_tree
from hiper_repro.traces.upgrade import upgrade

TRACES_FILE = "traces.nc"
ENGINE = "h5netcdf"
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
SPACE_MARGIN = 1 << 20  # bytes free beyond the old file's size before a trace file is rewritten
CHECKSUM_ATTR = "checksum_crc32"  # per variable: CRC-32 of its values (see checksum)
CHECKSUMS = "fletcher32 filter per numeric variable; checksum_crc32 attribute per variable"
OLD_FILE_NOTE = "written without checksums (an older file): a damaged value in it would go unnoticed"


def trace_path(path: str | os.PathLike) -> Path:
    """`path` itself if it names a ``.nc`` file or any existing file, else ``path/traces.nc`` (a run
    directory)."""
    p = Path(path)
    return p if p.suffix == ".nc" or p.is_file() else p / TRACES_FILE


def checksum(values: np.ndarray) -> str:
    """CRC-32 (8 hex digits) of a variable's values in C order, whatever its storage dtype: numbers and
    booleans as float64 (every NaN alike), text as the lengths then the UTF-8 bytes of its strings."""
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        x = values.astype(np.float64).ravel()
        return f"{zlib.crc32(np.where(np.isnan(x), np.nan, x).tobytes()):08x}"
    texts = [str(v) for v in values.ravel()]
    lengths = np.fromiter(map(len, texts), dtype="<i8", count=len(texts))
    crc = zlib.crc32(lengths.tobytes())
    return f"{zlib.crc32(chr(0).join(texts).encode('utf-8', 'surrogatepass'), crc):08x}"


def _encoding(tree: xr.DataTree) -> dict[str, dict[str, dict]]:
    encoding: dict[str, dict[str, dict]] = {}
    for node in tree.subtree:
        enc = {}
        for name, var in node.to_dataset(inherit=False).variables.items():
            # HDF5 cannot chunk (so neither filter nor checksum) zero-size arrays or variable-length strings;
            # dimension coordinates are small: checksummed, not compressed.
            if var.size and var.dtype.kind in "fiub":
                enc[name] = {"fletcher32": True} | ({} if name in var.dims else dict(COMPRESSION))
        encoding[node.path] = enc
    return encoding


def _with_checksums(tree: xr.DataTree) -> xr.DataTree:
    """A shallow copy of `tree` whose variables carry their CRC-32 and whose root says so."""
    out = tree.copy(deep=False)
    for node in out.subtree:
        for name, var in node.to_dataset(inherit=False).variables.items():
            node[name].attrs = {**var.attrs, CHECKSUM_ATTR: checksum(var.values)}
    out.attrs = {**tree.attrs, "checksums": CHECKSUMS}
    return out


def write_tree(tree: xr.DataTree, path: str | os.PathLike) -> int:
    """Write `tree` to `path` atomically (temp file in the same folder, then os.replace), with checksums;
    returns bytes."""
    # HDF5 may crash, not fail, when the disk fills under it: the new file is at least the old one's size
    ensure_space(path, (Path(path).stat().st_size if Path(path).exists() else 0) + SPACE_MARGIN)
    with atomic_target(path) as tmp:
        _with_checksums(tree).to_netcdf(tmp, engine=ENGINE, encoding=_encoding(tree))
    return Path(path).stat().st_size


class UnreadableTraceFile(ValueError):
    """A trace file exists but is not a readable netCDF4/HDF5 file (truncated, corrupt, or another format)."""


def read_tree(path: str | os.PathLike, notes: list[str] | None = None) -> xr.DataTree:
    """Read a trace file fully into memory (the file is closed on return) with schema dtypes restored and
    a file of an older schema version converted (`traces.upgrade`).

    Every variable is read and its checksum checked (module docstring). FileNotFoundError when it does
    not exist; `UnreadableTraceFile` naming it (and the damaged variable) when HDF5 or xarray cannot read
    it or a checksum fails (their own errors name neither the file nor the cause a user can act on).
    ``notes`` (when given) receives what a reader should know: a file written without checksums.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no trace file at {p}")
    try:
        with xr.open_datatree(p, engine=ENGINE) as tree:
            loaded = tree.load()
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as err:  # h5py: RuntimeError too
        size = p.stat().st_size
        damaged = _failing_variable(p) if isinstance(err, OSError) else None
        if damaged is not None:
            raise UnreadableTraceFile(
                f"{p}: variable {damaged} fails its checksum or cannot be decompressed: the file is damaged "
                "(a flipped bit, a bad disk block); restore it or rerun the job that wrote it"
            ) from err
        raise UnreadableTraceFile(
            f"{p}: not a readable netCDF4 trace file ({size} bytes; {type(err).__name__}: "
            f"{' '.join(str(err).split())[:200]})"
        ) from err
    if notes is not None and "checksums" not in loaded.attrs:
        notes.append(OLD_FILE_NOTE)
    loaded.attrs.pop("checksums", None)
    expected = {
        (node.path, name): node[name].attrs.pop(CHECKSUM_ATTR)
        for node in loaded.subtree
        for name in node.to_dataset(inherit=False).variables
        if CHECKSUM_ATTR in node[name].attrs
    }
    tree = decode_tree(loaded)
    for (where, name), crc in expected.items():
        if checksum(tree[where][name].values) != crc:
            raise UnreadableTraceFile(
                f"{p}: variable {where.rstrip('/')}/{name} fails its checksum (its values changed after they "
                "were written): the file is damaged; restore it or rerun the job that wrote it"
            )
    return upgrade(tree)  # after the checksums: they are of the values as written


def _failing_variable(path: Path) -> str | None:
    """The first dataset of the HDF5 file that cannot be read (a checksum or filter failure), or None."""
    import h5py

    found: list[str] = []

    def visit(name: str, obj: object) -> None:
        if not found and isinstance(obj, h5py.Dataset):
            try:
                obj[()]
            except (OSError, RuntimeError, ValueError):
                found.append(f"/{name}")

    try:
        with h5py.File(path, "r") as h5:
            h5.visititems(visit)
    except (OSError, RuntimeError, ValueError):
        return None
    return found[0] if found else None
