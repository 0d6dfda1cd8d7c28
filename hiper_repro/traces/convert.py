"""The one converter: per-iteration arrays -> schema-conformant datasets -> a run's DataTree, and back.

Every dataset of this package is built here, so the padding rule, dtypes, coordinates and CF attributes
are decided in one place:

- `check_record(group, arrays, ...)` validates one iteration's arrays for a group (names, shapes, dtypes),
  casts them to the schema dtypes, fills variables the method does not have, blanks padded cells (turns
  where `mask` is False, segments where `start_turn` is -1) and trims trailing padding, so that the
  same data always gives the same record whatever padding the caller used.
- `stack_group(group, leading, records)` pads records to a common size and stacks them along the
  group's leading dim (iteration or eval_iteration).
- `run_tree(attrs, groups)` assembles the DataTree; `decode_tree(tree)` restores schema dtypes after
  reading netCDF (zero-size string variables come back as float64, bools come back from int8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from hiper_repro.traces.schema import DIMS, DTYPE_KINDS, GROUPS, ROOT_ATTRS, Group

Record = dict[str, np.ndarray]


def _as_array(value: Any, where: str) -> np.ndarray:
    # np.asarray also takes CPU torch tensors and lists of strings. Tensors on a GPU, in bfloat16 or
    # requiring grad raise TypeError/RuntimeError: the caller must .detach().cpu().float() them first.
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:  # also ragged nested lists
        raise ValueError(f"{where}: cannot convert {type(value).__name__} to an array ({exc})") from exc


def _cast(group: str, name: str, arr: np.ndarray, where: str) -> np.ndarray:
    var = GROUPS[group].variables[name]
    kinds = DTYPE_KINDS[var.dtype] + ("biu" if var.dtype == "float" else "")
    if arr.dtype.kind not in kinds:
        raise ValueError(
            f"{where}[{name!r}]: expected {var.dtype} values (numpy kinds {kinds!r}), got dtype {arr.dtype}"
        )
    if var.dtype == "str" and arr.dtype.kind == "O":
        bad = [type(v).__name__ for v in arr.ravel() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"{where}[{name!r}]: expected strings, found {bad[0]} objects")
    if var.dtype == "int" and arr.size and (arr.min() < -1 or arr.max() > np.iinfo(np.int32).max):
        raise ValueError(
            f"{where}[{name!r}]: integer values must lie in [-1, 2**31), got {arr.min()}..{arr.max()}"
        )
    return arr.astype(var.numpy_dtype)


def check_record(group: str, arrays: Mapping[str, Any], *, n: int | None = None, where: str = "") -> Record:
    """Validate and canonicalise one iteration's arrays of `group`.

    `arrays` maps schema variable names to arrays of shape (E, T) for turns and segments (T may be 0 for
    segments; an empty mapping means "no segments"), (E,) for episodes and (N,) for evaluation, scalars
    for iterations. `n` is
    the expected leading size E (taken from the episodes). Returns every schema variable, cast to its
    dtype, with fills where the method has no such quantity and at padded cells, trimmed to its extent.
    """
    where = where or group
    spec: Group = GROUPS[group]
    unknown = sorted(set(arrays) - set(spec.variables))
    if unknown:
        raise ValueError(f"{where}: unknown variables {unknown}; the schema has {sorted(spec.variables)}")
    rank = len(spec.dims) - 1  # minus the iteration dim
    arrs = {k: _as_array(v, f"{where}[{k!r}]") for k, v in arrays.items()}
    if not arrs:
        if group != "segments":
            raise ValueError(f"{where}: no variables given; at least {spec.presence!r} is required")
        if n is None:
            raise ValueError(f"{where}: an empty segments mapping needs the number of episodes")
        arrs = {spec.presence: np.full((n, 0), -1, np.int32)}
    if spec.presence not in arrs:
        raise ValueError(f"{where}: variable {spec.presence!r} is required, got {sorted(arrs)}")
    shapes = {k: a.shape for k, a in arrs.items()}
    shape = shapes[spec.presence]
    if len(shape) != rank or any(s != shape for s in shapes.values()):
        raise ValueError(
            f"{where}: every array must have the same {rank}-D shape {spec.dims[1:]}, got {shapes}"
        )
    if n is not None and shape[0] != n:
        raise ValueError(f"{where}: expected {n} episodes (from episodes['task_id']), got shape {shape}")
    out = {k: _cast(group, k, a, where) for k, a in arrs.items()}
    for name, var in spec.variables.items():
        if name not in out:
            out[name] = np.full(shape, var.fill, var.numpy_dtype)

    present = presence(group, out[spec.presence])
    if rank == 0 and not present:
        raise ValueError(f"{where}[{spec.presence!r}]: missing (got the fill value)")
    if rank == 1 and not present.all():
        raise ValueError(f"{where}[{spec.presence!r}]: empty at entries {np.flatnonzero(~present).tolist()}")
    if rank == 2 and group == "turns" and present.any():
        # Real turns form a prefix of each row (the rollout contract).
        first_gap = np.argmin(np.concatenate([present, np.zeros((shape[0], 1), bool)], axis=1), axis=1)
        if (present.sum(axis=1) != first_gap).any():
            raise ValueError(f"{where}['mask']: real turns must be a prefix of each episode's row")
    for name, var in spec.variables.items():
        out[name] = np.where(present, out[name], var.fill).astype(var.numpy_dtype)
    # Trim trailing all-padding columns so that the record does not depend on the caller's padding.
    if rank == 2:
        used = np.flatnonzero(present.any(axis=0))
        width = int(used[-1]) + 1 if used.size else 0
        out = {k: a[:, :width] for k, a in out.items()}
    return out


def presence(group: str, values: np.ndarray) -> np.ndarray:
    """Which cells are real, given the values of `group`'s presence variable (mask, start_turn, task_id)."""
    kind = GROUPS[group].variables[GROUPS[group].presence].dtype
    if kind == "bool":
        return values.astype(bool)
    if kind == "int":
        return values >= 0
    return values != ""


def stack_group(group: str, leading: Sequence[int], records: Sequence[Record]) -> xr.Dataset:
    """Pad `records` (one per entry of `leading`) to common sizes and stack them into the group dataset.

    Sizes along the inner dims are the maxima over records; padding takes the schema fills.
    """
    spec = GROUPS[group]
    if len(leading) != len(records):
        raise ValueError(f"{group}: {len(leading)} iterations but {len(records)} records")
    inner = spec.dims[1:]
    sizes = [max((r[spec.presence].shape[i] for r in records), default=0) for i in range(len(inner))]
    data_vars = {}
    for name, var in spec.variables.items():
        dtype = var.numpy_dtype
        if var.dtype == "str":  # wide enough for the longest string, else numpy truncates on assignment
            dtype = np.dtype(f"<U{max([1] + [r[name].dtype.itemsize // 4 for r in records])}")
        full = np.full((len(records), *sizes), var.fill, dtype)
        for i, rec in enumerate(records):  # loop over iterations, not episodes
            full[(i, *(slice(0, s) for s in rec[name].shape))] = rec[name]
        data_vars[name] = (spec.dims, full, {"long_name": var.long_name, "units": var.units})
    coords = {spec.dims[0]: np.asarray(leading, np.int64)}
    coords |= {d: np.arange(s, dtype=np.int64) for d, s in zip(inner, sizes)}
    ds = xr.Dataset(data_vars, coords=coords)
    for d in spec.dims:
        ds[d].attrs["long_name"] = DIMS[d]
    return ds


def unstack_group(
    group: str, ds: xr.Dataset, n_rows: Sequence[int] | None = None
) -> tuple[list[int], list[Record]]:
    """Inverse of `stack_group`: one trimmed record per entry of the leading dim.

    Turns and segments need `n_rows`, each iteration's number of episodes (from the episodes group):
    their own presence flags cannot tell a real episode without segments from padding.
    """
    spec = GROUPS[group]
    leading = [int(v) for v in ds[spec.dims[0]].values]
    if len(spec.dims) == 3 and (n_rows is None or len(n_rows) != len(leading)):
        raise ValueError(f"{group}: unstacking needs one episode count per iteration, got {n_rows}")
    records = []
    for i in range(len(leading)):
        rec = {name: np.asarray(ds[name].values[i]) for name in spec.variables}
        present = presence(group, rec[spec.presence])
        if len(spec.dims) == 3:
            n = int(n_rows[i])
            used = np.flatnonzero(present[:n].any(axis=0))
            width = int(used[-1]) + 1 if used.size else 0
            rec = {k: a[:n, :width] for k, a in rec.items()}
        elif len(spec.dims) == 2:
            n = int(np.flatnonzero(present)[-1]) + 1 if present.any() else 0
            rec = {k: a[:n] for k, a in rec.items()}
        records.append(rec)
    return leading, records


def run_tree(attrs: Mapping[str, Any], groups: Mapping[str, xr.Dataset]) -> xr.DataTree:
    """Assemble a run's DataTree: provenance attrs at the root, one child per schema group."""
    missing = [g for g in GROUPS if g not in groups]
    if missing:
        raise ValueError(f"run_tree: groups {missing} missing")
    return xr.DataTree.from_dict({"/": xr.Dataset(attrs=dict(attrs))} | {f"/{g}": groups[g] for g in GROUPS})


def decode_tree(tree: xr.DataTree) -> xr.DataTree:
    """Restore schema dtypes after reading netCDF and turn numpy scalars in attrs into Python values."""
    nodes: dict[str, xr.Dataset] = {}
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        if node.name in GROUPS and node.parent is not None:
            for vname, var in GROUPS[node.name].variables.items():
                if vname in ds and ds[vname].dtype != var.numpy_dtype:
                    ds[vname] = ds[vname].astype(var.numpy_dtype)
        ds.attrs = {k: _py(v) for k, v in ds.attrs.items()}
        nodes[node.path] = ds
    return xr.DataTree.from_dict(nodes)


def _py(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def normalise_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Root attrs with the types of `ROOT_ATTRS` (raises ValueError naming missing or mistyped keys)."""
    missing = [k for k in ROOT_ATTRS if k not in attrs]
    if missing:
        raise ValueError(f"attrs: missing provenance keys {missing} (make_provenance builds them)")
    out = dict(attrs)
    for key, typ in ROOT_ATTRS.items():
        value = _py(out[key])
        if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"attrs[{key!r}]: expected int, got {value!r}")
        if typ is str and not isinstance(value, str):
            raise ValueError(f"attrs[{key!r}]: expected str, got {value!r}")
        out[key] = value
    return out
