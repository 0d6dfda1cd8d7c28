"""Deterministic task sets, split into disjoint train and eval sets, stored as JSONL.

``make_tasks(env, horizon, split, n, seed)`` draws candidate worlds from one stream per
``(env, horizon, seed)``: candidate ``i`` comes from ``random.Random(f"{env}|{horizon}|{seed}|{i}")``
(string seeding hashes with SHA-512, so the stream is the same on every platform and Python run).
A candidate belongs to the eval split when the SHA-256 of its canonical JSON spec is 0 modulo
``EVAL_MODULUS`` and to the train split otherwise, so

- the splits are disjoint by construction (a world is in exactly one of them),
- each split is a prefix-stable sequence: ``n=10`` gives the first 10 tasks of ``n=100``,
- neither depends on a training seed: the pipeline writes each split once
  (``results/{preset}/tasks/{env}/h{horizon}/{split}.jsonl``) and every method and seed reads that file.

Duplicate specs inside a split are dropped. Each env module provides ``sample_spec(rng, horizon,
**options) -> dict`` (cheap), ``describe(spec, **options) -> (task_type, instruction)``,
``check_spec(spec, horizon)`` (a spec read from a file is whole), the names of the options it takes
(``TASK_OPTIONS``), and optionally ``check_horizon(horizon)`` and ``settle_spec(spec, **options) -> spec``
(called once a candidate is accepted: TextWorld moves to the next game seed where ``tw-make`` finds no
quest, recording it).

``load_tasks`` checks every row (fields, types, the env's spec) and rejects duplicate task ids;
``check_tasks`` checks a loaded split against what a run expects (env, horizon, split).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from hiper_repro.envs.protocol import ENV_NAMES, SPLITS, Task
from hiper_repro.io import write_atomic

EVAL_MODULUS = 4  # about a quarter of all worlds are eval worlds
_MODULES = {
    "household": "hiper_repro.envs.household",
    "shop": "hiper_repro.envs.shop",
    "textworld": "hiper_repro.envs.textworld_env",
    "alfworld": "hiper_repro.envs.alfworld_env",
}


def env_module(env: str) -> ModuleType:
    """The module implementing environment ``env`` (imported lazily)."""
    if env not in _MODULES:
        raise ValueError(f"env must be one of {list(ENV_NAMES)}, got {env!r}")
    return importlib.import_module(_MODULES[env])


def spec_key(spec: dict) -> str:
    """SHA-256 of the canonical JSON of a spec: the identity of a world."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def split_of(spec: dict) -> str:
    """The split a world belongs to: ``"eval"`` when its key is 0 modulo EVAL_MODULUS."""
    return "eval" if int(spec_key(spec), 16) % EVAL_MODULUS == 0 else "train"


def make_tasks(env: str, horizon: int, split: str, n: int, seed: int = 0, **options) -> list[Task]:
    """The first ``n`` tasks of ``split`` for ``(env, horizon, seed)``; see the module docstring."""
    module = env_module(env)
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        raise ValueError(f"horizon must be an int >= 1, got {horizon!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    unknown = sorted(set(options) - set(getattr(module, "TASK_OPTIONS", ())))
    if unknown:
        allowed = list(getattr(module, "TASK_OPTIONS", ()))
        raise ValueError(f"env {env!r} takes task options {allowed}, got unknown {unknown}")
    check = getattr(module, "check_horizon", None)
    if check is not None:
        check(horizon)
    tasks: list[Task] = []
    seen: set[str] = set()
    max_candidates = 200 * n + 1000  # a world space this small is a bug in the generator, not bad luck
    for i in range(max_candidates):
        if len(tasks) == n:
            break
        spec = module.sample_spec(random.Random(f"{env}|{horizon}|{seed}|{i}"), horizon, **options)
        key = spec_key(spec)
        if key in seen or split_of(spec) != split:
            continue
        seen.add(key)
        settle = getattr(module, "settle_spec", None)
        if settle is not None:
            spec = settle(spec, **options)
        task_type, instruction = module.describe(spec, **options)
        tid = f"{env}-h{horizon}-{split}-s{seed}-{len(tasks):05d}"
        tasks.append(Task(tid, env, horizon, split, task_type, instruction, spec))
    if len(tasks) < n:
        raise ValueError(
            f"only {len(tasks)} distinct {split} worlds for env={env!r} horizon={horizon} "
            f"after {max_candidates} candidates; asked for n={n}"
        )
    return tasks


def save_tasks(path: str | os.PathLike, tasks: Iterable[Task]) -> None:
    """Write tasks as JSONL (one task per line), atomically."""
    lines = []
    for task in tasks:
        if not isinstance(task, Task):
            raise ValueError(f"tasks must hold Task objects, got {type(task).__name__}")
        lines.append(json.dumps(task.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
    write_atomic(path, "".join(lines))


def load_tasks(path: str | os.PathLike) -> list[Task]:
    """Read a JSONL split written by :func:`save_tasks`; ValueError naming the file, line and field of the
    first row that is not a whole task (fields, types, the env's spec) or repeats a task id."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"task file {str(path)!r} does not exist")
    tasks: list[Task] = []
    first_line: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (some editors write one) is skipped
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
        try:
            task = Task.from_dict(row)
            env_module(task.env).check_spec(task.spec, task.horizon)
        except ValueError as err:
            raise ValueError(f"{path}:{lineno}: {err}") from None
        if task.task_id in first_line:
            raise ValueError(
                f"{path}:{lineno}: task id {task.task_id!r} repeats line {first_line[task.task_id]}"
            )
        first_line[task.task_id] = lineno
        tasks.append(task)
    return tasks


def check_tasks(tasks: list[Task], env: str, horizon: int, split: str, source: str) -> None:
    """Every task of ``source`` (a file name, or a description) is of ``env``, ``horizon`` and ``split``.

    A run labels its traces with one env and horizon and keeps eval tasks out of training: a task file
    that disagrees would train on one thing under another's name.
    """
    for field, want in (("env", env), ("horizon", horizon), ("split", split)):
        wrong = [t for t in tasks if getattr(t, field) != want]
        if wrong:
            seen = sorted({getattr(t, field) for t in wrong}, key=str)
            raise ValueError(
                f"{source}: {len(wrong)} of {len(tasks)} tasks have {field} {seen}, the run expects "
                f"{field}={want!r} (first: {wrong[0].task_id})"
            )
    ids: set[str] = set()
    for task in tasks:
        if task.task_id in ids:
            raise ValueError(f"{source}: task id {task.task_id!r} appears twice")
        ids.add(task.task_id)


def task_horizon(tasks: list[Task]) -> int:
    """The one horizon of ``tasks`` (what a run's traces are labelled with); ValueError if they mix."""
    horizons = sorted({t.horizon for t in tasks})
    if len(horizons) != 1:
        raise ValueError(f"tasks of one run must share a horizon, got {horizons}")
    return horizons[0]


def check_disjoint(train: list[Task], evals: list[Task], source: str) -> None:
    """No evaluation task (same id or same world) is among the training tasks."""
    eval_ids = {t.task_id for t in evals}
    eval_worlds = {spec_key(t.spec) for t in evals}
    leaked = [t.task_id for t in train if t.task_id in eval_ids or spec_key(t.spec) in eval_worlds]
    if leaked:
        raise ValueError(
            f"{source}: {len(leaked)} training task(s) are evaluation tasks too (first: {leaked[0]})"
        )
