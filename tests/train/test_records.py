"""What an iteration leaves behind: batch statistics pooled over processes and the metrics row."""

import math

import numpy as np
import pytest

from hiper_repro.train.methods import assign_credit
from hiper_repro.train.metrics import METRICS
from hiper_repro.train.records import (
    BATCH_STATS,
    diagnostics,
    metrics_row,
    pool_diagnostics,
    trace_records,
)

from .test_methods import cfg_for, fake_rollout


def test_pool_diagnostics_weights_each_process_by_its_turns():
    parts = [
        {"turns": 10, "policy_updated": True, **dict.fromkeys(BATCH_STATS, 1.0)},
        {"turns": 30, "policy_updated": True, **dict.fromkeys(BATCH_STATS, 3.0)},
    ]
    parts[1]["adv_switch_abs"] = float("nan")  # e.g. no decision turn on that process: left out
    pooled = pool_diagnostics(parts, {"kl_ref": 0.5, "optimizer_steps": 2.0}, lr=1e-4)
    assert pooled["success"] == pytest.approx((10 * 1.0 + 30 * 3.0) / 40)
    assert pooled["adv_switch_abs"] == 1.0
    assert pooled["turns"] == 40 and pooled["policy_updated"] is True
    # the update's own quantities are its cross-process means
    assert pooled["kl_ref"] == 0.5 and math.isnan(pooled["entropy"])
    assert pooled["optimizer_steps"] == 2 and pooled["lr"] == 1e-4


def test_metrics_row_from_records_statistics_and_evaluations():
    """fake_rollout: 4 episodes, 2 won; 14 real turns, 1 invalid."""
    ro, cfg = fake_rollout(), cfg_for("hiper")
    assigned = assign_credit(ro, cfg)
    pooled = pool_diagnostics([diagnostics(ro, assigned, cfg, True)], {"kl_ref": 0.1}, lr=1e-3)
    evaluation = {k: np.array([1.0, 0.0]) for k in ("success", "score", "length", "invalid_rate")}
    row = metrics_row(
        3,
        trace_records(ro, assigned, cfg),
        pooled,
        {"kl_ref": 0.1},
        {"time_rollout": 2.0},
        fmt=cfg.fmt,
        policy_skipped=False,
        generated_tokens=10,
        evaluations={"evaluation": evaluation},
    )
    assert set(row) <= set(METRICS)
    assert row["iteration"] == 3 and row["kl_ref"] == 0.1 and row["lr"] == 1e-3
    assert row["success"] == 0.5 and row["invalid_turn_rate"] == pytest.approx(1 / 14)
    assert row["tokens_per_s"] == 5.0 and row["policy_updated"] == 1 and row["policy_skipped"] == 0
    assert row["explained_variance_low"] == pooled["explained_variance_low"]
    assert row["eval_success"] == 0.5 and "eval_secondary_success" not in row
