"""``textworld``: TextWorld games generated offline, cached, and played with admissible commands.

Games come from ``tw-make`` (TextWorld >= 1.6, the ``textworld`` extra): challenge ``custom``
(default: 5 rooms, 10 objects, quest length = horizon) or ``tw-treasure_hunter`` /
``tw-coin_collector`` (level = horizon). Each game is cached under
``cache_dir/<challenge>/h<horizon>/s<game_seed>/game.z8`` (default ``~/.cache/hiper_repro/textworld``),
written into a temporary folder and renamed into place, so concurrent writers never see half a game.

Playing: an action that is not one of TextWorld's admissible commands is not sent to the engine; the
answer is "Nothing happens." and ``valid=False``. The expert is TextWorld's walkthrough from the
current state (``policy_commands``), so it recovers from detours; its subgoal is the next walkthrough
command that is not a move ("take red key"), so a run of moves and the action they lead to share a
subgoal. ``score`` = the fraction of the initial walkthrough done (1 when won; TextWorld's own score of
a ``custom`` game is 0 until the end). A lost game (treasure_hunter's wrong object, an eaten cooking
ingredient) ends the episode: ``terminated`` with reward 0 and TextWorld's own score (its walkthrough is
empty then, so the fraction done would read 1). ``task_type`` is the challenge name. Step limit
``base_steps + steps_per_subtask * horizon`` (defaults 10 + 6 K).

Some seeds admit no quest of the asked length (``tw-make`` raises QuestGenerationError, for about one
treasure_hunter seed in five at level 10); :func:`settle_spec` then takes the next seed and records the
ones that failed in the spec (``failed_game_seeds``), so a task file says which game it holds and why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from hiper_repro.envs.protocol import (
    NOTHING_HAPPENS,
    ExpertStep,
    Observation,
    Task,
    check_action,
    check_fields,
    normalize_action,
)
from hiper_repro.io import atomic_dir

CHALLENGES = ("custom", "tw-treasure_hunter", "tw-coin_collector")
DEFAULT_CACHE = Path("~/.cache/hiper_repro/textworld")
INSTALL_HINT = "TextWorld is not installed: pip install 'hiper-repro[textworld]'"


def _textworld():
    try:
        import textworld
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return textworld


def _check_challenge(challenge: str) -> None:
    if challenge not in CHALLENGES:
        raise ValueError(f"challenge must be one of {list(CHALLENGES)}, got {challenge!r}")


def game_path(spec: dict[str, Any], cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the game of ``spec`` is cached: keyed by (challenge, horizon, seed)."""
    root = Path(cache_dir or DEFAULT_CACHE).expanduser()
    return root / spec["challenge"] / f"h{spec['horizon']}" / f"s{spec['game_seed']}" / "game.z8"


class QuestGenerationFailed(RuntimeError):
    """``tw-make`` found no quest of the asked length for this seed (its QuestGenerationError)."""


MAX_SEED_RETRIES = 20


def ensure_game(spec: dict[str, Any], cache_dir: str | os.PathLike | None = None) -> Path:
    """Generate the game of ``spec`` with ``tw-make`` unless it is cached; return its ``.z8`` path."""
    path = game_path(spec, cache_dir)
    if path.is_file():
        if not path.with_suffix(".json").is_file():
            raise ValueError(
                f"TextWorld game {path} has no {path.with_suffix('.json').name} beside it (TextWorld needs "
                f"both); remove {path.parent} to generate the game again"
            )
        return path
    _textworld()
    challenge, horizon, seed = spec["challenge"], spec["horizon"], spec["game_seed"]
    _check_challenge(challenge)
    if challenge == "custom":
        args = ["custom", "--world-size", "5", "--nb-objects", "10", "--quest-length", str(horizon)]
    else:
        args = [challenge, "--level", str(horizon)]
    tw_make = Path(sys.executable).parent / "tw-make"
    if not tw_make.exists():
        tw_make = Path(shutil.which("tw-make") or "tw-make")
    # Another process may cache the same game meanwhile: its folder is kept (replace=False).
    with atomic_dir(path.parent, replace=False) as tmp:
        cmd = [str(tw_make), *args, "--seed", str(seed), "--output", str(tmp / "game.z8"), "--silent", "-f"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 and "QuestGenerationError" in done.stderr:
            raise QuestGenerationFailed(f"tw-make {challenge} horizon {horizon}: no quest for seed {seed}")
        if done.returncode != 0 or not (tmp / "game.z8").is_file():
            raise RuntimeError(f"tw-make failed for {spec}: {done.stderr.strip()[-500:]}")
    return path


def settle_spec(
    spec: dict[str, Any], challenge: str | None = None, cache_dir=None, retries: int = MAX_SEED_RETRIES
) -> dict[str, Any]:
    """``spec`` with a game that exists: when ``tw-make`` finds no quest for its seed, the next seeds are
    tried and the failed ones listed in ``failed_game_seeds`` (make_tasks calls this on each new task)."""
    failed: list[int] = list(spec.get("failed_game_seeds", []))
    current = dict(spec)
    for _ in range(retries + 1):
        try:
            ensure_game(current, cache_dir)
            return current
        except QuestGenerationFailed:
            failed.append(current["game_seed"])
            current = {
                **spec,
                "game_seed": (current["game_seed"] + 1) % 2**31,
                "failed_game_seeds": list(failed),
            }
    raise RuntimeError(
        f"tw-make found no quest for {spec['challenge']} horizon {spec['horizon']} with game seeds {failed}"
    )


def check_spec(spec: dict[str, Any], horizon: int) -> None:
    """A spec read from a file names a known challenge, its horizon and an integer game seed."""
    check_fields(spec, "spec", {"challenge": str, "horizon": int, "game_seed": int})
    _check_challenge(spec["challenge"])
    if spec["horizon"] != horizon:
        raise ValueError(f"spec.horizon={spec['horizon']} but the task's horizon is {horizon}")


TASK_OPTIONS: tuple[str, ...] = ("challenge", "cache_dir")  # keyword options make_tasks passes on


def check_horizon(horizon: int) -> None:
    if horizon > 30:
        raise ValueError(f"textworld supports horizons 1..30, got {horizon}")


def sample_spec(rng, horizon: int, challenge: str = "custom", cache_dir=None) -> dict[str, Any]:
    _check_challenge(challenge)
    return {"challenge": challenge, "horizon": horizon, "game_seed": rng.randrange(2**31)}


def describe(spec: dict[str, Any], challenge: str | None = None, cache_dir=None) -> tuple[str, str]:
    """``(challenge, objective)``: generates (or reuses) the game to read its objective."""
    textworld = _textworld()
    game = textworld.Game.load(str(ensure_game(spec, cache_dir).with_suffix(".json")))
    return spec["challenge"], " ".join(game.objective.split())


_STATUS_BAR = re.compile(r"-= [^=]* =-\s*\d+/\d+\s*$")


def _clean(text: str) -> str:
    """TextWorld's feedback without its status bar ("-= Room =-0/2"), prompt marker and layout whitespace."""
    return " ".join(_STATUS_BAR.sub("", text).replace(">", " ").split())


class TextWorldEnv:
    """A TextWorld game per task, played through ``textworld.start`` with admissible commands."""

    name = "textworld"

    def __init__(
        self, cache_dir: str | os.PathLike | None = None, base_steps: int = 10, steps_per_subtask: int = 6
    ) -> None:
        self.textworld = _textworld()
        self.cache_dir = cache_dir
        self.base_steps, self.steps_per_subtask = base_steps, steps_per_subtask
        self.infos = self.textworld.EnvInfos(
            admissible_commands=True,
            policy_commands=True,
            won=True,
            lost=True,
            description=True,
            score=True,
            max_score=True,
        )
        self._env = None
        self._path: Path | None = None
        self.task: Task | None = None
        self.max_steps = 0

    def reset(self, task: Task) -> Observation:
        if not isinstance(task, Task) or task.env != "textworld":
            raise ValueError(f"task must be a textworld Task, got {task!r:.120}")
        path = ensure_game(task.spec, self.cache_dir)
        if path != self._path:
            self.close()
            with warnings.catch_warnings():  # jericho: "not fully supported" for every tw-make game
                warnings.simplefilter("ignore")
                self._env, self._path = self.textworld.start(str(path), request_infos=self.infos), path
        self.task = task
        self.state = self._env.reset()
        self.walkthrough = max(1, len(self.state.policy_commands or []))
        self.steps, self.over = 0, False
        self.max_steps = self.base_steps + self.steps_per_subtask * task.horizon
        return Observation(
            _clean(self.state.description), list(self.state.admissible_commands), task.instruction
        )

    def _score(self) -> float:
        if self.state.won:
            return 1.0
        if self.state.lost:  # no walkthrough is left, so the fraction done would read 1: the game's own score
            return min(1.0, max(0.0, self.state.score / max(1, self.state.max_score)))
        remaining = len(self.state.policy_commands or [])
        return min(1.0, max(0.0, 1.0 - remaining / self.walkthrough))

    def step(self, action: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        check_action(action)
        if self.task is None or self.over:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset(task)")
        self.steps += 1
        admissible = list(self.state.admissible_commands)
        by_norm = {normalize_action(a): a for a in admissible}
        command = by_norm.get(normalize_action(action))
        if command is None:
            text = NOTHING_HAPPENS
        else:
            self.state, _, _ = self._env.step(command)
            text = _clean(self.state.feedback) or NOTHING_HAPPENS
        won, lost = bool(self.state.won), bool(self.state.lost)
        terminated = won or lost  # the game is over either way: a loss is not a truncation
        truncated = not terminated and self.steps >= self.max_steps
        self.over = terminated or truncated
        info = {
            "won": won,
            "score": self._score(),
            "valid": command is not None,
            "expert": None if self.over else self.expert(),
        }
        obs = Observation(text, list(self.state.admissible_commands), self.task.instruction)
        return obs, 1.0 if won else 0.0, terminated, truncated, info

    def expert(self) -> ExpertStep | None:
        if self.task is None or self.over or not self.state.policy_commands:
            return None
        plan = list(self.state.policy_commands)
        subgoal = next((c for c in plan if not c.startswith("go ")), plan[-1])
        return ExpertStep(plan[0], subgoal)

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
        self._env, self._path = None, None
