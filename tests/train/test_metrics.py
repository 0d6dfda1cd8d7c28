"""Metrics CSV: documented columns only, rows dropped on resume, tracker mirror."""

import math

import pandas as pd
import pytest

from hiper_repro.train.metrics import METRICS, START, MetricsLog, evaluation_columns, run_summary


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
        log.log({"iteration": it, "success": it / 10, "kl": float("nan")})
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
