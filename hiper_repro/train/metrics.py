"""Per-iteration metrics: the documented list, a CSV writer that survives resume, and the tracker bridge.

Every logged metric is one entry of METRICS (name -> meaning). `MetricsLog.log` rejects names not listed,
so the list stays the single documentation of what a run's `metrics.csv` and tensorboard hold.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

from hiper_repro.io import write_atomic

METRICS: dict[str, str] = {
    "iteration": "training iteration (0-based) the row belongs to",
    "success": "share of training episodes won",
    "return": "mean undiscounted environment return per episode (no shaping)",
    "shaped_return": "mean return per episode after shaping penalties",
    "episode_length": "mean turns per episode",
    "invalid_rate": "share of real turns whose output failed to parse or named an inadmissible action",
    "switch_rate": "share of turns after the first that chose SWITCH (NaN: flat format)",
    "segment_length": "mean segment length in turns (NaN: flat format)",
    "turns": "real turns in the iteration's batch (global)",
    "loss_policy": "PPO-clip surrogate, token mean over loss-carrying tokens",
    "loss_value_low": "clipped value loss of V_low (flat methods: V)",
    "loss_value_high": "clipped value loss of V_high (hiper, ppo-pe with Plan-Execute heads)",
    "loss_value_term": "clipped value loss of V_term (hiper, switch_form=code)",
    "loss_value_low_prev": "clipped value loss of V_low(s_t, o_{t-1}) on KEEP turns (hiper, switch_form=paper)",
    "kl": "k3 KL to the reference policy, token mean",
    "entropy": "policy entropy per loss-carrying token",
    "grad_norm": "global gradient norm before clipping (mean over minibatches)",
    "clip_fraction": "share of tokens where the clipped PPO term was active",
    "approx_kl_old": "mean log pi_old - log pi_theta over tokens at each minibatch, before its step (0 on"
    " the first: with one minibatch it stays 0; see approx_kl)",
    "drift_k3": "k3 estimate of KL(old || current) over each minibatch's tokens before its step, mean over"
    " minibatches (0 on the first; ppo.target_kl compares it)",
    "approx_kl": "KL(old || new) over response tokens measured after the update (k3 estimate)",
    "optimizer_steps": "optimizer steps in the iteration's update (epochs x minibatches, capped)",
    "kl_stopped": "1 when ppo.target_kl stopped the update before its last planned step, else 0",
    "loss_value_fit": "mean value loss of the extra value-only passes (ppo.value_epochs)",
    "value_steps": "optimizer steps of the extra value-only passes",
    "policy_updated": "1 when the policy was updated, 0 when skipped or in the critic warm-up",
    "explained_variance_low": "explained variance of V_low (flat: V) against the reward-to-go, before the update",
    "explained_variance_high": "explained variance of V_high at segment starts against the reward-to-go",
    "explained_variance_term": "explained variance of V_term against the reward-to-go (switch_form=code)",
    "adv_switch_abs": "mean |A_switch| before whitening over decision turns (hiper)",
    "adv_action_std": "standard deviation of the action advantage before whitening",
    "value_clip_fraction": "share of turns where the clipped value term was active (V_low)",
    "policy_skipped": "1 when the policy update was skipped (all rewards zero), else 0",
    "lr": "actor learning rate after the iteration's scheduler step",
    "tokens_per_s": "response tokens generated per second of rollout",
    "time_rollout": "seconds in rollout (generation + environment)",
    "time_credit": "seconds computing advantages (incl. re-scoring old log-probs and reference)",
    "time_update": "seconds in the PPO update",
    "time_eval": "seconds in evaluation (0 when none)",
    "time_trace": "seconds writing traces and checkpoints",
    "gflop_rollout": "useful GFLOPs of the policy's passes in rollout (real tokens; only under bench train, else NaN)",
    "gflop_executed_rollout": "GFLOPs the padded tensors made the kernels do in rollout (only under bench train)",
    "gflop_credit": "useful GFLOPs of the policy's passes in credit (real tokens; only under bench train, else NaN)",
    "gflop_executed_credit": "GFLOPs the padded tensors made the kernels do in credit (only under bench train)",
    "gflop_update": "useful GFLOPs of the policy's passes in update (real tokens; only under bench train, else NaN)",
    "gflop_executed_update": "GFLOPs the padded tensors made the kernels do in update (only under bench train)",
    "gflop_eval": "useful GFLOPs of the policy's passes in eval (real tokens; only under bench train, else NaN)",
    "gflop_executed_eval": "GFLOPs the padded tensors made the kernels do in eval (only under bench train)",
    "eval_success": "success on the fixed evaluation split at the training temperature (NaN when not"
    " evaluated this iteration)",
    "eval_score": "mean score on the evaluation split",
    "eval_length": "mean episode length on the evaluation split",
    "eval_invalid_rate": "invalid-turn share on the evaluation split",
    "eval_secondary_success": "success on the evaluation split at rollout.eval_temperature (start and end)",
    "eval_secondary_score": "mean score at rollout.eval_temperature",
    "eval_secondary_length": "mean episode length at rollout.eval_temperature",
    "eval_secondary_invalid_rate": "invalid-turn share at rollout.eval_temperature",
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


class MetricsLog:
    """CSV at `path` with one row per iteration and the METRICS columns; mirrors rows to a tracker.

    On resume, rows with iteration >= the resumed iteration are dropped (they were written by the run
    that died after its last checkpoint and will be recomputed identically), so the file never holds
    duplicates. The file is rewritten atomically on every row: runs are short and rows few.
    """

    def __init__(self, path: str | os.PathLike, tracker: Any | None = None, resume_from: int = 0) -> None:
        self.path = Path(path)
        self.tracker = tracker
        self.rows: list[dict[str, str]] = []
        if self.path.is_file():
            with self.path.open(newline="") as fh:
                self.rows = [r for r in csv.DictReader(fh) if int(r["iteration"]) < resume_from]

    def log(self, row: dict[str, Any]) -> None:
        unknown = sorted(set(row) - set(METRICS))
        if unknown:
            raise ValueError(f"metrics {unknown} are not documented in train.metrics.METRICS")
        if "iteration" not in row:
            raise ValueError("a metrics row needs 'iteration'")
        full = {k: _fmt(row.get(k, float("nan"))) for k in METRICS}
        self.rows.append(full)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(METRICS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(self.path, buf.getvalue())
        if self.tracker is not None:
            values = {k: float(v) for k, v in row.items() if k != "iteration" and isinstance(v, (int, float))}
            values = {k: v for k, v in values.items() if not math.isnan(v)}
            self.tracker.log(values, step=int(row["iteration"]))
