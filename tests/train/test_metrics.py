"""Metrics CSV: documented columns only, rows dropped on resume, tracker mirror."""

import math

import pandas as pd
import pytest

from hiper_repro.train.metrics import METRICS, MetricsLog


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
