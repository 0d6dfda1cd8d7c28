"""Expert demonstrations with injected noise, for the supervised warm start.

``expert_episode(env, task, noise, rng)`` plays one episode: at every turn the expert's step
(action, subgoal) is recorded; with probability ``noise`` a uniformly random admissible action is
executed instead (the record keeps the action actually taken) and the expert recovers from
wherever that leaves it. ``switch`` is True at turn 0 and whenever the expert's subgoal differs from
the previous turn's.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from hiper_repro.envs.protocol import Task, TextEnv


@dataclass
class ExpertRecord:
    """One turn of a demonstration."""

    observation: str  # text shown before the action
    admissible: list[str]
    action: str  # the action taken (the expert's, or a random one when ``noisy``)
    subgoal: str  # the expert's subgoal at this turn
    switch: bool  # the expert's subgoal changed here (always True at turn 0)
    noisy: bool  # the action was random, not the expert's
    expert_action: str  # what the expert would have done


def expert_episode(
    env: TextEnv, task: Task, noise: float = 0.0, rng: random.Random | None = None
) -> tuple[list[ExpertRecord], dict]:
    """Play ``task`` with the (noisy) expert; return the turn records and the final ``info``."""
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise!r}")
    if noise > 0 and rng is None:
        raise ValueError("rng is required when noise > 0 (same seed, same demonstrations)")
    obs = env.reset(task)
    step = env.expert()
    records: list[ExpertRecord] = []
    info: dict = {"won": False, "score": 0.0, "valid": True, "expert": step}
    previous = None
    while step is not None:
        noisy = noise > 0 and rng.random() < noise
        action = rng.choice(obs.admissible) if noisy else step.action
        records.append(
            ExpertRecord(
                obs.text,
                list(obs.admissible),
                action,
                step.subgoal,
                step.subgoal != previous,
                noisy,
                step.action,
            )
        )
        previous = step.subgoal
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
        step = info["expert"]
    return records, info


def expert_turn_limits(env: TextEnv, tasks: list[Task], ratio: float) -> dict[str, int]:
    """Per task id, ceil(ratio x the turns the noise-free expert needs), never above the env's own limit.

    A task the expert does not finish keeps the environment's limit. Played once per task at setup.
    """
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio!r}")
    limits: dict[str, int] = {}
    for task in tasks:
        records, info = expert_episode(env, task)
        need = len(records) if info.get("won") else env.max_steps
        limits[task.task_id] = max(1, min(env.max_steps, math.ceil(ratio * need)))
    return limits
