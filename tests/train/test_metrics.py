"""Metrics CSV: documented columns only, rows dropped on resume, tracker mirror."""

import math

import pandas as pd
import pytest

from hiper_repro.train.metrics import (
    METRICS,
    OLD_NAMES,
    START,
    MetricsLog,
    evaluation_columns,
    read_metrics,
    run_summary,
)


class Tracker:
    def __init__(self):
        self.calls = []

    def log(self, values, step):
        self.calls.append((step, values))


def test_rows_resume_and_tracker(tmp_path):
    path = tmp_path / "metrics.csv"
    tracker = Tracker()
    log = MetricsLog(path, tracker)
    for it in range(3):
        log.log({"iteration": it, "success": it / 10, "kl_ref": float("nan")})
    df = pd.read_csv(path)
    assert list(df.columns) == list(METRICS) and df["iteration"].tolist() == [0, 1, 2]
    assert tracker.calls[1] == (1, {"success": 0.1})  # NaN is not sent to tensorboard

    resumed = MetricsLog(path, resume_from=2)  # the run died after its checkpoint at iteration 1
    resumed.log({"iteration": 2, "success": 0.5})
    df = pd.read_csv(path)
    assert df["iteration"].tolist() == [0, 1, 2] and df["success"].iloc[2] == 0.5
    assert math.isnan(df["eval_success"].iloc[0])


def test_undocumented_metric_rejected(tmp_path):
    with pytest.raises(ValueError, match="not documented"):
        MetricsLog(tmp_path / "m.csv").log({"iteration": 0, "mystery": 1.0})


def test_start_row_survives_resume_and_a_fresh_start_drops_it(tmp_path):
    """The starting policy's evaluation is row -1 (step 0 for trackers); a resume keeps it, a fresh start
    (no checkpoint to resume from) rewrites the file from scratch, so it is never duplicated."""
    path = tmp_path / "metrics.csv"
    tracker = Tracker()
    log = MetricsLog(path, tracker)
    log.log({"iteration": START, "eval_success": 0.25, "time_eval": 1.0})
    log.log({"iteration": 0, "success": 0.5})
    assert tracker.calls[0] == (0, {"eval_success": 0.25, "time_eval": 1.0})
    assert MetricsLog(path, resume_from=1).rows == log.rows
    df = pd.read_csv(path)
    assert df["iteration"].tolist() == [-1, 0] and df["eval_success"].iloc[0] == 0.25
    assert math.isnan(df["success"].iloc[0])
    assert MetricsLog(path, resume_from=0).rows == []


def test_run_summary_names_start_end_and_outputs():
    rows = [
        {"iteration": "-1", "eval_success": "0.25"},
        {"iteration": "0", "eval_success": "nan"},
        {"iteration": "1", "eval_success": "0.5"},
        {"iteration": "2", "eval_success": "0.75"},
    ]
    line = run_summary(rows, "runs/a", "hiper household h1 seed 0")
    assert line == (
        "hiper household h1 seed 0: eval success 0.250 before the first update -> 0.750 after 3 iterations; "
        "outputs in runs/a (metrics.csv, traces.nc, train.log)"
    )
    assert "success ? before the first update -> ?" in run_summary([], "runs/a", "x")


def test_evaluation_columns_prefix_each_group():
    import numpy as np

    record = {k: np.array([0.0, 1.0]) for k in ("success", "score", "length", "invalid_rate")}
    cols = evaluation_columns({"evaluation": record, "evaluation_secondary": record})
    assert cols["eval_success"] == 0.5 and cols["eval_secondary_length"] == 0.5 and len(cols) == 8
    assert set(cols) <= set(METRICS)


def test_evaluation_invalid_turn_rate_is_pooled_over_turns():
    """Episodes of 1 and 3 turns with 1 and 0 invalid turns: pooled 1/4 (the training batch's definition),
    where the mean of per-episode rates would give (1 + 0) / 2 = 1/2. An evaluation of no turns is NaN."""
    import numpy as np

    record = {
        "success": np.array([0.0, 1.0]),
        "score": np.array([0.0, 1.0]),
        "length": np.array([1.0, 3.0]),
        "invalid_rate": np.array([1.0, 0.0]),
    }
    cols = evaluation_columns({"evaluation": record})
    assert cols["eval_invalid_turn_rate"] == 0.25 and cols["eval_length"] == 2.0
    thirds = {**record, "length": np.array([3.0, 3.0]), "invalid_rate": np.array([1 / 3, 2 / 3])}
    assert (
        evaluation_columns({"evaluation": thirds})["eval_invalid_turn_rate"] == 0.5
    )  # counts, not 0.4999...
    empty = {**record, "length": np.array([0.0, 0.0]), "invalid_rate": np.array([0.0, 0.0])}
    assert math.isnan(evaluation_columns({"evaluation": empty})["eval_invalid_turn_rate"])


def test_old_column_names_read_under_the_new_ones_and_resume(tmp_path):
    """A metrics.csv written before the renames (kl, approx_kl_old, invalid_rate, eval_invalid_rate, ...)
    reads with the current names; a run resuming from it rewrites it under the current columns, keeping
    the old values; a file holding both names of one column is refused naming it."""
    path = tmp_path / "metrics.csv"
    old_columns = ["iteration", "success", *OLD_NAMES, "retired_metric"]
    rows = [
        "-1,nan,nan,nan,nan,0.125,nan,7",
        "0,0.5,0.01,0.002,0.25,nan,nan,7",
        "1,0.75,0.02,0.003,0.2,nan,nan,7",
    ]
    path.write_text(",".join(old_columns) + "\n" + "\n".join(rows) + "\n")
    read = read_metrics(path)
    assert read[1]["kl_ref"] == "0.01" and read[1]["drift_k1"] == "0.002"
    assert read[1]["invalid_turn_rate"] == "0.25" and read[0]["eval_invalid_turn_rate"] == "0.125"
    assert not set(OLD_NAMES) & set(read[0])
    resumed = MetricsLog(path, resume_from=1)
    resumed.log({"iteration": 1, "success": 0.5, "kl_ref": 0.03})
    df = pd.read_csv(path)
    assert list(df.columns) == list(METRICS)
    assert df["kl_ref"].tolist()[1:] == [0.01, 0.03] and df["invalid_turn_rate"].iloc[1] == 0.25
    assert df["eval_invalid_turn_rate"].iloc[0] == 0.125
    path.write_text("iteration,kl,kl_ref\n0,0.1,0.1\n")
    with pytest.raises(
        ValueError, match=r"metrics.csv: columns \['kl'\] appear under their old and their new"
    ):
        read_metrics(path)
