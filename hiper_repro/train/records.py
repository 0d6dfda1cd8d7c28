"""What an iteration leaves behind: trace records (schema of `hiper_repro.traces`), the batch statistics
of the traces' `/iterations` group, and the metrics row.

Records are numpy dicts per group, built from the Rollout and the Credit with (B, T) tensor operations.
Under data parallelism every process builds its own records and batch statistics; on the main process
`concat_records` joins the records and `pool_diagnostics` averages the statistics, weighted by turns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from hiper_repro import credit
from hiper_repro.traces.schema import GROUPS
from hiper_repro.train.metrics import evaluation_columns

if TYPE_CHECKING:
    from hiper_repro.agent.rollout import Rollout
    from hiper_repro.train.config import TrainConfig
    from hiper_repro.train.methods import Credit

NAN = float("nan")
# Batch statistics each process measures (`diagnostics`), pooled over processes weighted by turns
# (`pool_diagnostics`); the metrics row takes them too, except those it reads from the global records.
BATCH_STATS = (
    "success",
    "invalid_turn_rate",
    "adv_switch_abs",
    "adv_action_std",
    "explained_variance_low",
    "explained_variance_high",
    "explained_variance_term",
)
FROM_RECORDS = ("success", "invalid_turn_rate")
# The update's cross-process means the `/iterations` group keeps, under `ppo_update`'s names.
UPDATE_STATS = ("kl_ref", "approx_kl", "clip_fraction", "entropy", "grad_norm")


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def per_turn(rollout: Rollout, values: list[float]) -> torch.Tensor:
    """Scatter one number per TurnTokens (rollout order) into a (B, T) tensor, NaN at padding."""
    out = torch.full(rollout.mask.shape, NAN)
    if rollout.turns:
        b = torch.tensor([tt.b for tt in rollout.turns])
        t = torch.tensor([tt.t for tt in rollout.turns])
        out[b, t] = torch.tensor(values, dtype=torch.float32)
    return out


def segment_table(
    rollout: Rollout, rewards: Tensor, gamma: float, at_starts: dict[str, Tensor]
) -> dict[str, Tensor | list[list[str]]]:
    """Per-segment (B, K) arrays for the traces: start_turn (-1 at padding), length, discounted segment
    reward rtilde_k = sum_{t=b_k}^{e_k} gamma^(t-b_k) r_t, subgoal text, and each (B, T) tensor of
    `at_starts` read at the segment's start turn. Segments start at SWITCH turns (turn 0 always does).
    """
    mask = rollout.mask
    starts, seg_id, _ = credit.segments_from_switch(rollout.switch, mask)
    n_b = mask.shape[0]
    k_max = max(int(starts.sum(1).max()) if n_b else 0, 0)
    bs, ts = torch.nonzero(starts, as_tuple=True)  # row-major: segments in order within each episode
    ks = seg_id[bs, ts]
    start = torch.full((n_b, k_max), -1, dtype=torch.long)
    start[bs, ks] = ts
    real = mask & (seg_id >= 0)
    sid = seg_id.clamp(min=0)
    length = torch.zeros((n_b, k_max)).scatter_add_(1, sid, real.float())
    seg_reward = torch.zeros((n_b, k_max))
    seg_reward[bs, ks] = credit.segment_rewards(rewards.float(), rollout.switch, mask, gamma)[bs, ts]
    present = start >= 0
    nan = torch.tensor(float("nan"))
    out: dict[str, Tensor | list[list[str]]] = {
        "start_turn": start,
        "length": torch.where(present, length, nan),
        "reward": torch.where(present, seg_reward, nan),
    }
    sub = [["" for _ in range(k_max)] for _ in range(n_b)]
    for b, t, k in zip(bs.tolist(), ts.tolist(), ks.tolist()):  # strings: traces only, not a hot path
        sub[b][k] = rollout.subgoals[b][t]
    out["subgoal"] = sub
    for name, x in at_starts.items():
        vals = torch.full((n_b, k_max), float("nan"))
        vals[bs, ks] = x[bs, ts].float().cpu()
        out[name] = vals
    return out


def trace_records(rollout: Rollout, assigned: Credit, cfg: TrainConfig) -> dict[str, dict[str, Any]]:
    """turns / segments / episodes records for `TraceWriter.add_iteration`.

    `reward` is the shaped reward the estimators used (environment reward x success_reward minus
    penalties), so credit can be recomputed from the traces; `return` (episodes) is the environment's.
    Critic-free methods get NaN values (their heads are not trained); the flat format has no segments.
    """
    mask, has_critic = rollout.mask, cfg.has_critic
    nan = torch.full(mask.shape, NAN)
    turns: dict[str, Any] = {
        "mask": _np(mask),
        "reward": _np(assigned.rewards),
        "done": _np(rollout.terminated & mask),
        "valid": _np(rollout.valid & mask),
        "switch": _np(rollout.switch & mask),
        "value_low": _np(rollout.value_low if has_critic else nan),
        "value_high": _np(rollout.value_high if has_critic else nan),
        "value_term": _np(rollout.value_term if has_critic else nan),
        "logprob": _np(per_turn(rollout, [float(tt.logprobs.sum()) for tt in rollout.turns])),
        "response_length": _np(per_turn(rollout, [float(len(tt.response_ids)) for tt in rollout.turns])),
    }
    for name, x in assigned.trace.items():
        turns[name] = _np(x)
    env_return = torch.where(mask, rollout.rewards, torch.zeros(())).sum(1)
    invalid = (~rollout.valid & mask).sum(1).float() / rollout.length.clamp(min=1)
    episodes = {
        "task_id": np.asarray(rollout.task_ids, dtype=str),
        "task_type": np.asarray(rollout.task_types, dtype=str),
        "group": _np(rollout.group_ids),
        "success": _np(rollout.won.float()),
        "score": _np(rollout.score),
        "length": _np(rollout.length.float()),
        "return": _np(env_return),
        "invalid_rate": _np(invalid),
    }
    segments = {}
    if cfg.fmt == "plan_execute":
        at_starts = {
            "adv_high": assigned.trace.get("adv_high"),
            "value_high": rollout.value_high if has_critic else None,
            "ret_high": assigned.targets.get("high"),
        }
        table = segment_table(
            rollout, assigned.rewards, cfg.method.gamma, {k: v for k, v in at_starts.items() if v is not None}
        )
        segments = {k: (np.asarray(v, dtype=str) if k == "subgoal" else _np(v)) for k, v in table.items()}
    return {"turns": turns, "segments": segments, "episodes": episodes}


def explained_variance(prediction: torch.Tensor, target: torch.Tensor, where: torch.Tensor) -> float:
    """1 - Var(target - prediction) / Var(target) over the entries in `where`; NaN with fewer than two
    entries or a constant target. 1 is a perfect critic, 0 no better than the target's mean."""
    where = where & torch.isfinite(prediction) & torch.isfinite(target)
    if int(where.sum()) < 2:
        return NAN
    y, e = target[where].double(), (target - prediction)[where].double()
    var = float(y.var())
    return 1.0 - float(e.var()) / var if var > 0 else NAN


def diagnostics(rollout: Rollout, assigned: Credit, cfg: TrainConfig, policy_updated: bool) -> dict[str, Any]:
    """This process's batch scalars of the traces' `/iterations` group, before any cross-process average
    (the update's own quantities, KL, clip fraction, entropy, ..., are `ppo_update`'s cross-process means,
    which the loop adds).

    Critic quality: each value head's explained variance against the observed reward-to-go G_t (the
    same yardstick for every head: V_low on every real turn, V_high at segment starts, V_term on every
    turn), measured on the fresh batch before the update trains on it, i.e. held out.
    """
    mask = rollout.mask
    returns = assigned.trace["returns"]
    hiper = cfg.base_method == "hiper"  # hiper and its variants
    starts = rollout.switch & mask
    raw_action = assigned.trace.get("adv_low" if hiper else "adv_flat", assigned.adv_action)
    finite = torch.isfinite(raw_action) & mask
    switch_abs = assigned.trace.get("adv_switch")
    return {
        "turns": int(mask.sum()),
        "success": float(rollout.won.float().mean()),
        "invalid_turn_rate": float((~rollout.valid & mask).sum() / mask.sum().clamp(min=1)),
        "explained_variance_low": (
            explained_variance(rollout.value_low, returns, mask) if cfg.has_critic else NAN
        ),
        "explained_variance_high": explained_variance(rollout.value_high, returns, starts) if hiper else NAN,
        "explained_variance_term": (
            explained_variance(rollout.value_term, returns, mask)
            if hiper and cfg.method.switch_form == "code"
            else NAN
        ),
        "adv_switch_abs": (
            float(switch_abs[torch.isfinite(switch_abs)].abs().mean())
            if switch_abs is not None and bool(torch.isfinite(switch_abs).any())
            else NAN
        ),
        "adv_action_std": float(raw_action[finite].std()) if int(finite.sum()) > 1 else NAN,
        "policy_updated": policy_updated,
    }


def pool_diagnostics(parts: list[dict[str, Any]], update: dict[str, float], lr: float) -> dict[str, Any]:
    """One `/iterations` record from every process's `diagnostics`: turn-weighted means of BATCH_STATS,
    the update's cross-process means (`update`) for its own quantities (UPDATE_STATS), and the rate `lr`."""
    weights = np.array([p["turns"] for p in parts], dtype=float)
    out: dict[str, Any] = {"turns": int(weights.sum()), "policy_updated": bool(parts[0]["policy_updated"])}
    for key in BATCH_STATS:
        out[key] = _weighted([p[key] for p in parts], weights)
    for key in UPDATE_STATS:
        out[key] = float(update.get(key, NAN))
    out["optimizer_steps"] = int(update.get("optimizer_steps", 0))
    out["lr"] = lr
    return out


def _weighted(values: list[float], weights: np.ndarray) -> float:
    """sum_i w_i v_i / sum_i w_i over the finite values with w_i > 0; NaN when there is none."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (weights > 0)
    return float(np.average(v[ok], weights=weights[ok])) if ok.any() else NAN


def evaluation_record(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The traces' evaluation variables out of `agent.evaluate.play_tasks`'s per-episode columns."""
    return {name: columns[name] for name in GROUPS["evaluation"].variables}


def concat_records(group: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Join per-process records along the episode axis, padding inner dims with the schema fills."""
    if len(parts) == 1:
        return parts[0]
    names = sorted(set().union(*parts))
    if not names:
        return {}
    spec = GROUPS[group].variables
    out = {}
    for name in names:
        arrays = [np.asarray(p[name]) for p in parts if name in p]
        if arrays[0].ndim == 2:
            width = max(a.shape[1] for a in arrays)
            fill = spec[name].fill
            arrays = [
                np.concatenate([a, np.full((a.shape[0], width - a.shape[1]), fill, dtype=a.dtype)], axis=1)
                for a in arrays
            ]
        out[name] = np.concatenate(arrays, axis=0)
    return out


def rollout_summary(rec: dict[str, dict[str, Any]], fmt: str) -> dict[str, float]:
    """Iteration metrics from the (global) trace records: success, returns, lengths, rates."""
    t, e = rec["turns"], rec["episodes"]
    mask = t["mask"].astype(bool)
    later = mask.copy()
    later[:, :1] = False
    out = {
        "success": float(np.mean(e["success"])),
        "return": float(np.mean(e["return"])),
        "shaped_return": float(np.where(mask, t["reward"], 0).sum(1).mean()),
        "episode_length": float(np.mean(e["length"])),
        "invalid_turn_rate": float(1.0 - t["valid"][mask].mean()) if mask.any() else NAN,
        "turns": float(mask.sum()),
        "switch_rate": NAN,
        "segment_length": NAN,
    }
    if fmt == "plan_execute":
        out["switch_rate"] = float(t["switch"][later].mean()) if later.any() else NAN
        out["segment_length"] = float(mask.sum() / max(t["switch"][mask].sum(), 1))
    return out


def metrics_row(
    iteration: int,
    records: dict[str, dict[str, Any]],
    pooled: dict[str, Any],
    update: dict[str, float],
    times: dict[str, float],
    *,
    fmt: str,
    policy_skipped: bool,
    generated_tokens: int,
    evaluations: dict[str, dict],
) -> dict[str, Any]:
    """The iteration's metrics row (every column is documented in `train.metrics.METRICS`): the summary of
    the global trace `records`, the update's cross-process means, the phase times, the `pooled` batch
    statistics, whether the policy was skipped or updated, the rate, the rollout's throughput
    (`generated_tokens` over every process) and the columns of the `evaluations` played."""
    row = {"iteration": iteration, **rollout_summary(records, fmt), **update, **times}
    row |= {k: float(pooled[k]) for k in BATCH_STATS if k not in FROM_RECORDS}
    row["policy_skipped"] = int(policy_skipped)
    row["policy_updated"] = int(pooled["policy_updated"])
    row["lr"] = pooled["lr"]
    row["tokens_per_s"] = generated_tokens / max(times["time_rollout"], 1e-9)
    return row | evaluation_columns(evaluations)
