"""``household``: a procedural ALFWorld-like world with chains of K dependent subtasks.

World. One room of 8 receptacles in sorted order: the tools ``sinkbasin 1``, ``microwave 1``,
``fridge 1``, the ``sidetable 1`` that carries ``desklamp 1``, and four of countertop, cabinet, drawer,
shelf, diningtable, desk, dresser, garbagecan, sofa, bed (at least one that cannot be closed).
Cabinets and drawers open and close (each starts closed with probability 1/2); objects lie on or in
the non-tool receptacles; the agent holds at most one object.

Tasks. ALFWorld's six types, each a subtask:

    pick   "put mug 1 from countertop 1 in cabinet 2"
    clean  "clean mug 1 from countertop 1 and put it in cabinet 2"     (sinkbasin 1)
    heat   "heat apple 1 from shelf 1 and put it in diningtable 1"     (microwave 1)
    cool   "cool apple 1 from shelf 1 and put it in diningtable 1"     (fridge 1)
    look   "examine book 1 from shelf 1 under desklamp 1"              (hold it, ``use desklamp 1``)
    pick2  "put cd 1 from shelf 1 and cd 2 from desk 1 in drawer 1"

A task chains K of them with ", then "; they must be done in order (a subtask counts only when it
is the current one). Dependency: with probability 1/2 a pick/clean/heat/cool subtask reuses the object
the previous such subtask placed, taking it from that subtask's target. ``task_type`` is the type of the
first subtask; the first subtask's type recurs in each later one with probability 1/2 (the rest are
uniform), so grouping by ``task_type`` groups tasks dominated by that type. The horizon is K.

Observability (what the agent's prompt shows is enough for the expert's next action): the
instruction names where each subtask's objects are when that subtask starts; every observation ends
with a status line "At <receptacle>. Holding <state> <object>. Done d of K." and, for each object of the
current subtask that is not held and not where the instruction says, "<object> is in <receptacle>.".
The expert reads only that information (its location, hand, done count, the current subtask, those
object locations and whether the receptacle it stands at is open), so demonstrations are imitable.

Reward 1.0 when the last subtask is done (then ``terminated``); ``score`` = done / K; step limit
``max_steps = base_steps + steps_per_subtask * K`` (defaults 4 + 10 K; the expert needs at most 8 per
subtask, 4-6 typically). Commands and answers follow ALFWorld's phrasing.
"""

from __future__ import annotations

import re
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

TYPES: tuple[str, ...] = ("pick", "clean", "heat", "cool", "look", "pick2")
PLACE_TYPES = ("pick", "clean", "heat", "cool")  # subtasks that end by moving one object to a target
TOOLS = {"clean": "sinkbasin 1", "heat": "microwave 1", "cool": "fridge 1"}
STATE_WORD = {"clean": "clean", "heat": "hot", "cool": "cold"}
LAMP, LAMP_PLACE = "desklamp 1", "sidetable 1"
FIXED = (*TOOLS.values(), LAMP_PLACE)
OPTIONAL = (
    "countertop 1", "countertop 2", "cabinet 1", "cabinet 2", "cabinet 3", "drawer 1", "drawer 2",
    "shelf 1", "shelf 2", "diningtable 1", "desk 1", "dresser 1", "garbagecan 1", "sofa 1", "bed 1",
)  # fmt: skip
OPENABLE_KINDS = ("cabinet", "drawer")
N_OPTIONAL = 4
N_DISTRACTORS = 2
MAX_INSTANCES = 3

_FOOD = ("apple", "egg", "potato", "tomato", "bread", "lettuce")
_DISH = ("bowl", "cup", "mug", "plate", "pan")
_UTENSIL = ("knife", "spoon", "fork")
_SMALL = ("book", "cd", "pen", "pencil", "keychain", "watch", "vase", "cellphone", "creditcard", "statue")
OBJECTS: tuple[str, ...] = tuple(sorted({*_FOOD, *_DISH, *_UTENSIL, *_SMALL, "cloth", "soapbar"}))
COMPATIBLE: dict[str, tuple[str, ...]] = {
    "pick": OBJECTS,
    "clean": (*_DISH, *_UTENSIL, "apple", "potato", "tomato", "lettuce", "cloth", "soapbar"),
    "heat": (*_FOOD, "cup", "mug", "plate", "bowl"),
    "cool": (*_FOOD, "cup", "mug", "plate", "bowl", "pan"),
    "look": _SMALL,
    "pick2": (*_SMALL, *_DISH, *_FOOD),
}


def _kind(receptacle: str) -> str:
    return receptacle.rsplit(" ", 1)[0]


_OPENABLE = frozenset(r for r in (*FIXED, *OPTIONAL) if _kind(r) in OPENABLE_KINDS)
_TOOL_SET = frozenset(TOOLS.values())
_TOOL_OF = {tool: kind for kind, tool in TOOLS.items()}


def _openable(receptacle: str) -> bool:
    return receptacle in _OPENABLE


def _holds_objects(receptacle: str) -> bool:
    return receptacle not in _TOOL_SET


TASK_OPTIONS: tuple[str, ...] = ()  # keyword options make_tasks passes on


def check_horizon(horizon: int) -> None:
    if horizon > 12:
        raise ValueError(f"household supports horizons 1..12 (instructions get too long), got {horizon}")


# ---------------------------------------------------------------- task generation


def sample_spec(rng, horizon: int) -> dict[str, Any]:
    """Draw one world: receptacles, initially closed ones, object locations and K subtasks.

    ``rng`` is a ``random.Random``; the result is plain JSON (lists, strings) in a canonical order.
    """
    optional = rng.sample(OPTIONAL, N_OPTIONAL)
    if all(_openable(r) for r in optional):  # the expert needs a surface to put things down on
        optional[0] = rng.choice([r for r in OPTIONAL if not _openable(r) and r not in optional])
    receptacles = sorted([*FIXED, *optional])
    holders = [r for r in receptacles if _holds_objects(r)]
    closed = sorted(r for r in receptacles if _openable(r) and rng.random() < 0.5)
    objects: dict[str, str] = {}

    def fresh(names: tuple[str, ...], count: int, exclude: tuple[str, ...] = ()) -> list[str] | None:
        for name in rng.sample(names, len(names)):
            free = [f"{name} {i}" for i in range(1, MAX_INSTANCES + 1) if f"{name} {i}" not in objects]
            if len(free) >= count:
                chosen = sorted(rng.sample(free, count))
                for obj in chosen:
                    objects[obj] = rng.choice([r for r in holders if r not in exclude])
                return chosen
        return None

    main = rng.choice(TYPES)
    subtasks: list[dict[str, Any]] = []
    for k in range(horizon):
        kind = main if k == 0 or rng.random() < 0.5 else rng.choice(TYPES)
        prev = subtasks[-1] if subtasks else None
        reuse = (
            prev is not None
            and kind in PLACE_TYPES
            and prev["type"] in PLACE_TYPES
            and _kind(prev["objects"][0]) in COMPATIBLE[kind]
            and rng.random() < 0.5
        )
        if reuse:
            objs, srcs = list(prev["objects"]), [prev["target"]]
        else:
            objs = fresh(
                COMPATIBLE[kind], 2 if kind == "pick2" else 1, (LAMP_PLACE,) if kind == "look" else ()
            )
            if objs is None:  # every compatible name used up: fall back to a plain pick
                kind, objs = "pick", fresh(OBJECTS, 1)
            srcs = [objects[o] for o in objs]
        target = None if kind == "look" else rng.choice([r for r in holders if r not in srcs])
        subtasks.append({"type": kind, "objects": objs, "src": srcs, "target": target})
    fresh(OBJECTS, 1)  # distractors
    fresh(OBJECTS, 1)
    return {
        "receptacles": receptacles,
        "closed": closed,
        "objects": dict(sorted(objects.items())),
        "subtasks": subtasks,
    }


def check_spec(spec: dict[str, Any], horizon: int) -> None:
    """A spec read from a file names only known receptacles and objects, and ``horizon`` subtasks that
    refer to them; ValueError naming the field otherwise (the world would break mid-episode)."""
    check_fields(spec, "spec", {"receptacles": list, "closed": list, "objects": dict, "subtasks": list})
    known = {*FIXED, *OPTIONAL}
    receptacles = spec["receptacles"]
    unknown = [r for r in receptacles if r not in known]
    if unknown:
        raise ValueError(f"spec.receptacles: unknown receptacle(s) {unknown}; known: {sorted(known)}")
    missing = [r for r in FIXED if r not in receptacles]
    if missing:
        raise ValueError(f"spec.receptacles lacks the tool receptacle(s) {missing}")
    bad = [r for r in spec["closed"] if r not in receptacles or not _openable(r)]
    if bad:
        raise ValueError(f"spec.closed: {bad} are not openable receptacles of this world")
    for obj, where in spec["objects"].items():
        kind, _, number = obj.rpartition(" ")
        if kind not in OBJECTS or not number.isdigit():
            raise ValueError(
                f"spec.objects: unknown object {obj!r}; objects are '<name> <n>', names {OBJECTS}"
            )
        if where not in receptacles or not _holds_objects(where):
            raise ValueError(
                f"spec.objects[{obj!r}]={where!r}: not a receptacle of this world that holds objects"
            )
    subtasks = spec["subtasks"]
    if len(subtasks) != horizon:
        raise ValueError(f"spec.subtasks holds {len(subtasks)} subtasks but the task's horizon is {horizon}")
    fields = {"type": str, "objects": list, "src": list, "target": (str, type(None))}
    for k, sub in enumerate(subtasks):
        where = f"spec.subtasks[{k}]"
        check_fields(sub, where, fields)
        if sub["type"] not in TYPES:
            raise ValueError(f"{where}.type={sub['type']!r}: expected one of {TYPES}")
        if len(sub["objects"]) != (2 if sub["type"] == "pick2" else 1) or len(sub["src"]) != len(
            sub["objects"]
        ):
            raise ValueError(
                f"{where}: a {sub['type']} subtask needs as many objects as sources, 2 for pick2"
            )
        if any(o not in spec["objects"] for o in sub["objects"]):
            raise ValueError(f"{where}.objects={sub['objects']}: not all are objects of this world")
        if any(r not in receptacles for r in sub["src"]):
            raise ValueError(f"{where}.src={sub['src']}: not all are receptacles of this world")
        if (sub["target"] is None) != (sub["type"] == "look") or (
            sub["target"] is not None and sub["target"] not in receptacles
        ):
            raise ValueError(f"{where}.target={sub['target']!r}: a receptacle of this world (null for look)")


def subtask_text(sub: dict[str, Any]) -> str:
    """The instruction clause of one subtask (ALFWorld phrasing, lower case)."""
    kind, objs, srcs, target = sub["type"], sub["objects"], sub["src"], sub["target"]
    if kind == "pick":
        return f"put {objs[0]} from {srcs[0]} in {target}"
    if kind in TOOLS:
        return f"{kind} {objs[0]} from {srcs[0]} and put it in {target}"
    if kind == "look":
        return f"examine {objs[0]} from {srcs[0]} under {LAMP}"
    return f"put {objs[0]} from {srcs[0]} and {objs[1]} from {srcs[1]} in {target}"


def describe(spec: dict[str, Any]) -> tuple[str, str]:
    """``(task_type, instruction)`` of a spec: the first subtask's type and the chained clauses."""
    subs = spec["subtasks"]
    return subs[0]["type"], ", then ".join(subtask_text(s) for s in subs) + "."


# ---------------------------------------------------------------- vocabulary

_WORD = re.compile(r"\w+|[^\w\s]")
_TEMPLATE_WORDS = (
    "You are in the middle of a room . You arrive at It is closed On it , you see nothing In "
    "open close take from move to with use pick up turn on Holding At Done of is then and put in "
    "examine under find go clean heat cool hot cold down"
)


def words(text: str) -> list[str]:
    """Split text into the word-level tokens :func:`vocabulary` lists (``\\w+`` runs and punctuation)."""
    return _WORD.findall(text)


def vocabulary(max_number: int = 20) -> list[str]:
    """Every token household text can contain (observations, actions, instructions, subgoals), sorted."""
    vocab = set(words(_TEMPLATE_WORDS + " " + NOTHING_HAPPENS))
    vocab |= set(OBJECTS) | {_kind(r) for r in (*FIXED, *OPTIONAL, LAMP)}
    vocab |= {str(i) for i in range(max_number + 1)}
    return sorted(vocab)


# ---------------------------------------------------------------- environment


class HouseholdEnv:
    """One household episode at a time; see the module docstring for the world and its rules."""

    name = "household"

    def __init__(self, base_steps: int = 4, steps_per_subtask: int = 10) -> None:
        if base_steps < 0 or steps_per_subtask < 1:
            raise ValueError(
                f"need base_steps >= 0 and steps_per_subtask >= 1, got {base_steps} and {steps_per_subtask}"
            )
        self.base_steps, self.steps_per_subtask = base_steps, steps_per_subtask
        self.task: Task | None = None
        self.max_steps = 0

    # -- episode state

    def reset(self, task: Task) -> Observation:
        if not isinstance(task, Task) or task.env not in ("household", "alfworld"):
            raise ValueError(f"task must be a household Task, got {task!r:.120}")
        spec = task.spec
        self.task = task
        self.receptacles: list[str] = list(spec["receptacles"])
        self.closed: set[str] = set(spec["closed"])
        self.loc_of: dict[str, str] = dict(spec["objects"])  # object -> receptacle, or "hand"
        self.states: dict[str, set[str]] = {o: set() for o in self.loc_of}
        self.subtasks: list[dict[str, Any]] = spec["subtasks"]
        self.at: str | None = None
        self.holding: str | None = None
        self.done = 0
        self.steps = 0
        self.over = False
        self.max_steps = self.base_steps + self.steps_per_subtask * len(self.subtasks)
        # "go to" lists per standing place, built once per task (the hot path of a step)
        self._go_to = {
            r: [f"go to {x}" for x in self.receptacles if x != r] for r in [None, *self.receptacles]
        }
        return self._observe("You are in the middle of a room.")

    def _contents(self, receptacle: str) -> list[str]:
        return sorted(o for o, r in self.loc_of.items() if r == receptacle)

    def _accessible(self, receptacle: str) -> bool:
        return _holds_objects(receptacle) and receptacle not in self.closed

    def _status(self) -> str:
        parts = [f"At {self.at}."] if self.at else []
        if self.holding:
            adjectives = [STATE_WORD[k] for k in TOOLS if STATE_WORD[k] in self.states[self.holding]]
            parts.append(f"Holding {' '.join([*adjectives, self.holding])}.")
        else:
            parts.append("Holding nothing.")
        parts.append(f"Done {self.done} of {len(self.subtasks)}.")
        if self.done < len(self.subtasks):
            sub = self.subtasks[self.done]
            for obj, src in zip(sub["objects"], sub["src"]):
                where = self.loc_of[obj]
                if where not in ("hand", src):
                    parts.append(f"{obj} is in {where}.")
        return " ".join(parts)

    def admissible(self) -> list[str]:
        """Actions possible where the agent stands, then ``go to`` every other receptacle."""
        acts: list[str] = []
        r, h = self.at, self.holding
        if r is not None:
            if _openable(r):
                acts.append(f"close {r}" if r not in self.closed else f"open {r}")
            if self._accessible(r):
                if h is None:
                    acts += [f"take {o} from {r}" for o in self._contents(r)]
                else:
                    acts.append(f"move {h} to {r}")
            if r in _TOOL_OF and h is not None:
                acts.append(f"{_TOOL_OF[r]} {h} with {r}")
            if r == LAMP_PLACE:
                acts.append(f"use {LAMP}")
        return acts + self._go_to[r]

    def _observe(self, text: str) -> Observation:
        self._admissible = self.admissible()
        return Observation(f"{text} {self._status()}", list(self._admissible), self.task.instruction)

    # -- dynamics

    def step(self, action: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        check_action(action)
        if self.task is None or self.over:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset(task)")
        self.steps += 1
        act = normalize_action(action)
        valid = act in self._admissible  # the list shown with the last observation
        text = self._apply(act) if valid else NOTHING_HAPPENS
        won = self.done == len(self.subtasks)
        truncated = not won and self.steps >= self.max_steps
        self.over = won or truncated
        obs = self._observe(text)
        info = {
            "won": won,
            "score": self.done / len(self.subtasks),
            "valid": valid,
            "expert": None if self.over else self.expert(),
        }
        return obs, 1.0 if won else 0.0, won, truncated, info

    def _apply(self, act: str) -> str:
        """Carry out an admissible action and return the env's answer (without the status line)."""
        verb, _, rest = act.partition(" ")
        if verb == "go":
            r = rest[len("to ") :]
            self.at = r
            text = f"You arrive at {r}."
            if r in self.closed:
                return f"{text} It is closed."
            if not _holds_objects(r):
                return text
            seen = ([LAMP] if r == LAMP_PLACE else []) + self._contents(r)
            where = "In" if _openable(r) else "On"
            return f"{text} {where} it, you see {', '.join(seen) or 'nothing'}."
        if verb == "open":
            self.closed.discard(rest)
            return f"You open {rest}. In it, you see {', '.join(self._contents(rest)) or 'nothing'}."
        if verb == "close":
            self.closed.add(rest)
            return f"You close {rest}."
        if verb == "take":
            obj = rest.split(" from ")[0]
            self.loc_of[obj], self.holding = "hand", obj
            return f"You pick up {obj} from {self.at}."
        if verb == "move":
            obj = self.holding
            self.loc_of[obj], self.holding = self.at, None
            self._progress_on_move(obj)
            return f"You move {obj} to {self.at}."
        if verb in TOOLS:
            obj = self.holding
            self.states[obj].add(STATE_WORD[verb])
            if verb == "heat":
                self.states[obj].discard("cold")
            elif verb == "cool":
                self.states[obj].discard("hot")
            return f"You {verb} {obj} with {self.at}."
        if verb == "use":
            sub = self.subtasks[self.done] if self.done < len(self.subtasks) else None
            if sub is not None and sub["type"] == "look" and self.holding == sub["objects"][0]:
                self.done += 1
            return f"You turn on {LAMP}."
        raise AssertionError(f"admissible action without a handler: {act!r}")

    def _progress_on_move(self, obj: str) -> None:
        if self.done == len(self.subtasks):
            return
        sub = self.subtasks[self.done]
        kind, target = sub["type"], sub["target"]
        if obj not in sub["objects"] or self.at != target:
            return
        if kind in TOOLS and STATE_WORD[kind] not in self.states[obj]:
            return
        if all(self.loc_of[o] == target for o in sub["objects"]):
            self.done += 1

    # -- expert

    def expert(self) -> ExpertStep | None:
        """The next action of a planner that reads only what the agent's prompt shows.

        Subgoals: "find <obj>" (go, open, take), "<clean|heat|cool> <obj>", "examine <obj> under
        desklamp 1", "put <obj> in <target>", and "put down <obj>" when holding something not needed.
        """
        if self.task is None or self.over or self.done == len(self.subtasks):
            return None
        sub = self.subtasks[self.done]
        kind, target = sub["type"], sub["target"]
        needed = [o for o in sub["objects"] if kind not in ("pick2",) or self.loc_of[o] != target]
        h = self.holding
        if h is not None and h in needed:
            if kind in TOOLS and STATE_WORD[kind] not in self.states[h]:
                return self._act_at(TOOLS[kind], f"{kind} {h} with {TOOLS[kind]}", f"{kind} {h}")
            if kind == "look":
                return self._act_at(LAMP_PLACE, f"use {LAMP}", f"examine {h} under {LAMP}")
            return self._act_at(target, f"move {h} to {target}", f"put {h} in {target}")
        if h is not None:
            here = (
                self.at
                if self.at is not None and _holds_objects(self.at) and not _openable(self.at)
                else None
            )
            surface = here or next(r for r in self.receptacles if _holds_objects(r) and not _openable(r))
            return self._act_at(surface, f"move {h} to {surface}", f"put down {h}")
        obj = needed[0]
        where = self.loc_of[obj]
        return self._act_at(where, f"take {obj} from {where}", f"find {obj}")

    def _act_at(self, receptacle: str, action: str, subgoal: str) -> ExpertStep:
        """Go to ``receptacle``, open it if closed, then do ``action``."""
        if self.at != receptacle:
            return ExpertStep(f"go to {receptacle}", subgoal)
        if receptacle in self.closed:
            return ExpertStep(f"open {receptacle}", subgoal)
        return ExpertStep(action, subgoal)

    def close(self) -> None:
        self.task = None
