"""Synthetic traces: small, realistic runs for testing statistics and figures without training anything.

The generative model (vectorised over episodes, loops over turns only):

- success probability at iteration i rises from p0 = 0.25 / h towards a ceiling c_m(h), as
  p_i = c - (c - p0) exp(-i / tau), tau = 0.35 * iterations * sqrt(h) / rate_m, plus a small per-seed
  offset. Rates and ceilings depend on the method (`METHODS`, one entry per base method of
  `hiper_repro.methods_registry`; a variant behaves as its base); longer horizons hurt flat methods more.
- a won episode ends (terminated, reward 1.0 on its last turn) after about 3 turns per subtask, fewer as
  training goes on; a lost one is truncated at the step limit 5 + 5h with reward 0; score is the fraction
  of subtasks done; turns are valid with a probability rising over training.
- plan-execute methods SWITCH on turn 0 and then with a probability falling over training (exploratory
  switching early, commitment late); segments follow from the switches.
- critics see the outcome more clearly late in the episode; value_low of plan-execute methods is less
  noisy (subgoal-conditioned). Advantages come from these values through the estimators of
  `hiper_repro.credit` (flat GAE, HAE low/high, switch code form) at the trainer's default parameters
  (`CREDIT`: gamma = 1, lam = lam_low = 1, lam_high = 0.95), bootstrapping truncated episodes with 0;
  group methods get group-normalised episode returns.
- evaluation on a fixed split (same task ids for every method and seed) of the starting policy
  (`eval_iteration` 0, identical for every seed of a format) and every `eval_every` iterations
  and after the last one, each labelled by the updates completed (after iteration i: i + 1);
- per-iteration diagnostics (`/iterations`): critics' explained variance rising, small drift.

Same arguments, same data: every random draw comes from a generator seeded by (seed, method, env, horizon).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from hiper_repro import methods_registry
from hiper_repro.traces.merge import merge_runs
from hiper_repro.traces.provenance import make_provenance
from hiper_repro.traces.writer import TraceWriter

SYNTHETIC_CREATED = "2026-01-01T00:00:00+00:00"  # fixed, so that synthetic data is reproducible
TASK_TYPES = ("pick", "clean", "heat", "cool", "look", "pick2")
_SUBGOALS = (
    "go to the {o}",
    "take the {o}",
    "open the fridge",
    "clean the {o}",
    "heat the {o}",
    "put the {o} away",
)
_OBJECTS = ("apple", "mug", "plate", "lamp", "knife", "book")


@dataclass(frozen=True)
class MethodTraits:
    """How a synthetic method behaves: plan-execute format, critic, group baseline, learning speed."""

    hierarchical: bool  # plan-execute format: switch, subgoals, segments
    critic: bool  # has value heads (value_*, adv_low/adv_flat)
    hae: bool  # action tokens use A_low (else flat GAE or a group advantage)
    group_size: int  # episodes per task group (1: no groups)
    rate: float  # learning speed, relative
    ceiling: float  # success ceiling at horizon 1
    horizon_decay: float  # ceiling lost per extra subtask
    step_level: bool = False  # group advantages vary within an episode (GiGPO's anchor states)


METHODS: dict[str, MethodTraits] = {
    "hiper": MethodTraits(True, True, True, 1, 1.0, 0.95, 0.03),
    "ppo-pe": MethodTraits(True, True, False, 1, 0.65, 0.85, 0.06),  # plan-execute prompt, flat GAE
    "ppo": MethodTraits(False, True, False, 1, 0.45, 0.80, 0.09),
    "gigpo": MethodTraits(False, False, False, 4, 0.7, 0.88, 0.06, step_level=True),
    "hgigpo": MethodTraits(False, False, False, 4, 0.75, 0.9, 0.05, step_level=True),
    "grpo": MethodTraits(False, False, False, 4, 0.5, 0.75, 0.09),
    "rloo": MethodTraits(False, False, False, 4, 0.5, 0.74, 0.09),
}
# Estimator parameters of every synthetic run: the trainer's defaults (MethodConfig; a test keeps them so).
CREDIT = {"gamma": 1.0, "lam": 1.0, "lam_low": 1.0, "lam_high": 0.95}


def _rng(*keys: int | str) -> np.random.Generator:
    return np.random.default_rng([k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys])


def _traits(method: str) -> MethodTraits:
    """The traits of a registered method: its own, or its base's for a variant."""
    known = methods_registry.names()
    base = methods_registry.get(method).base if method in known else None
    if base not in METHODS:
        raise ValueError(f"method: unknown synthetic method {method!r}; known: {sorted(known)}")
    return METHODS[base]


def success_probability(
    method: str, horizon: int, iteration: np.ndarray | int, iterations: int
) -> np.ndarray:
    """Expected training success of `method` at `iteration` (the curve the synthetic data follows)."""
    m = _traits(method)
    p0 = 0.25 / horizon
    ceiling = m.ceiling * (1.0 - m.horizon_decay * (horizon - 1))
    tau = 0.35 * max(iterations, 1) * np.sqrt(horizon) / m.rate
    return ceiling - (ceiling - p0) * np.exp(-np.asarray(iteration, float) / tau)


def _lengths(rng: np.random.Generator, won: np.ndarray, horizon: int, progress: float) -> np.ndarray:
    max_steps = 5 + 5 * horizon
    quick = 2 * horizon + rng.poisson(horizon * (1.5 - progress), won.shape)
    return np.where(won, np.clip(quick, 1, max_steps), max_steps)


def _credit(
    reward: np.ndarray,
    mask: np.ndarray,
    done: np.ndarray,
    switch: np.ndarray,
    values: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """The estimators of `hiper_repro.credit` at `CREDIT` on one iteration's (E, T) arrays: returns, flat
    GAE on value_low, HAE (adv_low; rtilde_k, adv_high and ret_high at segment starts) and the switch
    advantage of the code form (kept at turn 0 too), and the segment ids (-1 on padding). Truncated episodes bootstrap from 0; NaN where a
    quantity does not exist. With `switch` all False (flat format) HAE sees one segment per episode."""
    import torch  # here, not at the top: reading traces never needs torch (~1.4 s to import)

    from hiper_repro import credit

    r, real, ended, q = (torch.from_numpy(np.asarray(x)) for x in (reward, mask, done, switch))
    v_low, v_high, v_term = (torch.from_numpy(values[k]) for k in ("low", "high", "term"))
    gamma = CREDIT["gamma"]
    adv_flat, _ = credit.gae(r, v_low, real, ended, gamma, CREDIT["lam"])
    h = credit.hae(r, v_low, v_high, q, real, ended, gamma, CREDIT["lam_low"], CREDIT["lam_high"])
    switch_target = credit.switch_advantage(
        q, real, v_high, form="code", rewards=r, values_term=v_term, terminated=ended, gamma=gamma
    ).returns
    start = h.segment_start.numpy()
    per_turn = {
        "returns": credit.discounted_returns(r, real, gamma),
        "adv_flat": adv_flat,
        "adv_low": h.adv_low,
        "adv_switch": switch_target - v_term,
    }
    at_starts = {
        "segment_reward": credit.segment_rewards(r, q, real, gamma),
        "adv_high": h.adv_high,
        "ret_high": h.ret_high,
    }
    return (
        {k: np.where(mask, x.numpy(), np.nan) for k, x in per_turn.items()}
        | {k: np.where(start, x.numpy(), np.nan) for k, x in at_starts.items()}
        | {"segment_id": h.segment_id.numpy()}
    )


def _iteration(
    rng: np.random.Generator, method: str, horizon: int, env: str, p: float, progress: float, n: int
) -> tuple[dict, dict, dict]:
    m = _traits(method)
    T = 5 + 5 * horizon
    t = np.arange(T)[None, :]
    # Tasks: group methods play each task group_size times.
    task_k = np.repeat(rng.integers(0, 64, size=-(-n // m.group_size)), m.group_size)[:n]
    won = rng.random(n) < p
    length = _lengths(rng, won, horizon, progress)
    mask = t < length[:, None]
    last = t == (length[:, None] - 1)
    done = last & won[:, None]
    reward = np.where(done, 1.0, 0.0)
    valid = (rng.random((n, T)) < 0.75 + 0.2 * progress) & mask
    # Critic: outcome becomes visible late in the episode; subgoal-conditioned values are less noisy.
    seen = np.clip(t / length[:, None], 0, 1)
    belief = p + (won[:, None] - p) * seen
    noise = 0.10 if m.hierarchical else 0.15
    value_low = belief + rng.normal(0, noise * (1 - 0.4 * progress), (n, T))
    value_high = belief + rng.normal(0, 0.18 * (1 - 0.4 * progress), (n, T))
    value_term = belief + rng.normal(0, 0.15 * (1 - 0.4 * progress), (n, T))
    switch = np.zeros((n, T), bool)
    if m.hierarchical:
        beta = 0.15 + 0.5 * (1 - progress)
        switch = ((rng.random((n, T)) < beta) | (t == 0)) & mask
    adv = _credit(reward, mask, done, switch, {"low": value_low, "high": value_high, "term": value_term})
    adv_flat = adv["adv_flat"]

    turns: dict[str, np.ndarray] = {"mask": mask, "reward": reward, "done": done, "valid": valid}
    turns |= {"switch": switch, "returns": adv["returns"]}
    segments: dict[str, np.ndarray] = {}
    if m.hierarchical:
        # Segments: scatter the start turns' values into (E, S) without a loop over episodes.
        segment_id = adv["segment_id"]
        S = int(switch.sum(1).max())
        e_idx, t_idx = np.nonzero(switch)
        k_idx = segment_id[e_idx, t_idx]
        start = np.full((n, S), -1)
        start[e_idx, k_idx] = t_idx
        has = start >= 0
        nxt_start = np.concatenate([start[:, 1:], np.full((n, 1), -1)], 1)
        seg_len = np.where(nxt_start >= 0, nxt_start, length[:, None]) - start
        words = rng.integers(0, len(_SUBGOALS), (n, S))
        objs = np.asarray(_OBJECTS)[(task_k[:, None] + np.zeros((n, S), int)) % len(_OBJECTS)]
        subgoal = np.char.replace(np.asarray(_SUBGOALS)[words], "{o}", objs)
        segments = {"start_turn": start, "length": np.where(has, seg_len, np.nan)}
        for name, at_turn in (
            ("reward", adv["segment_reward"]),
            ("adv_high", adv["adv_high"]),
            ("value_high", value_high),
            ("ret_high", adv["ret_high"]),
        ):
            segments[name] = np.full((n, S), np.nan)
            segments[name][e_idx, k_idx] = at_turn[e_idx, t_idx]
        segments["subgoal"] = np.where(has, subgoal, "")
        turns |= {"segment_id": segment_id, "adv_high": adv["adv_high"], "adv_switch": adv["adv_switch"]}
        turns |= {"adv_low": adv["adv_low"], "value_high": value_high, "value_term": value_term}
        adv_action = adv["adv_low"] if m.hae else adv_flat
    else:
        adv_action = adv_flat
    ret_low = adv_action + value_low
    if m.critic:
        turns |= {"value_low": value_low, "adv_flat": adv_flat, "ret_low": ret_low, "adv_action": adv_action}
    else:
        # Group baseline: episode return minus the group mean, over the group std (GRPO-like).
        ret = reward.sum(1).reshape(-1, m.group_size)
        group_adv = ((ret - ret.mean(1, keepdims=True)) / (ret.std(1, keepdims=True) + 1e-6)).ravel()[:n]
        turns["adv_action"] = np.where(
            mask, group_adv[:, None] + rng.normal(0, 0.05, (n, T)) * m.step_level, np.nan
        )

    tokens = rng.normal(28 if m.hierarchical else 11, 4 if m.hierarchical else 2, (n, T)).clip(3).round()
    turns["response_length"] = tokens
    turns["logprob"] = -tokens * 0.6 * (1 - 0.6 * progress) * rng.uniform(0.6, 1.4, (n, T))

    episodes = {
        "task_id": np.char.add(f"{env}-h{horizon}-train-", np.char.zfill(task_k.astype(str), 4)),
        "task_type": np.asarray(TASK_TYPES)[task_k % len(TASK_TYPES)],
        "group": np.arange(n) // m.group_size,
        "success": won,
        "score": np.where(won, 1.0, rng.binomial(horizon - 1, p, n) / horizon),
        "length": length,
        "return": reward.sum(1),
        "invalid_rate": 1.0 - valid.sum(1) / length,
    }
    return turns, segments, episodes


def _evaluation(
    rng: np.random.Generator, method: str, horizon: int, env: str, p: float, progress: float, n: int
) -> dict:
    m = _traits(method)
    k = np.arange(n)
    # Per-task difficulty depends on the split only: identical for every method and seed.
    difficulty = _rng("eval", env, horizon).normal(0, 0.1, n)
    won = rng.random(n) < np.clip(p * 1.05 + difficulty, 0, 1)
    length = _lengths(rng, won, horizon, progress)
    switch_rate = (
        np.clip(0.15 + 0.5 * (1 - progress) + rng.normal(0, 0.05, n), 0, 1)
        if m.hierarchical
        else np.full(n, np.nan)
    )
    return {
        "task_id": np.char.add(f"{env}-h{horizon}-eval-", np.char.zfill(k.astype(str), 4)),
        "task_type": np.asarray(TASK_TYPES)[k % len(TASK_TYPES)],
        "success": won,
        "score": np.where(won, 1.0, rng.binomial(horizon - 1, p, n) / horizon),
        "length": length,
        "invalid_rate": np.clip(0.25 - 0.2 * progress + rng.normal(0, 0.05, n), 0, 1),
        "switch_rate": switch_rate,
    }


def _diagnostics(
    rng: np.random.Generator, method: str, p: float, progress: float, episodes: int, horizon: int
) -> dict:
    """One iteration's `/iterations` scalars: critics improve, drift and clipping stay small."""
    m = _traits(method)
    nan = float("nan")
    ev = float(np.clip(0.1 + 0.5 * progress + rng.normal(0, 0.05), -1, 1))
    return {
        "turns": int(episodes * (2 + 3 * horizon)),
        "success": float(np.clip(p + rng.normal(0, 0.05), 0, 1)),
        "invalid_turn_rate": float(np.clip(0.25 - 0.2 * progress + rng.normal(0, 0.02), 0, 1)),
        "explained_variance_low": ev if m.critic else nan,
        "explained_variance_high": ev - 0.1 if m.critic and m.hae else nan,
        "explained_variance_term": nan,
        "adv_switch_abs": float(abs(rng.normal(0.05, 0.01))) if m.hae else nan,
        "adv_action_std": float(abs(rng.normal(0.4, 0.05))),
        "kl_ref": 0.002 + 0.01 * progress,
        "approx_kl": float(abs(rng.normal(0.003, 0.001))),
        "clip_fraction": float(abs(rng.normal(0.05, 0.01))),
        "entropy": 0.4 - 0.2 * progress,
        "grad_norm": float(abs(rng.normal(1.0, 0.2))),
        "optimizer_steps": 1,
        "policy_updated": True,
        "lr": 1e-4,
    }


def synthetic_writer(
    method: str,
    horizon: int,
    seed: int,
    *,
    path: str | Path | None = None,
    env: str = "household",
    iterations: int = 6,
    episodes: int = 16,
    eval_episodes: int = 16,
    eval_every: int = 2,
    keep_every: int = 1,
) -> TraceWriter:
    """One synthetic run, filled into a TraceWriter (not flushed); `path=None` keeps it in memory."""
    for name, value, low in (
        ("iterations", iterations, 1),
        ("episodes", episodes, 1),
        ("eval_episodes", eval_episodes, 1),
    ):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be an int >= 1, got {eval_every!r}")
    if episodes % _traits(method).group_size:
        raise ValueError(
            f"episodes must be a multiple of the group size {_traits(method).group_size} of {method!r}, got {episodes}"
        )
    config = {"synthetic": True, "method": method, "env": env, "horizon": horizon, "seed": seed}
    config |= {
        "iterations": iterations,
        "episodes": episodes,
        "eval_episodes": eval_episodes,
        "eval_every": eval_every,
    }
    attrs = make_provenance(
        config=config, method=method, env=env, horizon=horizon, seed=seed,
        model_id="synthetic", device="cpu", created=SYNTHETIC_CREATED,
    )  # fmt: skip
    writer = TraceWriter(path, attrs, keep_every=keep_every, overwrite=True)
    rng = _rng(seed, method, env, horizon)
    seed_offset = rng.normal(0, 0.03)
    # The starting policy (the warm start of the method's format) is the same for every seed, and the
    # evaluation noise is common to all runs: its evaluation depends on the format, env and horizon only.
    fmt = "plan_execute" if _traits(method).hierarchical else "flat"
    p_start = float(success_probability(method, horizon, 0, iterations))
    start_rng = _rng("start", fmt, env, horizon)
    diag_rng = _rng("diagnostics", seed, method, env, horizon)  # apart: the other draws stay as they were
    writer.add_evaluation(0, _evaluation(start_rng, method, horizon, env, p_start, 0.0, eval_episodes))
    for i in range(iterations):
        p = float(np.clip(success_probability(method, horizon, i, iterations) + seed_offset, 0.01, 0.99))
        progress = i / max(iterations - 1, 1)
        writer.add_iteration(i, *_iteration(rng, method, horizon, env, p, progress, episodes))
        writer.add_diagnostics(i, _diagnostics(diag_rng, method, p, progress, episodes, horizon))
        if i % eval_every == 0 or i == iterations - 1:
            writer.add_evaluation(i + 1, _evaluation(rng, method, horizon, env, p, progress, eval_episodes))
    return writer


def synthetic_runs(
    out_dir: str | Path,
    *,
    methods: Sequence[str] = ("hiper", "ppo"),
    horizons: Sequence[int] = (1, 3),
    seeds: Sequence[int] = (0, 1, 2),
    iterations: int = 6,
    env: str = "household",
    **options: int,
) -> list[Path]:
    """Write synthetic runs as ``out_dir/{env}/h{horizon}/{method}/seed{seed}/traces.nc`` (the results
    layout); returns the run directories. `options` go to `synthetic_writer` (episodes, eval_every...)."""
    dirs = []
    for method in methods:
        for horizon in horizons:
            for seed in seeds:
                run_dir = Path(out_dir) / env / f"h{horizon}" / method / f"seed{seed}"
                writer = synthetic_writer(
                    method, horizon, seed, path=run_dir, env=env, iterations=iterations, **options
                )
                writer.flush()
                dirs.append(run_dir)
    return dirs


def synthetic_merged(
    *,
    methods: Sequence[str] = ("hiper", "ppo"),
    horizons: Sequence[int] = (1, 3),
    seeds: Sequence[int] = (0, 1, 2),
    iterations: int = 6,
    env: str = "household",
    **options: int,
) -> xr.DataTree:
    """A merged synthetic dataset (what `open_runs` returns for `synthetic_runs`), built in memory."""
    trees = [
        synthetic_writer(method, horizon, seed, env=env, iterations=iterations, **options).tree()
        for method in methods
        for horizon in horizons
        for seed in seeds
    ]
    return merge_runs(trees)
