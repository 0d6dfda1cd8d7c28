"""Text environments, task splits, the env pool and experts (no torch). See docs/ARCHITECTURE.md."""

from hiper_repro.envs.expert import ExpertRecord, expert_episode, expert_turn_limits
from hiper_repro.envs.pool import EnvPool
from hiper_repro.envs.protocol import (
    ENV_NAMES,
    NOTHING_HAPPENS,
    ExpertStep,
    Observation,
    StepResult,
    Task,
    TextEnv,
)
from hiper_repro.envs.registry import make_env, vocabulary
from hiper_repro.envs.tasks import load_tasks, make_tasks, save_tasks

__all__ = [
    "ENV_NAMES",
    "NOTHING_HAPPENS",
    "EnvPool",
    "ExpertRecord",
    "ExpertStep",
    "Observation",
    "StepResult",
    "Task",
    "TextEnv",
    "expert_episode",
    "expert_turn_limits",
    "load_tasks",
    "make_env",
    "make_tasks",
    "save_tasks",
    "vocabulary",
]
