"""Evaluate a policy on a fixed task split: ``evaluate(...)`` and ``hiper-repro evaluate``.

Per episode: success (won), score, length (turns), invalid rate (invalid turns / turns), switch rate
(SWITCH turns / turns, turn 0 included; 0 in the flat format) and mean segment length (turns / segments).
The summary reports the mean of each per (task_type, horizon), per horizon, and overall, with episode
counts. Decoding is greedy by default (``--temperature 0``); a set temperature samples from a seeded
generator, so the same seed gives the same result.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from hiper_repro.agent.formats import FORMATS, check_format
from hiper_repro.agent.generation import GenerationConfig
from hiper_repro.agent.policy import AGENT_JSON, Policy, PolicyConfig, default_heads
from hiper_repro.agent.rollout import Rollout, rollout
from hiper_repro.io import write_atomic

METRICS: tuple[str, ...] = ("success", "score", "length", "invalid_rate", "switch_rate", "segment_length")


@dataclass
class EvalResult:
    """``episodes``: one dict per episode (task_id, task_type, horizon + METRICS); ``summary``: means."""

    episodes: list[dict]
    summary: dict

    def to_json(self) -> dict:
        return {"summary": self.summary, "episodes": self.episodes}


def episode_metrics(ro: Rollout, fmt: str) -> list[dict]:
    """Per-episode metrics of one rollout (vectorised over episodes)."""
    mask = ro.mask.float()
    length = mask.sum(1)
    invalid = ((~ro.valid).float() * mask).sum(1) / length
    n_switch = (ro.switch.float() * mask).sum(1)
    switch_rate = n_switch / length if fmt == "plan_execute" else torch.zeros_like(length)
    segment = length / n_switch.clamp(min=1) if fmt == "plan_execute" else length
    return [
        {
            "task_id": ro.task_ids[b],
            "task_type": ro.task_types[b],
            "horizon": ro.horizons[b],
            "success": float(ro.won[b]),
            "score": float(ro.score[b]),
            "length": float(length[b]),
            "invalid_rate": float(invalid[b]),
            "switch_rate": float(switch_rate[b]),
            "segment_length": float(segment[b]),
        }
        for b in range(len(ro.task_ids))
    ]


def summarize(episodes: list[dict]) -> dict:
    """Means of METRICS overall, per horizon and per (task_type, horizon); ``n`` counts episodes."""

    def mean(rows: list[dict]) -> dict:
        return {"n": len(rows), **{m: sum(r[m] for r in rows) / len(rows) for m in METRICS}}

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


def evaluate(
    policy: Policy,
    tasks: list,
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
    generator = torch.Generator().manual_seed(seed)
    episodes: list[dict] = []
    with EnvPool(envs.pop(), min(batch_size, len(tasks)), **(env_options or {})) as pool:
        for start in range(0, len(tasks), batch_size):
            chunk = tasks[start : start + batch_size]
            ro = rollout(policy, policy.tokenizer, pool, chunk, fmt, gen_cfg, generator)
            episodes += episode_metrics(ro, fmt)
    return EvalResult(episodes, summarize(episodes))


def write_json(path: str | Path, payload: dict) -> Path:
    """Write JSON atomically (temp file in the same folder, then replace)."""
    return write_atomic(path, json.dumps(payload, indent=2))


def main(argv: list[str]) -> int:
    """``hiper-repro evaluate --model DIR --tasks f.jsonl --format plan_execute|flat --out f.json``."""
    from hiper_repro.envs import load_tasks

    ap = argparse.ArgumentParser(prog="hiper-repro evaluate", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", required=True, help="saved policy folder (agent.json) or a plain HF model folder"
    )
    ap.add_argument("--tasks", required=True, nargs="+", help="task JSONL file(s)")
    ap.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    ap.add_argument("--out", required=True, help="output JSON (summary + per-episode rows)")
    ap.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--history-length", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
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
    write_json(args.out, {"model": str(args.model), "format": args.fmt, **result.to_json()})
    overall = result.summary["overall"]
    print(
        f"{len(tasks)} episodes: success {overall['success']:.3f}, invalid rate {overall['invalid_rate']:.3f}"
    )
    return 0
