"""The evaluation file a study ships: a merged tree's root and /evaluation group, nothing else."""

from __future__ import annotations

import pytest
from xarray.testing import assert_identical

from hiper_repro.stats.change import change_difference
from hiper_repro.traces import evaluation_only, open_evaluation, synthetic_merged, synthetic_writer
from hiper_repro.traces.schema import TraceSchemaError
from hiper_repro.traces.store import write_tree


def test_evaluation_file_keeps_the_evaluations_and_their_statistics(tmp_path):
    merged = synthetic_merged(methods=("hiper", "ppo-pe"), horizons=(1, 2), seeds=(0, 1), iterations=3)
    write_tree(evaluation_only(merged), tmp_path / "evaluation.nc")
    back = open_evaluation(tmp_path / "evaluation.nc")
    assert set(back.children) == {"evaluation"}
    assert back.attrs["groups"] == "evaluation"
    assert_identical(back["evaluation"].to_dataset(), merged["evaluation"].to_dataset())
    assert_identical(
        change_difference(back, "hiper", "ppo-pe", reps=50),
        change_difference(merged, "hiper", "ppo-pe", reps=50),
    )


def test_evaluation_file_refuses_a_single_run_and_a_tree_with_other_groups(tmp_path):
    merged = synthetic_merged(methods=("hiper",), horizons=(1,), iterations=2)
    with pytest.raises(ValueError, match="merged trace tree"):
        evaluation_only(synthetic_writer("hiper", 1, 0, iterations=2).tree())
    write_tree(merged, tmp_path / "whole.nc")  # a whole merged file: more groups than an evaluation file
    with pytest.raises(TraceSchemaError, match="unexpected group /turns"):
        open_evaluation(tmp_path / "whole.nc")
    with pytest.raises(FileNotFoundError, match="no evaluation file"):
        open_evaluation(tmp_path / "missing.nc")
