"""``alfworld``: an adapter over ALFWorld's own ``AlfredTWEnv`` (optional extra).

Two sources of games:

- the official ALFWorld game data when it is on disk: ``hiper-repro tasks --env alfworld --data-path DIR``
  lists the solvable games under DIR (a split folder of ``json_2.1.1``, e.g. ``$ALFWORLD_DATA/json_2.1.1/
  valid_unseen``); each task's spec names its game relative to DIR and DIR itself
  (``{"game": ..., "data_path": DIR}``), so training and evaluation find the games without further
  options; or
- ALFWorld-format problems written from our household generator: :func:`write_problem` turns a
  horizon-1 household task into ``initial_state.pddl`` + ``traj_data.json`` (ALFRED's task types and
  ``pddl_params``), which ``alfworld-generate`` compiles with the PDDL domain and grammar shipped in the
  alfworld wheel (``alfworld/data/alfred.pddl``, ``alfred.twl2``). ALFWorld's goals are one task of one
  type, so only horizon 1 maps onto it; chains stay in ``household``.

Without alfworld installed, :class:`AlfWorldEnv` raises an ImportError naming
``pip install 'hiper-repro[alfworld]'``; the PDDL writing needs nothing beyond the standard library.
ALFWorld's own handcoded expert (``extra.expert_plan``) is the expert; its subgoal is the expert's next
action with the leading verb kept ("take mug 1 from countertop 1"), since ALFWorld names no subgoals.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hiper_repro.envs import household
from hiper_repro.envs.protocol import (
    NOTHING_HAPPENS,
    ExpertStep,
    Observation,
    Task,
    check_action,
    check_fields,
    normalize_action,
)
from hiper_repro.io import write_atomic

INSTALL_HINT = "ALFWorld is not installed: pip install 'hiper-repro[alfworld]'"
ALFRED_TASK_TYPES = {
    "pick": "pick_and_place_simple",
    "clean": "pick_clean_then_place_in_recep",
    "heat": "pick_heat_then_place_in_recep",
    "cool": "pick_cool_then_place_in_recep",
    "look": "look_at_obj_in_light",
    "pick2": "pick_two_obj_and_place",
}
ALFRED_NAMES = {
    "apple": "Apple", "egg": "Egg", "potato": "Potato", "tomato": "Tomato", "bread": "Bread",
    "lettuce": "Lettuce", "bowl": "Bowl", "cup": "Cup", "mug": "Mug", "plate": "Plate", "pan": "Pan",
    "knife": "Knife", "spoon": "Spoon", "fork": "Fork", "book": "Book", "cd": "CD", "pen": "Pen",
    "pencil": "Pencil", "keychain": "KeyChain", "watch": "Watch", "vase": "Vase", "cellphone": "CellPhone",
    "creditcard": "CreditCard", "statue": "Statue", "cloth": "Cloth", "soapbar": "SoapBar",
    "desklamp": "DeskLamp", "countertop": "CounterTop", "cabinet": "Cabinet", "drawer": "Drawer",
    "shelf": "Shelf", "diningtable": "DiningTable", "desk": "Desk", "dresser": "Dresser",
    "garbagecan": "GarbageCan", "sofa": "Sofa", "bed": "Bed", "sinkbasin": "SinkBasin",
    "microwave": "Microwave", "fridge": "Fridge", "sidetable": "SideTable",
}  # fmt: skip

TASK_OPTIONS: tuple[str, ...] = ()  # keyword options make_tasks passes on


def check_horizon(horizon: int) -> None:
    if horizon != 1:
        raise ValueError(
            f"alfworld goals are single tasks: horizon must be 1, got {horizon} (chains: household)"
        )


def sample_spec(rng: random.Random, horizon: int) -> dict[str, Any]:
    """A household world of one subtask (the same generator, so the same task distribution)."""
    check_horizon(horizon)
    return household.sample_spec(rng, horizon)


def describe(spec: dict[str, Any]) -> tuple[str, str]:
    """(task type, instruction): an official game's from its ``traj_data.json`` (as `official_tasks`
    reads them), a generated world's from the household generator."""
    if "game" in spec:
        check_fields(spec, "spec", {"game": str, "data_path": str})
        return _official_description(Path(spec["data_path"]).expanduser() / spec["game"])
    return household.describe(spec)


def _official_description(game: Path) -> tuple[str, str]:
    """Task type (ours where ALFRED's maps to one) and the first annotator's task description of an
    official game; ValueError naming the file when its ``traj_data.json`` is missing or unreadable."""
    by_alfred = {v: k for k, v in ALFRED_TASK_TYPES.items()}
    traj = _read_json(game.parent / "traj_data.json")
    kind = by_alfred.get(traj.get("task_type"), str(traj.get("task_type", "alfworld")))
    anns = traj.get("turk_annotations", {}).get("anns") or [{}]
    return kind, str(anns[0].get("task_desc", ""))


def check_spec(spec: dict[str, Any], horizon: int) -> None:
    """An official game (``game`` and ``data_path``) or a generated horizon-1 household world."""
    check_horizon(horizon)
    if "game" in spec:
        check_fields(spec, "spec", {"game": str, "data_path": str})
        return
    household.check_spec(spec, horizon)


def _pddl_id(name: str, index: int) -> str:
    """An ALFRED-style object id ("Mug_bar__plus_01_dot_00_bar_...") from our "mug 1".

    ALFRED names a sink basin "Sink|x|y|z|SinkBasin"; ALFWorld's demangler turns that into "sinkbasin"
    (it appends "basin" to the head of any id containing "basin"), so ours follows that form.
    """
    kind, number = name.rsplit(" ", 1)
    head, tail = (ALFRED_NAMES[kind], "") if kind != "sinkbasin" else ("Sink", "_bar_SinkBasin")
    return f"{head}_bar__plus_{int(number):02d}_dot_00_bar__plus_{index:02d}_dot_00_bar__plus_00_dot_00{tail}"


def _goal(sub: dict[str, Any]) -> str:
    """PDDL goal of one subtask, over types as ALFWorld's goals are (any mug in any cabinet)."""
    otype = ALFRED_NAMES[sub["objects"][0].rsplit(" ", 1)[0]] + "Type"
    if sub["type"] == "look":
        return (
            "(and (exists (?ot - object ?r - receptacle ?a - agent ?l - location) (and (objectType ?ot DeskLampType) "
            "(toggleable ?ot) (isToggled ?ot) (receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?ot ?r))) "
            f"(exists (?o - object ?a - agent) (and (objectType ?o {otype}) (holds ?a ?o))))"
        )
    rtype = ALFRED_NAMES[sub["target"].rsplit(" ", 1)[0]] + "Type"
    state = {"clean": "(isClean ?o)", "heat": "(isHot ?o)", "cool": "(isCool ?o)"}.get(sub["type"], "")
    if sub["type"] == "pick2":
        return (
            f"(exists (?r - receptacle) (and (receptacleType ?r {rtype}) (exists (?o1 - object) (and "
            f"(objectType ?o1 {otype}) (inReceptacle ?o1 ?r) (exists (?o2 - object) (and (not (= ?o1 ?o2)) "
            f"(objectType ?o2 {otype}) (inReceptacle ?o2 ?r)))))))"
        )
    return (
        f"(exists (?r - receptacle) (exists (?o - object) (and (receptacleType ?r {rtype}) "
        f"(objectType ?o {otype}) (inReceptacle ?o ?r) {state})))"
    )


def problem_pddl(task: Task) -> str:
    """ALFWorld ``initial_state.pddl`` text for a horizon-1 household task."""
    spec = task.spec
    if len(spec["subtasks"]) != 1:
        raise ValueError(
            f"ALFWorld problems hold one subtask; task {task.task_id} has {len(spec['subtasks'])}"
        )
    sub = spec["subtasks"][0]
    recs = {r: _pddl_id(r, i + 50) for i, r in enumerate(spec["receptacles"])}
    objs = {o: _pddl_id(o, i) for i, o in enumerate(spec["objects"])}
    lamp = _pddl_id(household.LAMP, 99)
    locs = {r: f"loc_bar_{i + 1}_bar_0_bar_0_bar_0" for i, r in enumerate(spec["receptacles"])}
    start = "loc_bar_0_bar_0_bar_0_bar_0"
    kinds = sorted({k.rsplit(" ", 1)[0] for k in [*spec["objects"], household.LAMP]})
    rkinds = sorted({r.rsplit(" ", 1)[0] for r in spec["receptacles"]})
    lines = [
        "(define (problem plan_" + task.task_id.replace("-", "_") + ")",
        "(:domain alfred)",
        "(:objects",
        "agent1 - agent",
    ]
    lines += [f"{ALFRED_NAMES[k]}Type - otype" for k in kinds]
    lines += [f"{ALFRED_NAMES[k]}Type - rtype" for k in rkinds]
    lines += [f"{pid} - object" for pid in [*objs.values(), lamp]]
    lines += [f"{pid} - receptacle" for pid in recs.values()]
    lines += [f"{loc} - location" for loc in [start, *locs.values()]]
    lines += [")", "(:init", f"(atLocation agent1 {start})"]
    for r, pid in recs.items():
        lines.append(f"(receptacleType {pid} {ALFRED_NAMES[r.rsplit(' ', 1)[0]]}Type)")
        lines.append(f"(receptacleAtLocation {pid} {locs[r]})")
        if household._openable(r):
            lines.append(f"(openable {pid})")
            if r not in spec["closed"]:
                lines.append(f"(opened {pid})")
        for k in kinds:
            lines.append(f"(canContain {ALFRED_NAMES[r.rsplit(' ', 1)[0]]}Type {ALFRED_NAMES[k]}Type)")
    placed = {**spec["objects"], household.LAMP: household.LAMP_PLACE}
    pids = {**objs, household.LAMP: lamp}
    for o, pid in pids.items():
        kind = o.rsplit(" ", 1)[0]
        lines += [f"(objectType {pid} {ALFRED_NAMES[kind]}Type)", f"(inReceptacle {pid} {recs[placed[o]]})"]
        lines.append(f"(objectAtLocation {pid} {locs[placed[o]]})")
        if o == household.LAMP:
            lines.append(f"(toggleable {pid})")
            continue
        lines.append(f"(pickupable {pid})")
        for task_kind, word in (("clean", "cleanable"), ("heat", "heatable"), ("cool", "coolable")):
            if kind in household.COMPATIBLE[task_kind]:
                lines.append(f"({word} {pid})")
    lines += [")", f"(:goal {_goal(sub)})", ")"]
    return "\n".join(lines) + "\n"


def traj_data(task: Task) -> dict[str, Any]:
    """The small ``traj_data.json`` ALFWorld's generator reads: task type and ``pddl_params``."""
    sub = task.spec["subtasks"][0]
    return {
        "task_type": ALFRED_TASK_TYPES[sub["type"]],
        "task_id": task.task_id,
        "pddl_params": {
            "object_target": ALFRED_NAMES[sub["objects"][0].rsplit(" ", 1)[0]],
            "parent_target": "" if sub["target"] is None else ALFRED_NAMES[sub["target"].rsplit(" ", 1)[0]],
            "toggle_target": "DeskLamp" if sub["type"] == "look" else "",
            "mrecep_target": "",
            "object_sliced": False,
        },
        "turk_annotations": {"anns": [{"task_desc": task.instruction, "high_descs": []}]},
    }


def write_problem(task: Task, folder: str | os.PathLike) -> Path:
    """Write ``<folder>/<task_type>/<task_id>/{initial_state.pddl,traj_data.json}``; return that folder."""
    out = Path(folder) / ALFRED_TASK_TYPES[task.spec["subtasks"][0]["type"]] / task.task_id
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "initial_state.pddl", problem_pddl(task))
    write_atomic(out / "traj_data.json", json.dumps(traj_data(task), indent=1))
    return out


def _alfworld() -> SimpleNamespace:
    """ALFWorld's pieces, imported lazily with a clear message when the extra is missing."""
    try:
        import alfworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredExpert, AlfredInfos
        from alfworld.agents.utils.misc import add_task_to_grammar
        from textworld import EnvInfos
        from textworld.envs import PddlEnv
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    data = Path(alfworld.__file__).parent / "data"
    return SimpleNamespace(
        domain=data / "alfred.pddl",
        grammar=data / "alfred.twl2",
        add_task_to_grammar=add_task_to_grammar,
        make=lambda: AlfredExpert(
            AlfredInfos(
                AlfredDemangler(PddlEnv(EnvInfos(admissible_commands=True, won=True, extras=["gamefile"])))
            ),
            expert_type="handcoded",
        ),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"ALFWorld game data {path}: unreadable ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"ALFWorld game data {path}: expected a JSON object")
    return data


def official_tasks(data_path: str | os.PathLike, split: str = "eval", n: int | None = None) -> list[Task]:
    """Tasks for the solvable official games under ``data_path`` (e.g. ``.../json_2.1.1/valid_unseen``).

    ``spec = {"game": <path relative to data_path>, "data_path": <data_path, absolute>}``; games are listed
    in sorted path order, as ALFWorld's ``AlfredTWEnv.collect_game_files`` would find them (movable and
    sliced tasks skipped); the instruction is the first annotator's task description.
    """
    root = Path(data_path).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"ALFWorld data_path {str(root)!r} is not a folder")
    tasks: list[Task] = []
    for game in sorted(root.rglob("game.tw-pddl")):
        if "movable" in str(game) or "Sliced" in str(game):
            continue
        if not _read_json(game).get("solvable"):
            continue
        kind, instruction = _official_description(game)
        tid = f"alfworld-official-{split}-{len(tasks):05d}"
        spec = {"game": str(game.relative_to(root)), "data_path": str(root)}
        tasks.append(Task(tid, "alfworld", 1, split, kind, instruction, spec))
        if n is not None and len(tasks) == n:
            break
    if not tasks:
        raise ValueError(f"ALFWorld data_path {str(root)!r}: no solvable game.tw-pddl below it")
    return tasks


class AlfWorldEnv:
    """One ALFWorld game per task, played with ALFWorld's own wrappers and handcoded expert.

    These are the wrappers ``AlfredTWEnv.init_env`` registers (AlfredDemangler, AlfredInfos,
    AlfredExpert over TextWorld's PddlEnv), used synchronously for one game instead of through
    ``textworld.gym``'s batched subprocesses. Games of generated problems are compiled as
    ``alfworld-generate`` does (domain + task-filled grammar + problem, solved once by the expert to
    record ``solvable`` and the walkthrough) under ``work_dir``; official games are read from
    ``data_path``. The instruction is ALFWorld's own goal text ("Your task is to: ...").

    Step limit ``base_steps + steps_per_subtask`` = 80 by default: the paper's 50 turns
    (``base_steps=0``) cut ALFWorld's handcoded expert short on some pick2 games (58 steps seen).
    """

    name = "alfworld"

    def __init__(
        self,
        data_path: str | os.PathLike | None = None,
        work_dir: str | os.PathLike | None = None,
        base_steps: int = 30,
        steps_per_subtask: int = 50,
    ) -> None:
        self.alf = _alfworld()
        self.data_path = Path(data_path).expanduser() if data_path else None
        self.work_dir = Path(work_dir or "~/.cache/hiper_repro/alfworld").expanduser()
        self.base_steps, self.steps_per_subtask = base_steps, steps_per_subtask
        self.task: Task | None = None
        self.max_steps = 0
        self._env = None

    def game_file(self, task: Task) -> Path:
        """The ``game.tw-pddl`` of ``task``: official (``spec["game"]``) or compiled from our problem."""
        if "game" in task.spec:
            root = self.data_path or Path(task.spec["data_path"]).expanduser()
            game = root / task.spec["game"]
            if not game.is_file():
                raise FileNotFoundError(
                    f"task {task.task_id}: ALFWorld game {game} does not exist (is the game data at {root}?)"
                )
            return game
        folder = write_problem(task, self.work_dir)
        game = folder / "game.tw-pddl"
        if game.is_file() and json.loads(game.read_text()).get("solvable"):
            return game
        traj = traj_data(task)
        state = random.getstate()  # ALFWorld picks the goal template with the global random module
        random.seed(task.task_id)
        try:
            grammar = self.alf.add_task_to_grammar(self.alf.grammar.read_text(), traj)
        finally:
            random.setstate(state)
        data = {"pddl_domain": self.alf.domain.read_text(), "grammar": grammar,
                "pddl_problem": problem_pddl(task), "solvable": None, "walkthrough": None}  # fmt: skip
        write_atomic(game, json.dumps(data))
        walkthrough = self._solve(game)
        if walkthrough is None:
            raise RuntimeError(
                f"ALFWorld's expert cannot solve the problem written for {task.task_id} ({game})"
            )
        data.update(solvable=True, walkthrough=walkthrough)
        write_atomic(game, json.dumps(data))
        return game

    def _solve(self, game: Path, limit: int = 100) -> list[str] | None:
        env = self.alf.make()
        try:
            env.load(str(game))
            state, done, plan = env.reset(), False, []
            while not done and len(plan) < limit:
                command = state["extra.expert_plan"][0]
                state, _, done = env.step(command)
                plan.append(command)
            return plan if state["won"] else None
        except Exception:  # ALFWorld's expert raises on timeouts and unreachable goals
            return None
        finally:
            env.close()

    def reset(self, task: Task) -> Observation:
        if not isinstance(task, Task) or task.env != "alfworld":
            raise ValueError(f"task must be an alfworld Task, got {task!r:.120}")
        game = self.game_file(task)
        self.close()
        self._env = self.alf.make()
        self._env.load(str(game))
        self.state = self._env.reset()
        text = " ".join(self.state["feedback"].split())
        head, _, goal = text.partition("Your task is to:")
        self.instruction = f"Your task is to: {goal.strip()}" if goal else task.instruction
        self.task = task
        self.steps, self.over = 0, False
        self.max_steps = self.base_steps + self.steps_per_subtask * task.horizon
        return Observation(head.strip() or text, list(self.state["admissible_commands"]), self.instruction)

    def step(self, action: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        check_action(action)
        if self.task is None or self.over:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset(task)")
        self.steps += 1
        by_norm = {normalize_action(a): a for a in self.state["admissible_commands"]}
        command = by_norm.get(normalize_action(action))
        if command is None:
            text = NOTHING_HAPPENS
        else:
            self.state, _, _ = self._env.step(command)
            text = " ".join(self.state["feedback"].split()) or NOTHING_HAPPENS
        won = bool(self.state["won"])
        truncated = not won and self.steps >= self.max_steps
        self.over = won or truncated
        info = {"won": won, "score": 1.0 if won else 0.0, "valid": command is not None,
                "expert": None if self.over else self.expert()}  # fmt: skip
        obs = Observation(text, list(self.state["admissible_commands"]), self.instruction)
        return obs, 1.0 if won else 0.0, won, truncated, info

    def expert(self) -> ExpertStep | None:
        """ALFWorld's handcoded expert; its subgoal is its next action (ALFWorld names no subgoals)."""
        if self.task is None or self.over:
            return None
        plan = self.state.get("extra.expert_plan") or []
        return ExpertStep(plan[0], plan[0]) if plan else None

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
        self._env = None
