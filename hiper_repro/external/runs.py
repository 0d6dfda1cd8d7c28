"""Imported veRL runs: merging per-log datasets along ``run``, naming variants, netCDF storage.

Merged layout: dims ``(run, step)``; one float variable per metric (NaN where a run lacks a step or a
metric); every per-run fact of :func:`~hiper_repro.external.verl.read_verl_log` (``method``, ``seed``,
``env``, ``model``, ``source``, ``overrides``, the counts ...) becomes a coordinate along ``run``, plus
``variant``. The attr ``method`` becomes the coordinate ``method_name`` (:data:`COORD_NAMES`), as in the
traces: xarray reserves ``method=`` in ``.sel``; :func:`load_runs` renames it in files imported before.
Merged attrs are set explicitly (``xr.concat`` would copy the first run's).

``variant`` summarises, per method, the Hydra overrides whose values differ between that method's runs:
``keep_penalty=-0.15, ...`` (keys shortened to their last component while that stays unambiguous), or
``default`` when a run sets none of them. Keys that change bookkeeping, hardware use or speed but not the
algorithm (:data:`NOT_VARIANT`: seed, experiment names, file paths, GPU counts, micro-batch sizes,
offloading, ...) never make a variant.

netCDF (HDF5) forbids ``/`` in variable names, and veRL's names are full of them: :func:`save_runs`
percent-encodes ``%`` and ``/`` and :func:`load_runs` decodes them, so a round trip gives the log's names.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from hiper_repro.io import atomic_target, repo_root

RUN_FACTS = (
    "method", "adv_estimator", "env", "model", "seed", "val_episodes", "source", "overrides",
    "n_lines", "n_step_lines", "n_skipped", "dropped", "n_repeated_steps", "n_command_lines", "n_bad_bytes", "truncated",
)  # fmt: skip
NOT_VARIANT = re.compile(
    r"env\.seed|data\.(train|val)_files|env\.resources_per_worker\..*"
    r"|trainer\.(experiment_name|project_name|logger|log_val_generations|default_local_dir|save_freq"
    r"|nnodes|n_gpus_per_node|val_before_train)"
    r"|.*(micro_batch_size.*|gpu_memory_utilization|param_offload|optimizer_offload"
    r"|tensor_model_parallel_size|enable_gradient_checkpointing|free_cache_engine|enforce_eager"
    r"|enable_chunked_prefill|use_remove_padding)"
)
SUFFIXES = (".gz", ".log", ".txt")
COORD_NAMES = {"method": "method_name"}  # per-run fact -> its coordinate's name, where they differ


def run_name(source: str) -> str:
    """Run label from a log's file name: ``run_alfworld_seed5_1_5b.log.gz`` -> ``run_alfworld_seed5_1_5b``."""
    name = source
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """Each key's last dotted component, or the whole key where two keys would share one."""
    last = Counter(k.rsplit(".", 1)[-1] for k in keys)
    return {k: k.rsplit(".", 1)[-1] if last[k.rsplit(".", 1)[-1]] == 1 else k for k in keys}


def variants(methods: Sequence[str], overrides: Sequence[dict[str, str]]) -> list[str]:
    """Per run, the overrides that differ between the runs of its method (see the module docstring)."""
    out = ["default"] * len(methods)
    for method in dict.fromkeys(methods):
        idx = [i for i, m in enumerate(methods) if m == method]
        keys = sorted({k for i in idx for k in overrides[i] if not NOT_VARIANT.fullmatch(k)})
        differ = [k for k in keys if len({overrides[i].get(k) for i in idx}) > 1]
        short = _short_names(differ)
        for i in idx:
            parts = [f"{short[k]}={overrides[i][k]}" for k in differ if k in overrides[i]]
            out[i] = ", ".join(parts) or "default"
    return out


def merge_verl_runs(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Stack per-log datasets along ``run`` (labels from the file names), outer-joined over ``step``."""
    if not datasets:
        raise ValueError("merge_verl_runs: no datasets given")
    labels = [run_name(str(ds.attrs.get("source", f"run{i}"))) for i, ds in enumerate(datasets)]
    twice = sorted(label for label, n in Counter(labels).items() if n > 1)
    if twice:
        raise ValueError(f"two logs would share the run name {twice[0]!r}: rename one of the files")
    names = list(dict.fromkeys(v for ds in datasets for v in ds.data_vars))
    clash = sorted(set(names) & {*RUN_FACTS, *COORD_NAMES.values(), "run", "variant"})
    if clash:
        raise ValueError(f"metric {clash[0]!r} has the name of a run coordinate; rename it before merging")
    filled = []
    for ds in datasets:
        missing = {n: ("step", np.full(ds.sizes["step"], np.nan)) for n in names if n not in ds}
        filled.append(ds.assign(missing)[names])
    merged = xr.concat(filled, dim="run", join="outer", combine_attrs="drop", fill_value=np.nan)
    facts = {f: [ds.attrs.get(f, -1 if f == "val_episodes" else "") for ds in datasets] for f in RUN_FACTS}
    coords = {COORD_NAMES.get(f, f): ("run", values) for f, values in facts.items()}
    methods = [str(ds.attrs.get("method", "")) for ds in datasets]
    overrides = [json.loads(ds.attrs.get("overrides", "{}")) for ds in datasets]
    merged = merged.assign_coords(
        run=("run", labels), variant=("run", variants(methods, overrides)), **coords
    )
    merged["step"] = merged["step"].astype(np.int64)
    merged.attrs = {
        "title": "veRL training logs, one run per log",
        "n_runs": len(datasets),
        "sources": json.dumps([str(ds.attrs.get("source", "")) for ds in datasets]),
    }
    return merged


def _encode(name: str) -> str:
    return name.replace("%", "%25").replace("/", "%2F")


def _decode(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


def save_runs(ds: xr.Dataset, path: str | Path) -> Path:
    """Write an imported (per-log or merged) dataset to netCDF atomically, metric names encoded."""
    path = Path(path)
    with atomic_target(path) as tmp:
        ds.rename({n: _encode(str(n)) for n in ds.data_vars}).to_netcdf(tmp, engine="h5netcdf")
    return path


MERGED_COORDS = ("method_name", "variant", "seed", "val_episodes", "source")


def load_runs(path: str | os.PathLike, merged: bool = False) -> xr.Dataset:
    """Read a dataset written by :func:`save_runs`, with the log's metric names.

    ``merged=True`` requires the merged dataset (dims ``run`` and ``step`` and the per-run coordinates).
    Any other file (not netCDF, a trace file of this package, one log's import when the merged one is
    needed) is a ValueError naming the file and what it is.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (write it with `hiper-repro import-verl`)")
    try:
        ds = xr.load_dataset(path, engine="h5netcdf")
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: not a netCDF file of `hiper-repro import-verl` ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:120]})"
        ) from None
    what = _kind(ds, path)
    if what is not None or (merged and "run" not in ds.dims):
        what = what or "one log's import (dim step only), not the merged dataset"
        raise ValueError(
            f"{path} is {what}: give the merged.nc that `hiper-repro import-verl LOG ... --out DIR` writes"
        )
    if "run" in ds.dims and "method" in ds.coords and "method_name" not in ds.coords:
        ds = ds.rename({"method": "method_name"})  # imported before the coordinate was renamed
    if merged:
        missing = [c for c in MERGED_COORDS if c not in ds.coords]
        if missing:
            raise ValueError(
                f"{path}: the merged veRL runs lack the coordinates {missing}; import the logs again"
            )
    return ds.rename({n: _decode(str(n)) for n in ds.data_vars})


def _kind(ds: xr.Dataset, path: Path) -> str | None:
    """What a file that is not a veRL import is, in words; None for a veRL import."""
    if "step" in ds.dims:
        return None
    if "schema_version" in ds.attrs or "n_runs" in ds.attrs and "sources" not in ds.attrs:
        return "a trace file of `hiper-repro train` or `aggregate`, not imported veRL logs"
    return f"not imported veRL logs (no 'step' dimension; dims {dict(ds.sizes)})"


AUTHORS_LOGS = Path("data") / "authors-logs"


def authors_logs(folder: str | Path | None = None) -> list[Path]:
    """The vendored logs of the HiPER authors' runs (``*.log.gz`` in ``data/authors-logs/`` of the
    repository, found from the working directory, or in ``folder``), sorted by name."""
    where = Path(folder) if folder is not None else (repo_root() or Path.cwd()) / AUTHORS_LOGS
    logs = sorted(where.glob("*.log.gz"))
    if not logs:
        raise FileNotFoundError(f"no *.log.gz in {where}: run from inside the repository, or pass the folder")
    return logs
