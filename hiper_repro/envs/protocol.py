"""The contract every text environment follows (docs/ARCHITECTURE.md, section "envs").

Gymnasium's vocabulary: ``reset(task) -> Observation`` and
``step(action) -> (Observation, reward, terminated, truncated, info)``. ``terminated`` means the
episode ended by itself: the task was won (household, textworld, alfworld), in ``shop`` an item was
bought (a wrong purchase ends the episode with reward 0), or a TextWorld game was lost; ``truncated``
means the per-task step limit ``max_steps`` was reached first. The two are never merged: truncation is not termination.

``info`` always carries ``won`` (bool), ``score`` (partial progress in [0, 1]), ``valid`` (was the action
admissible) and ``expert`` (the expert's :class:`ExpertStep` for the new state, ``None`` once the
episode is over). Reward is 1.0 on the winning step and 0.0 otherwise; no shaping happens inside an env.

Any string is a legal argument to ``step``: an inadmissible or garbled action gets ``"Nothing
happens."`` (plus the status line where the env has one) and ``valid=False``, never an exception.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

ENV_NAMES: tuple[str, ...] = ("household", "shop", "textworld", "alfworld")
SPLITS: tuple[str, ...] = ("train", "eval")
NOTHING_HAPPENS = "Nothing happens."


@dataclass(frozen=True)
class Task:
    """One line of a JSONL split: everything needed to rebuild one episode's world deterministically.

    ``task_type`` is the ALFWorld-style type of the task ("pick", "clean", "heat", "cool", "look",
    "pick2"); for a chain of subtasks it is the type of its first subtask (see each env's docs);
    ``shop`` uses "shop" and ``textworld`` its challenge name.
    """

    task_id: str
    env: str
    horizon: int
    split: str
    task_type: str
    instruction: str
    spec: dict = field(hash=False, compare=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Task:
        """A task from a JSON row; ValueError naming the field when one is missing or of the wrong type."""
        check_fields(row, "task", TASK_FIELDS)
        if not row["task_id"]:
            raise ValueError("task.task_id is empty")
        if row["env"] not in ENV_NAMES:
            raise ValueError(f"task.env={row['env']!r}: expected one of {list(ENV_NAMES)}")
        if row["horizon"] < 1:
            raise ValueError(f"task.horizon={row['horizon']!r}: expected an int >= 1")
        if row["split"] not in SPLITS:
            raise ValueError(f"task.split={row['split']!r}: expected one of {list(SPLITS)}")
        return cls(**{n: row[n] for n in TASK_FIELDS})


TASK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "task_id": str,
    "env": str,
    "horizon": int,
    "split": str,
    "task_type": str,
    "instruction": str,
    "spec": dict,
}


def check_fields(value: Any, where: str, fields: dict[str, type | tuple[type, ...]]) -> None:
    """``value`` is a dict holding every name of ``fields`` with a value of its type (bool is not int).

    Raises ValueError naming ``where`` and the field, so a hand-edited task file points at its mistake.
    """
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    missing = [name for name in fields if name not in value]
    if missing:
        raise ValueError(f"{where} lacks field(s) {missing}; it has {sorted(map(str, value))}")
    for name, kind in fields.items():
        item = value[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(item, kinds) or (isinstance(item, bool) and bool not in kinds):
            wanted = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise ValueError(f"{where}.{name}={item!r:.80}: expected {wanted}")


@dataclass
class Observation:
    """What the agent sees after reset or a step."""

    text: str  # the env's answer to the last action, ending with its status line where it has one
    admissible: list[str]  # admissible actions, verbatim strings, in a deterministic order
    task: str  # the task description (instruction)


@dataclass(frozen=True)
class ExpertStep:
    """The expert's next action (always admissible) and the subgoal it is pursuing."""

    action: str
    subgoal: str


@dataclass
class StepResult:
    """One environment's answer to ``step``; unpacks like Gymnasium's 5-tuple."""

    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]

    def __iter__(self):
        return iter((self.observation, self.reward, self.terminated, self.truncated, self.info))


@runtime_checkable
class TextEnv(Protocol):
    """A text environment: one task at a time, any string as an action."""

    name: str
    max_steps: int  # step limit of the current task (grows with the horizon)

    def reset(self, task: Task) -> Observation: ...

    def step(self, action: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]: ...

    def expert(self) -> ExpertStep | None: ...

    def close(self) -> None: ...


def check_action(action: object) -> str:
    """Return ``action`` if it is a string; any string is fine, anything else is a caller's bug."""
    if not isinstance(action, str):
        raise TypeError(f"action must be a str, got {type(action).__name__}: {action!r}")
    return action


def normalize_action(action: str) -> str:
    """Collapse whitespace and lowercase, so ``" Go to  Desk 1"`` matches ``"go to desk 1"``."""
    return " ".join(action.split()).lower()
