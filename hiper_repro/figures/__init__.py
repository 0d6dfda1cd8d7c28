"""Figures and tables from the statistics tables and merged traces: one function per figure, each
returning a matplotlib Figure (saving is the CLI's job), styled by the ``matplotlibrc`` beside this file."""

from hiper_repro.figures.credit import (
    segment_distributions,
    switch_rate_dynamics,
    variance_by_horizon,
    variance_by_position,
)
from hiper_repro.figures.results import (
    final_success_bars,
    improvement_intervals,
    learning_curves,
    performance_profiles,
    sample_efficiency,
    success_vs_horizon,
)
from hiper_repro.figures.tables import main_results, published_comparison, task_type_results, write_table

__all__ = [
    "final_success_bars", "improvement_intervals", "learning_curves", "main_results", "performance_profiles",
    "published_comparison", "sample_efficiency", "segment_distributions", "success_vs_horizon",
    "switch_rate_dynamics", "task_type_results", "variance_by_horizon", "variance_by_position", "write_table",
]  # fmt: skip
