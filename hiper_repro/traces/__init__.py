"""Trace datasets: one xarray DataTree per run (schema, writer, validation, merging, synthetic data).

See `docs/TRACES.md` for the layout; `schema.GROUPS` is the table in code.
"""

from hiper_repro.traces.merge import (
    evaluation_only,
    merge_runs,
    open_evaluation,
    open_merged,
    open_run,
    open_runs,
)
from hiper_repro.traces.provenance import make_provenance
from hiper_repro.traces.schema import GROUPS, RUN_DIMS, SCHEMA_VERSION, TraceSchemaError
from hiper_repro.traces.synthetic import synthetic_merged, synthetic_runs, synthetic_writer
from hiper_repro.traces.validate import validate
from hiper_repro.traces.writer import TraceWriter, storage_size

__all__ = [
    "GROUPS",
    "RUN_DIMS",
    "SCHEMA_VERSION",
    "TraceSchemaError",
    "TraceWriter",
    "evaluation_only",
    "make_provenance",
    "merge_runs",
    "open_evaluation",
    "open_merged",
    "open_run",
    "open_runs",
    "storage_size",
    "synthetic_merged",
    "synthetic_runs",
    "synthetic_writer",
    "validate",
]
