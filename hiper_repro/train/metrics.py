"""Per-iteration metrics: the documented list, a CSV writer that survives resume, and the tracker bridge.

Every logged metric is one entry of METRICS (name -> meaning). `MetricsLog.log` rejects names not listed,
so the list stays the single documentation of what a run's `metrics.csv` and its trackers (tensorboard,
wandb: `run.trackers`) hold. The first row (iteration -1) is the starting policy's evaluation, before the
first update; trackers get it at step 0, every other row at step = iteration. `run_summary` is the line a
run ends with.

Names say what a number is: one quantity has one name here and in the traces' `/iterations` group.
`kl_ref` is the KL to the reference (starting) policy; `approx_kl` the KL between the policies before and
after the iteration's update; `drift_k1` and `drift_k3` two estimates of the same drift taken inside the
update, before each minibatch's step. `*invalid_turn_rate` are pooled over turns (invalid turns / turns of
all episodes), never means of per-episode rates. Files written under the old names (`kl`, `approx_kl_old`,
`invalid_rate`, `eval_invalid_rate`, `eval_secondary_invalid_rate`) read through `read_metrics`, which
renames their columns (`OLD_NAMES`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hiper_repro.io import write_atomic

METRICS: dict[str, str] = {
    "iteration": "training iteration (0-based) the row belongs to; -1: the starting policy's evaluation"
    " before the first update (only eval_*, eval_secondary_* and time_eval)",
    "success": "share of training episodes won",
    "return": "mean undiscounted environment return per episode (no shaping)",
    "shaped_return": "mean return per episode after shaping penalties",
    "episode_length": "mean turns per episode",
    "invalid_turn_rate": "share of the batch's real turns (pooled over episodes) whose output failed to parse"
    " or named an inadmissible action",
    "switch_rate": "share of turns after the first that chose SWITCH (NaN: flat format)",
    "segment_length": "mean segment length in turns (NaN: flat format)",
    "turns": "real turns in the iteration's batch (global)",
    "loss_policy": "PPO-clip surrogate, token mean over loss-carrying tokens",
    "loss_value_low": "clipped value loss of V_low (flat methods: V)",
    "loss_value_high": "clipped value loss of V_high (hiper, ppo-pe with Plan-Execute heads)",
    "loss_value_term": "clipped value loss of V_term (hiper, switch_form=code)",
    "loss_value_low_prev": "clipped value loss of V_low(s_t, o_{t-1}) on KEEP turns (hiper, switch_form=paper)",
    "kl_ref": "k3 estimate of KL(pi_theta || pi_ref), pi_ref the reference (starting) policy: token mean"
    " per minibatch during the update, mean over minibatches (0 when ppo.kl_coef is 0: not computed)",
    "entropy": "policy entropy per loss-carrying token",
    "grad_norm": "global gradient norm before clipping (mean over minibatches)",
    "clip_fraction": "share of tokens where the clipped PPO term was active",
    "drift_k1": "k1 estimate of KL(pi_old || pi_theta), mean of log pi_old - log pi_theta over each"
    " minibatch's tokens before its step, mean over minibatches (0 on the first: with one minibatch it"
    " stays 0; see approx_kl)",
    "drift_k3": "k3 estimate of the same KL(pi_old || pi_theta) over each minibatch's tokens before its"
    " step, mean over minibatches (0 on the first; ppo.target_kl compares it)",
    "approx_kl": "k3 estimate of KL(pi_old || pi_new), how far the iteration's whole update moved the"
    " policy, measured after it on ppo.kl_probe_turns turns' response tokens",
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
    "eval_invalid_turn_rate": "invalid turns / turns on the evaluation split, pooled over its episodes",
    "eval_secondary_success": "success on the evaluation split at rollout.eval_temperature (start and end)",
    "eval_secondary_score": "mean score at rollout.eval_temperature",
    "eval_secondary_length": "mean episode length at rollout.eval_temperature",
    "eval_secondary_invalid_turn_rate": "invalid turns / turns at rollout.eval_temperature, pooled over"
    " episodes",
}

# Column names of older metrics.csv files -> the current ones (`read_metrics`). The old eval columns were
# means of per-episode rates, not pooled: an old file's value differs from the pooled one when episode
# lengths differ.
OLD_NAMES: dict[str, str] = {
    "kl": "kl_ref",
    "approx_kl_old": "drift_k1",
    "invalid_rate": "invalid_turn_rate",
    "eval_invalid_rate": "eval_invalid_turn_rate",
    "eval_secondary_invalid_rate": "eval_secondary_invalid_turn_rate",
}


EVAL_GROUPS = {"evaluation": "eval_", "evaluation_secondary": "eval_secondary_"}
START = -1  # the iteration label of the starting policy's row


def evaluation_columns(due: dict[str, dict]) -> dict[str, float]:
    """Metrics columns of the evaluations played (trace group -> record with per-episode arrays):
    eval_success etc. for the primary one, eval_secondary_* for the secondary one. Success, score and
    length are means over episodes; the invalid-turn rate is pooled over turns, sum_i n_i r_i / sum_i n_i
    with n_i episode i's length and r_i its invalid rate, as the training batch's `invalid_turn_rate`."""
    out = {}
    for group, prefix in EVAL_GROUPS.items():
        if group not in due:
            continue
        record = due[group]
        out |= {f"{prefix}{k}": float(np.mean(record[k])) for k in ("success", "score", "length")}
        length = np.asarray(record["length"], dtype=float)
        invalid = np.rint(np.asarray(record["invalid_rate"], dtype=float) * length)  # counts, exactly
        out[f"{prefix}invalid_turn_rate"] = (
            float(invalid.sum() / length.sum()) if length.sum() > 0 else math.nan
        )
    return out


def read_metrics(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a run's metrics.csv (strings, as `csv.DictReader` gives them), columns written under an
    old name (`OLD_NAMES`) renamed to the current one. ValueError naming the file when a column appears
    under both names."""
    with Path(path).open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        both = sorted(old for old in header if old in OLD_NAMES and OLD_NAMES[old] in header)
        if both:
            raise ValueError(f"{path}: columns {both} appear under their old and their new name")
        return [{OLD_NAMES.get(k, k): v for k, v in row.items()} for row in reader]


def run_summary(rows: list[dict[str, str]], out: str | os.PathLike, title: str) -> str:
    """One line for the end of a run: primary eval success at the start and at its last evaluation,
    and where the outputs are. `rows` as `MetricsLog.rows` holds them (strings)."""
    evals = [(int(r["iteration"]), float(r["eval_success"])) for r in rows if r["eval_success"] != "nan"]
    start = next((f"{v:.3f}" for it, v in evals if it == START), "?")
    trained = [(it, v) for it, v in evals if it != START]
    end = f"{trained[-1][1]:.3f} after {trained[-1][0] + 1} iterations" if trained else "?"
    return (
        f"{title}: eval success {start} before the first update -> {end}; "
        f"outputs in {out} (metrics.csv, traces.nc, train.log)"
    )


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
        if self.path.is_file() and resume_from > 0:  # a fresh start (0) keeps no row, the start's included
            kept = [r for r in read_metrics(self.path) if int(r["iteration"]) < resume_from]
            # a file of an older version: columns it lacks read as NaN, columns no longer written are dropped
            self.rows = [{k: r.get(k, "nan") for k in METRICS} for r in kept]

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
            self.tracker.log(values, step=max(int(row["iteration"]), 0))
