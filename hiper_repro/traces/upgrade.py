"""Trace files written under an older schema version, converted on reading to the current one.

Each step converts one version to the next; a file goes through every step from its version on:

- 2 -> 3: version 2 labelled an evaluation by the iteration after whose update it was played (-1: the
  starting policy); version 3 labels it by the number of updates completed,
  ``eval_iteration_3 = eval_iteration_2 + 1`` (0: the starting policy; 15: after 15 updates).
- 3 -> 4: the run dim and root attr ``method`` is ``method_name`` (``.sel(method=...)`` is xarray's
  fill-method argument, so it could not select a method): a merged file's dim, its coordinate and every
  variable along it are renamed; a run's root attr is renamed. And the `/iterations` variable
  ``invalid_rate`` is ``invalid_turn_rate`` (the same number: invalid turns / turns, pooled over the batch's
  episodes; the per-episode ``invalid_rate`` of `/episodes` and `/evaluation` keeps its name).

Nothing else changed between these versions. Other versions are left as they are for `validate` to report.
"""

from __future__ import annotations

from collections.abc import Callable

import xarray as xr

from hiper_repro.traces.schema import EVALUATION_GROUPS

OLD_METHOD, METHOD = "method", "method_name"  # the run dim and root attr before and from version 4
ITERATION_RENAMES = {"invalid_rate": "invalid_turn_rate"}  # /iterations variables renamed in version 4


def relabel_evaluations(tree: xr.DataTree) -> xr.DataTree:
    """Version 2 -> 3: ``eval_iteration`` + 1 in the evaluation groups."""
    out = tree.copy()
    for group in EVALUATION_GROUPS:
        if group in out.children:
            ds = out[group].to_dataset(inherit=False)
            if "eval_iteration" in ds.coords:
                labels = ds["eval_iteration"]
                out[group] = xr.DataTree(ds.assign_coords(eval_iteration=(labels + 1).astype(labels.dtype)))
    return out


def rename_method(tree: xr.DataTree) -> xr.DataTree:
    """Version 3 -> 4: dim, coordinate and root attr ``method`` -> ``method_name`` in every node, and
    `/iterations`' ``invalid_rate`` -> ``invalid_turn_rate``."""
    nodes = {}
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        names = {OLD_METHOD: METHOD} if OLD_METHOD in ds.dims or OLD_METHOD in ds.variables else {}
        if node.path == "/iterations":
            names |= {old: new for old, new in ITERATION_RENAMES.items() if old in ds.data_vars}
        nodes[node.path] = ds.rename(names)
    out = xr.DataTree.from_dict(nodes)
    attrs = dict(tree.attrs)
    if OLD_METHOD in attrs:
        attrs = {(METHOD if k == OLD_METHOD else k): v for k, v in attrs.items()}
    out.attrs = attrs
    return out


# version read -> (the version it becomes, the conversion)
STEPS: dict[str, tuple[str, Callable[[xr.DataTree], xr.DataTree]]] = {
    "2": ("3", relabel_evaluations),
    "3": ("4", rename_method),
}


def upgrade(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` (a run's or a merged file's) converted to the current `schema.SCHEMA_VERSION` where its
    version has a known conversion (the steps end there; a test holds them to it); otherwise ``tree``
    unchanged. The input is not modified."""
    version = str(tree.attrs.get("schema_version", ""))
    if version not in STEPS:
        return tree
    out = tree
    while version in STEPS:
        version, step = STEPS[version]
        out = step(out)
    out.attrs = {**out.attrs, "schema_version": version}
    return out
