"""Evaluate a policy on a fixed task split: the one evaluation path of the package.

``play_tasks`` plays a task list through a pool and returns per-episode columns; the training loop calls
it for every in-run evaluation and ``evaluate`` (below, and ``hiper-repro evaluate``) wraps it with its own
pool and a summary. Per episode (``episode_metrics``): success (won), score, length (turns), invalid rate
(invalid turns / turns), switch rate and mean segment length, defined as ``hiper_repro.train.metrics``
documents them: switch rate is the share of turns after the first that chose SWITCH (turn 0 always starts
a segment and decides nothing; NaN in the flat format and for one-turn episodes), segment length is
turns / segments (NaN in the flat format).

Sampling (temperature > 0) uses common random numbers: each episode's noise comes from
``noise_seed(seed, task_id)`` (:mod:`hiper_repro.agent.generation`), so every method, run seed and
iteration meets the same noise on the same task, and the result does not depend on batch size or
process count. Temperature 0 is greedy.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hiper_repro.agent.formats import FORMATS, check_format
from hiper_repro.agent.generation import GenerationConfig, noise_seed
from hiper_repro.agent.policy import AGENT_JSON, Policy, PolicyConfig, default_heads
from hiper_repro.agent.rollout import Rollout, rollout
from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.io import write_atomic

if TYPE_CHECKING:
    from hiper_repro.envs import EnvPool, Task

METRICS: tuple[str, ...] = ("success", "score", "length", "invalid_rate", "switch_rate", "segment_length")
# `hiper-repro evaluate`'s default temperature: the pipeline's (`evaluate.temperature`, and the trainer's
# `rollout.eval_temperature`), which is the authors' evaluation temperature. A test holds the three equal.
EVAL_TEMPERATURE = 0.4
COLUMNS: tuple[str, ...] = ("task_id", "task_type", "horizon", *METRICS)


@dataclass
class EvalResult:
    """``episodes``: one dict per episode (task_id, task_type, horizon + METRICS); ``summary``: means."""

    episodes: list[dict]
    summary: dict

    def to_json(self) -> dict:
        return {"summary": self.summary, "episodes": self.episodes}


def episode_metrics(ro: Rollout, fmt: str) -> dict[str, np.ndarray]:
    """Per-episode columns of one rollout (COLUMNS), vectorised over episodes."""
    mask = ro.mask
    length = mask.sum(1).double()
    invalid = (~ro.valid & mask).sum(1).double() / length.clamp(min=1)
    nan = torch.full_like(length, float("nan"))
    if fmt == "plan_execute":
        later = mask.clone()
        later[:, 0] = False
        switch_rate = (ro.switch & later).sum(1).double() / (length - 1).clamp(min=1)
        switch_rate = torch.where(length > 1, switch_rate, nan)
        segment = length / (ro.switch & mask).sum(1).double().clamp(min=1)
    else:
        switch_rate, segment = nan, nan
    return {
        "task_id": np.asarray(ro.task_ids, dtype=str),
        "task_type": np.asarray(ro.task_types, dtype=str),
        "horizon": np.asarray(ro.horizons, dtype=np.int64),
        "success": ro.won.double().numpy(),
        "score": ro.score.double().numpy(),
        "length": length.numpy(),
        "invalid_rate": invalid.numpy(),
        "switch_rate": switch_rate.numpy(),
        "segment_length": segment.numpy(),
    }


def play_tasks(
    policy: Policy,
    pool: EnvPool,
    tasks: list[Task],
    fmt: str,
    gen_cfg: GenerationConfig,
    seed: int = 0,
    turn_limits: list[int] | None = None,
) -> dict[str, np.ndarray]:
    """Play every task once (chunks of ``pool.n`` episodes) with per-task noise; per-episode columns."""
    check_format(fmt)
    parts = []
    for start in range(0, len(tasks), pool.n):
        chunk = tasks[start : start + pool.n]
        seeds = [noise_seed(seed, task.task_id) for task in chunk]
        limits = None if turn_limits is None else turn_limits[start : start + pool.n]
        ro = rollout(policy, policy.tokenizer, pool, chunk, fmt, gen_cfg, row_seeds=seeds, turn_limits=limits)
        parts.append(episode_metrics(ro, fmt))
    return {k: np.concatenate([p[k] for p in parts]) for k in COLUMNS} if parts else {}


def _mean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None  # None: JSON null (flat format switch rate)


def _pooled_invalid(rows: list[dict]) -> float | None:
    """Invalid turns / turns over `rows` (each episode's count is its rate x its length); None: no turns."""
    turns = sum(r["length"] for r in rows)
    return sum(round(r["invalid_rate"] * r["length"]) for r in rows) / turns if turns > 0 else None


def summarize(episodes: list[dict]) -> dict:
    """Means of METRICS over episodes overall, per horizon and per (task_type, horizon); ``n`` counts
    episodes. The invalid-turn rate is pooled over turns instead (``invalid_turn_rate``: invalid turns /
    turns, as training's metrics define it), not a mean of the per-episode ``invalid_rate``.

    Missing entries (None or NaN: switch rate of flat-format or one-turn episodes) are left out of a mean;
    a mean with no finite entry is None.
    """

    def mean(rows: list[dict]) -> dict:
        means = {m: _mean([r[m] for r in rows]) for m in METRICS if m != "invalid_rate"}
        return {"n": len(rows), **means, "invalid_turn_rate": _pooled_invalid(rows)}

    by_h: dict[int, list[dict]] = defaultdict(list)
    by_th: dict[str, list[dict]] = defaultdict(list)
    for row in episodes:
        by_h[row["horizon"]].append(row)
        by_th[f"{row['task_type']}/h{row['horizon']}"].append(row)
    return {
        "overall": mean(episodes),
        "by_horizon": {str(h): mean(rows) for h, rows in sorted(by_h.items())},
        "by_task_type": {k: mean(rows) for k, rows in sorted(by_th.items())},
    }


def _plain(value: np.generic) -> object:
    v = value.item()
    return None if isinstance(v, float) and math.isnan(v) else v


def rows(columns: dict[str, np.ndarray]) -> list[dict]:
    """Per-episode columns -> one plain dict per episode (JSON-ready: NaN becomes None)."""
    n = len(columns["task_id"])
    return [{k: _plain(columns[k][i]) for k in COLUMNS} for i in range(n)]


def evaluate(
    policy: Policy,
    tasks: list[Task],
    fmt: str,
    gen_cfg: GenerationConfig | None = None,
    batch_size: int = 64,
    seed: int = 0,
    env_options: dict | None = None,
) -> EvalResult:
    """Play every task once (chunks of ``batch_size`` episodes in one pool) and summarise."""
    from hiper_repro.envs import EnvPool

    check_format(fmt)
    if not tasks:
        raise ValueError("tasks must not be empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    envs = {t.env for t in tasks}
    if len(envs) != 1:
        raise ValueError(f"tasks must all come from one env, got {sorted(envs)}")
    gen_cfg = gen_cfg or GenerationConfig(temperature=0.0)
    with EnvPool(envs.pop(), min(batch_size, len(tasks)), **(env_options or {})) as pool:
        episodes = rows(play_tasks(policy, pool, tasks, fmt, gen_cfg, seed))
    return EvalResult(episodes, summarize(episodes))


def write_json(path: str | Path, payload: dict) -> Path:
    """Write JSON atomically (temp file in the same folder, then replace)."""
    return write_atomic(path, json.dumps(payload, indent=2))


def main(argv: list[str]) -> int:
    """``hiper-repro evaluate --model DIR --tasks f.jsonl --format plan_execute|flat --out f.json``."""
    from hiper_repro.envs import load_tasks

    ap = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro evaluate", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--model", required=True, help="saved policy folder (agent.json) or a plain HF model folder"
    )
    ap.add_argument("--tasks", required=True, nargs="+", help="task JSONL file(s)")
    ap.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    ap.add_argument("--out", required=True, help="output JSON (summary + per-episode rows)")
    ap.add_argument(
        "--temperature",
        type=float,
        default=EVAL_TEMPERATURE,
        help="sampling temperature, the pipeline's evaluation temperature unless given; 0 is greedy",
    )
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--history-length", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument(
        "--seed", type=int, default=0, help="noise seed: with the task id it fixes each episode's sampling"
    )
    args = ap.parse_args(argv)
    for name, value, low in (
        ("--max-new-tokens", args.max_new_tokens, 1),
        ("--batch-size", args.batch_size, 1),
        ("--history-length", args.history_length, 0),
        ("--temperature", args.temperature, 0),
    ):
        if not value >= low:  # also false for NaN
            ap.error(f"{name} must be >= {low}, got {value}")
    if not Path(args.model).is_dir():
        ap.error(f"--model {args.model}: no such folder")
    tasks = [t for f in args.tasks for t in load_tasks(f)]
    if not tasks:
        ap.error(f"--tasks {' '.join(args.tasks)}: no tasks")
    # A plain HF folder (a base model, no agent.json) is wrapped for --format; values are not used here.
    is_policy = (Path(args.model) / AGENT_JSON).is_file()
    base = None if is_policy else PolicyConfig(fmt=args.fmt, heads=default_heads(args.fmt))
    policy = Policy.load(args.model, base)
    if policy.config.fmt != args.fmt:
        ap.error(f"--format {args.fmt} but the policy at {args.model} was built for {policy.config.fmt}")
    gen = GenerationConfig(args.max_new_tokens, args.temperature, args.history_length)
    result = evaluate(policy, tasks, args.fmt, gen, args.batch_size, args.seed)
    sampling = {"temperature": args.temperature, "seed": args.seed}
    write_json(args.out, {"model": str(args.model), "format": args.fmt, **sampling, **result.to_json()})
    overall = result.summary["overall"]
    how = (
        "greedy (temperature 0)" if args.temperature == 0 else f"sampled at temperature {args.temperature:g}"
    )
    print(
        f"{len(tasks)} episodes, {how}, noise seed {args.seed}: success {overall['success']:.3f}, "
        f"invalid-turn rate {overall['invalid_turn_rate']:.3f}"
    )
    return 0
