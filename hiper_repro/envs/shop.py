"""``shop``: a procedural WebShop-like store.

Instruction: "i need a <attribute> <type> in <option values>, price lower than <cap> dollars".
Pages and actions (WebShop's):

    search page   search[<query>]                      (any text; the admissible list shows 3 queries)
    results page  click[item N], click[next >], click[< prev], click[back to search]
    item page     click[<option value>], click[buy now], click[< prev] (to results), click[back to search]

Search ranks the catalog by how many query words an item's title contains (ties keep catalog order),
three items per page. The world is built so that for the query "<attribute> <type>" every result
before the target is an exact title match over the price cap, and every result after it is either
over the cap or a partial match: the horizon K sets how many options must be chosen,
``ceil(K / 2)`` of color, size and style, and on which result page the target sits, ``1 + floor(K / 2)``.
The expert needs K + 3 actions.

Reward (WebShop's scoring, at ``click[buy now]``):
``score = type_factor * (attribute match + chosen option matches + price ok) / (1 + n_options + 1)``
with ``type_factor`` 1 when the type matches and 0.1 otherwise. Success is ``score == 1``. Buying ends
the episode (``terminated`` True even when not won, since the episode is over); the reward is 1.0 on
success and 0.0 otherwise (``reward="score"`` pays the score instead). ``task_type`` is ``"shop"``.

Observability: results pages say which query and page they show; the item page shows the item's
title, price, options and what is chosen, so the expert (which reads only that, the instruction and
the page) is imitable.
"""

from __future__ import annotations

import math
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

TYPES = ("jacket", "shirt", "shoes", "bag", "hat", "lamp", "mug", "headphones", "backpack", "blanket")
ATTRIBUTES = (
    "waterproof",
    "cotton",
    "leather",
    "wireless",
    "organic",
    "wooden",
    "steel",
    "lightweight",
    "vintage",
)
OPTIONS: dict[str, tuple[str, ...]] = {
    "color": ("black", "white", "red", "blue", "green", "gray"),
    "size": ("small", "medium", "large", "xlarge"),
    "style": ("classic", "modern", "sport"),
}
PER_PAGE = 3
PRICES = tuple(range(30, 100, 10))

TASK_OPTIONS: tuple[str, ...] = ()  # keyword options make_tasks passes on


def check_horizon(horizon: int) -> None:
    if horizon > 2 * len(OPTIONS):
        raise ValueError(f"shop supports horizons 1..{2 * len(OPTIONS)}, got {horizon}")


def layout(horizon: int) -> tuple[int, int]:
    """``(options to choose, page of the target)`` for horizon K."""
    return math.ceil(horizon / 2), 1 + horizon // 2


def sample_spec(rng, horizon: int) -> dict[str, Any]:
    """Draw a goal and a catalog in which the goal query puts the target on page ``layout(K)[1]``."""
    n_options, page = layout(horizon)
    kind, attr = rng.choice(TYPES), rng.choice(ATTRIBUTES)
    cap = rng.choice(PRICES)
    goal_options = {k: rng.choice(OPTIONS[k]) for k in sorted(rng.sample(sorted(OPTIONS), n_options))}

    def offered(required: dict[str, str]) -> dict[str, list[str]]:
        out = {}
        for k in sorted(OPTIONS):
            if k in required or rng.random() < 0.5:
                values = set(rng.sample(OPTIONS[k], 2)) | ({required[k]} if k in required else set())
                out[k] = [v for v in OPTIONS[k] if v in values]
        return out

    def item(title: list[str], price: int, required: dict[str, str]) -> dict[str, Any]:
        return {"title": " ".join(title), "price": price, "options": offered(required)}

    before = [
        item([attr, kind], rng.randint(cap + 1, 99), {})
        for _ in range((page - 1) * PER_PAGE + rng.randint(0, 2))
    ]
    target = item([attr, kind], cap - rng.randint(1, 25), goal_options)
    after = []
    for _ in range(rng.randint(3, 6)):
        if rng.random() < 0.3:
            after.append(item([attr, kind], rng.randint(cap + 1, 99), {}))
        elif rng.random() < 0.5:
            after.append(
                item([rng.choice([a for a in ATTRIBUTES if a != attr]), kind], rng.randint(10, 99), {})
            )
        else:
            after.append(item([attr, rng.choice([t for t in TYPES if t != kind])], rng.randint(10, 99), {}))
    catalog = [*before, target, *after]
    ids = rng.sample(range(1, 100), len(catalog))
    for entry, i in zip(catalog, ids):
        entry["id"] = f"item {i}"
    others = [
        f"{rng.choice([a for a in ATTRIBUTES if a != attr])} {kind}",
        f"{attr} {rng.choice([t for t in TYPES if t != kind])}",
    ]
    return {
        "goal": {"type": kind, "attribute": attr, "options": goal_options, "price": cap},
        "catalog": catalog,
        "queries": sorted({f"{attr} {kind}", *others}),
    }


def check_spec(spec: dict[str, Any], horizon: int) -> None:
    """A spec read from a file has a goal, a catalog of items and search queries of the right types;
    ValueError naming the field otherwise."""
    check_fields(spec, "spec", {"goal": dict, "catalog": list, "queries": list})
    check_fields(spec["goal"], "spec.goal", {"type": str, "attribute": str, "options": dict, "price": int})
    if len(spec["goal"]["options"]) != layout(horizon)[0]:
        raise ValueError(
            f"spec.goal.options: horizon {horizon} asks for {layout(horizon)[0]} options, "
            f"the goal has {len(spec['goal']['options'])}"
        )
    if not spec["catalog"]:
        raise ValueError("spec.catalog is empty")
    for i, item in enumerate(spec["catalog"]):
        check_fields(item, f"spec.catalog[{i}]", {"id": str, "title": str, "price": int, "options": dict})
    if not all(isinstance(q, str) for q in spec["queries"]):
        raise ValueError(f"spec.queries={spec['queries']!r:.80}: expected a list of strings")


def describe(spec: dict[str, Any]) -> tuple[str, str]:
    goal = spec["goal"]
    opts = " and ".join(goal["options"].values())
    return (
        "shop",
        f"i need a {goal['attribute']} {goal['type']} in {opts}, price lower than {goal['price']} dollars.",
    )


_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def vocabulary(max_number: int = 100) -> list[str]:
    """Every word-level token shop text can contain, sorted."""
    fixed = (
        "i need a in and , price lower than dollars . You are on the search page Results for page of "
        ": ; item no results Chosen nothing bought search [ ] click next > < prev back to buy now "
        "find under choose color size style " + NOTHING_HAPPENS
    )
    vocab = set(words(fixed)) | set(TYPES) | set(ATTRIBUTES) | {v for vs in OPTIONS.values() for v in vs}
    return sorted(vocab | set(OPTIONS) | {str(i) for i in range(max_number + 1)})


class ShopEnv:
    """One shopping episode at a time; see the module docstring."""

    name = "shop"

    def __init__(self, base_steps: int = 5, steps_per_subtask: int = 3, reward: str = "success") -> None:
        if reward not in ("success", "score"):
            raise ValueError(f"reward must be 'success' or 'score', got {reward!r}")
        if base_steps < 0 or steps_per_subtask < 1:
            raise ValueError(
                f"need base_steps >= 0 and steps_per_subtask >= 1, got {base_steps}, {steps_per_subtask}"
            )
        self.base_steps, self.steps_per_subtask, self.reward_mode = base_steps, steps_per_subtask, reward
        self.task: Task | None = None
        self.max_steps = 0

    def reset(self, task: Task) -> Observation:
        if not isinstance(task, Task) or task.env != "shop":
            raise ValueError(f"task must be a shop Task, got {task!r:.120}")
        self.task, self.spec = task, task.spec
        self.goal = task.spec["goal"]
        self.items = {it["id"]: it for it in task.spec["catalog"]}
        self.page_kind = "search"  # "search" | "results" | "item"
        self.query = ""
        self.results: list[dict[str, Any]] = []
        self.page = 0
        self.item: dict[str, Any] | None = None
        self.chosen: dict[str, str] = {}
        self.steps, self.over = 0, False
        self.max_steps = self.base_steps + self.steps_per_subtask * task.horizon
        return self._observe()

    # -- pages

    def _pages(self) -> int:
        return max(1, math.ceil(len(self.results) / PER_PAGE))

    def _visible(self) -> list[dict[str, Any]]:
        return self.results[self.page * PER_PAGE : (self.page + 1) * PER_PAGE]

    def _text(self) -> str:
        if self.page_kind == "search":
            return "You are on the search page."
        if self.page_kind == "results":
            shown = "; ".join(f"{it['id']}: {it['title']}, {it['price']} dollars" for it in self._visible())
            head = f"Results for {self.query}, page {self.page + 1} of {self._pages()}"
            return f"{head}: {shown}." if shown else f"{head}: no results."
        it = self.item
        opts = " ".join(f"{k}: {', '.join(v)}." for k, v in it["options"].items())
        chosen = ", ".join(self.chosen[k] for k in sorted(self.chosen)) or "nothing"
        return f"{it['id']}: {it['title']}, {it['price']} dollars. {opts} Chosen: {chosen}."

    def admissible(self) -> list[str]:
        if self.page_kind == "search":
            return [f"search[{q}]" for q in self.spec["queries"]]
        if self.page_kind == "results":
            acts = [f"click[{it['id']}]" for it in self._visible()]
            if self.page + 1 < self._pages():
                acts.append("click[next >]")
            if self.page > 0:
                acts.append("click[< prev]")
            return [*acts, "click[back to search]"]
        values = [v for vs in self.item["options"].values() for v in vs]
        return [*(f"click[{v}]" for v in values), "click[buy now]", "click[< prev]", "click[back to search]"]

    def _observe(self, text: str | None = None) -> Observation:
        self._admissible = self.admissible()
        return Observation(text or self._text(), list(self._admissible), self.task.instruction)

    # -- dynamics

    def _search(self, query: str) -> None:
        terms = set(query.split())
        scored = [
            (sum(w in terms for w in it["title"].split()), i, it) for i, it in enumerate(self.spec["catalog"])
        ]
        self.results = [it for s, _, it in sorted(scored, key=lambda x: (-x[0], x[1])) if s > 0]
        self.query, self.page, self.page_kind = query, 0, "results"

    def score(self, item: dict[str, Any], chosen: dict[str, str]) -> float:
        """WebShop-style purchase score of buying ``item`` with options ``chosen``."""
        goal = self.goal
        title = item["title"].split()
        type_factor = 1.0 if goal["type"] in title else 0.1
        hits = (goal["attribute"] in title) + (item["price"] <= goal["price"])
        hits += sum(chosen.get(k) == v for k, v in goal["options"].items())
        return type_factor * hits / (2 + len(goal["options"]))

    def step(self, action: str) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        check_action(action)
        if self.task is None or self.over:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset(task)")
        self.steps += 1
        act = normalize_action(action)
        free_search = (
            self.page_kind == "search" and act.startswith("search[") and act.endswith("]") and len(act) > 8
        )
        valid = free_search or act in self._admissible  # the list shown with the last observation
        score, bought, text = 0.0, False, None
        if not valid:
            text = f"{NOTHING_HAPPENS} {self._text()}"
        elif act.startswith("search["):
            self._search(act[len("search[") : -1])
        else:
            target = act[len("click[") : -1]
            if target == "back to search":
                self.page_kind, self.item, self.chosen = "search", None, {}
            elif target == "next >":
                self.page += 1
            elif target == "< prev":
                if self.page_kind == "item":
                    self.page_kind, self.item, self.chosen = "results", None, {}
                else:
                    self.page -= 1
            elif target == "buy now":
                bought, score = True, self.score(self.item, self.chosen)
                text = f"You bought {self.item['id']}."
            elif self.page_kind == "results":
                self.item, self.chosen, self.page_kind = self.items[target], {}, "item"
            else:
                kind = next(k for k, vs in self.item["options"].items() if target in vs)
                self.chosen[kind] = target
        won = bought and score == 1.0
        truncated = not bought and self.steps >= self.max_steps
        self.over = bought or truncated
        reward = (1.0 if won else 0.0) if self.reward_mode == "success" else score
        info = {"won": won, "score": score, "valid": valid, "expert": None if self.over else self.expert()}
        return self._observe(text), reward, bought, truncated, info

    # -- expert

    def _is_target(self, item: dict[str, Any]) -> bool:
        goal = self.goal
        return item["title"] == f"{goal['attribute']} {goal['type']}" and item["price"] <= goal["price"]

    def expert(self) -> ExpertStep | None:
        """Search the goal query, page towards the target, open it, choose options, buy."""
        if self.task is None or self.over:
            return None
        goal = self.goal
        query = f"{goal['attribute']} {goal['type']}"
        find = f"find {query} under {goal['price']} dollars"
        if self.page_kind == "search":
            return ExpertStep(f"search[{query}]", f"search {query}")
        if self.page_kind == "results":
            if self.query != query:
                return ExpertStep("click[back to search]", f"search {query}")
            shown = self._visible()
            for it in shown:
                if self._is_target(it):
                    return ExpertStep(f"click[{it['id']}]", find)
            # exact matches over the cap come before the target, anything else after it
            behind = any(it["title"] != query for it in shown) or not shown
            return ExpertStep("click[< prev]" if behind else "click[next >]", find)
        if not self._is_target(self.item):
            return ExpertStep("click[< prev]", find)
        for kind, value in goal["options"].items():
            if self.chosen.get(kind) != value:
                return ExpertStep(f"click[{value}]", f"choose {value}")
        return ExpertStep("click[buy now]", f"buy {self.item['id']}")

    def close(self) -> None:
        self.task = None
