"""Reading and writing trace files: netCDF4 (HDF5) through h5netcdf, replaced atomically.

netCDF has no boolean type: xarray's CF encoder stores bools as int8 with the attribute
``dtype = "bool"`` and decodes them on open; `decode_tree` then restores every schema dtype.
Float and integer variables are gzip-compressed with the shuffle filter: padding (NaN, -1) compresses
to almost nothing, so ragged iterations cost little on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from hiper_repro.io import atomic_target
from hiper_repro.traces.convert import decode_tree
from hiper_repro.traces.upgrade import upgrade

TRACES_FILE = "traces.nc"
ENGINE = "h5netcdf"
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def trace_path(path: str | os.PathLike) -> Path:
    """`path` itself if it names a ``.nc`` file or any existing file, else ``path/traces.nc`` (a run
    directory)."""
    p = Path(path)
    return p if p.suffix == ".nc" or p.is_file() else p / TRACES_FILE


def _encoding(tree: xr.DataTree) -> dict[str, dict[str, dict]]:
    encoding: dict[str, dict[str, dict]] = {}
    for node in tree.subtree:
        enc = {}
        for name, var in node.to_dataset(inherit=False).variables.items():
            # HDF5 cannot chunk zero-size arrays; compressing variable-length strings saves nothing.
            if var.size and var.dtype.kind in "fiub" and name not in var.dims:
                enc[name] = dict(COMPRESSION)
        encoding[node.path] = enc
    return encoding


def write_tree(tree: xr.DataTree, path: str | os.PathLike) -> int:
    """Write `tree` to `path` atomically (temp file in the same folder, then os.replace); returns bytes."""
    with atomic_target(path) as tmp:
        tree.to_netcdf(tmp, engine=ENGINE, encoding=_encoding(tree))
    return Path(path).stat().st_size


class UnreadableTraceFile(ValueError):
    """A trace file exists but is not a readable netCDF4/HDF5 file (truncated, corrupt, or another format)."""


def read_tree(path: str | os.PathLike) -> xr.DataTree:
    """Read a trace file fully into memory (the file is closed on return) with schema dtypes restored and
    a file of an older schema version converted (`traces.upgrade`).

    FileNotFoundError when it does not exist; `UnreadableTraceFile` naming it when HDF5 or xarray cannot
    read it (their own errors name neither the file nor the cause a user can act on).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no trace file at {p}")
    try:
        with xr.open_datatree(p, engine=ENGINE) as tree:
            return upgrade(decode_tree(tree.load()))
    except (OSError, ValueError, KeyError, TypeError) as err:
        size = p.stat().st_size
        raise UnreadableTraceFile(
            f"{p}: not a readable netCDF4 trace file ({size} bytes; {type(err).__name__}: "
            f"{' '.join(str(err).split())[:200]})"
        ) from err
