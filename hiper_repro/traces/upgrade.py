"""Trace files written under an older schema version, converted on reading to the current one.

Version 2 labelled an evaluation by the iteration after whose update it was played (-1: the starting
policy); version 3 labels it by the number of updates completed, ``eval_iteration_3 = eval_iteration_2 + 1``
(0: the starting policy; 15: after 15 updates). Version 4 renamed the `/iterations` variable
``invalid_rate`` to ``invalid_turn_rate`` (the same number: invalid turns / turns, pooled over the batch's
episodes; the per-episode ``invalid_rate`` of `/episodes` and `/evaluation` keeps its name). Nothing else
changed, so a version 2 or 3 file reads as version 4 once relabelled and renamed. Other versions are left as
they are for `validate` to report.
"""

from __future__ import annotations

import xarray as xr

from hiper_repro.traces.schema import EVALUATION_GROUPS, SCHEMA_VERSION

# version read -> the eval_iteration shift to the current labels
EVAL_LABEL_SHIFT: dict[str, int] = {"2": 1, "3": 0}
# version read -> the `/iterations` variables renamed since (old name -> current name)
ITERATION_RENAMES: dict[str, dict[str, str]] = {
    "2": {"invalid_rate": "invalid_turn_rate"},
    "3": {"invalid_rate": "invalid_turn_rate"},
}


def upgrade(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` (a run's or a merged file's) converted to `SCHEMA_VERSION` where its version has a known
    conversion; otherwise ``tree`` unchanged. The input is not modified."""
    version = str(tree.attrs.get("schema_version", ""))
    if version not in EVAL_LABEL_SHIFT:
        return tree
    shift = EVAL_LABEL_SHIFT[version]
    out = tree.copy()
    for group in EVALUATION_GROUPS:
        if shift and group in out.children:
            ds = out[group].to_dataset(inherit=False)
            if "eval_iteration" in ds.coords:
                labels = ds["eval_iteration"]
                out[group] = xr.DataTree(
                    ds.assign_coords(eval_iteration=(labels + shift).astype(labels.dtype))
                )
    if "iterations" in out.children:
        ds = out["iterations"].to_dataset(inherit=False)
        renames = {old: new for old, new in ITERATION_RENAMES[version].items() if old in ds.data_vars}
        if renames:
            out["iterations"] = xr.DataTree(ds.rename_vars(renames))
    out.attrs = {**tree.attrs, "schema_version": SCHEMA_VERSION}
    return out
