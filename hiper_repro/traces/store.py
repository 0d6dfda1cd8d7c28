"""Reading and writing trace files: netCDF4 (HDF5) through h5netcdf, replaced atomically.

netCDF has no boolean type: xarray's CF encoder stores bools as int8 with the attribute
``dtype = "bool"`` and decodes them on open; `decode_tree` then restores every schema dtype.
Float and integer variables are gzip-compressed with the shuffle filter: padding (NaN, -1) compresses
to almost nothing, so ragged iterations cost little on disk.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import xarray as xr

from hiper_repro.traces.convert import decode_tree

TRACES_FILE = "traces.nc"
ENGINE = "h5netcdf"
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def trace_path(path: str | os.PathLike) -> Path:
    """`path` itself if it names a ``.nc`` file, else ``path/traces.nc`` (a run directory)."""
    p = Path(path)
    return p if p.suffix == ".nc" else p / TRACES_FILE


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
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name beside the target (same file system, so os.replace is atomic); created by HDF5 itself so
    # that it gets the usual permissions (mkstemp would make it private).
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tree.to_netcdf(tmp, engine=ENGINE, encoding=_encoding(tree))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.stat().st_size


def read_tree(path: str | os.PathLike) -> xr.DataTree:
    """Read a trace file fully into memory (the file is closed on return) with schema dtypes restored."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no trace file at {p}")
    with xr.open_datatree(p, engine=ENGINE) as tree:
        return decode_tree(tree.load())
