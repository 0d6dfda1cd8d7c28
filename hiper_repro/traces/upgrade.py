"""Trace files written under an older schema version, converted on reading to the current one.

Version 2 labelled an evaluation by the iteration after whose update it was played (-1: the starting
policy); version 3 labels it by the number of updates completed, ``eval_iteration_3 = eval_iteration_2 + 1``
(0: the starting policy; 15: after 15 updates). Nothing else changed, so a version 2 file reads as version 3
once its evaluation groups are relabelled. Other versions are left as they are for `validate` to report.
"""

from __future__ import annotations

import xarray as xr

from hiper_repro.traces.schema import EVALUATION_GROUPS, SCHEMA_VERSION

# version read -> the eval_iteration shift to the current labels
EVAL_LABEL_SHIFT: dict[str, int] = {"2": 1}


def upgrade(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` (a run's or a merged file's) relabelled to `SCHEMA_VERSION` where its version has a known
    conversion; otherwise ``tree`` unchanged. The input is not modified."""
    version = str(tree.attrs.get("schema_version", ""))
    if version not in EVAL_LABEL_SHIFT:
        return tree
    shift = EVAL_LABEL_SHIFT[version]
    out = tree.copy()
    for group in EVALUATION_GROUPS:
        if group in out.children:
            ds = out[group].to_dataset(inherit=False)
            if "eval_iteration" in ds.coords:
                labels = ds["eval_iteration"]
                out[group] = xr.DataTree(
                    ds.assign_coords(eval_iteration=(labels + shift).astype(labels.dtype))
                )
    out.attrs = {**tree.attrs, "schema_version": SCHEMA_VERSION}
    return out
