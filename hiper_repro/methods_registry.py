"""The training methods, in one table: name, prompt format, estimator family, figure label and colour.

Every part that needs to know which methods exist reads this table: the trainer's config check
(`train.config`), its credit assignment (`train.methods` dispatches on `MethodSpec.base`), the figures'
order, labels and colours, the exact-gradient lab's estimator for a method, the synthetic traces and the
pipeline's method axis. Adding a method is an entry here plus its credit rule in `train.methods`
(docs/EXTENDING.md). Imports nothing from hiper_repro and no torch, so every layer may import it.

A *variant* is a base method plus config overrides: `hiper-paper` trains exactly as `hiper` with
`method.lam_boundary: 0`. Its runs are named after the variant (trace coordinate, run folder), and the
trained config carries the overrides, which win over presets and files (`train.config.build_config`), as
the pipeline's run cell wins over `train.overrides`: a run's name always says what it trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

FORMATS: tuple[str, ...] = ("flat", "plan_execute")
FAMILIES: tuple[str, ...] = ("hierarchical_critic", "flat_critic", "group")


@dataclass(frozen=True)
class MethodSpec:
    """One training method (or a variant of one)."""

    name: str
    """what configs, run folders and traces call it (lower case, digits and '-')"""
    fmt: str
    """prompt format: 'flat' (action only) or 'plan_execute' (switch, subgoal and action blocks)"""
    family: str
    """estimator family: 'hierarchical_critic' (V_low, V_high: HAE), 'flat_critic' (one V: GAE) or 'group'
    (critic-free group baselines; rollouts play each task `method.group_size` times)"""
    label: str
    """legend label in figures and tables"""
    colour: str
    """hex colour, the same in every figure"""
    estimator: str | None = None
    """the exact-gradient lab's estimator that computes this method's advantages (theory.estimators), if any"""
    base: str = ""
    """the method whose credit assignment this one runs; empty: itself (a base method)"""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """nested config mapping a variant sets (`{'method': {'lam_boundary': 0.0}}`); empty for base methods"""
    description: str = ""
    """one line for docs and --help"""

    def __post_init__(self) -> None:
        if not self.name or not all(c.islower() or c.isdigit() or c == "-" for c in self.name):
            raise ValueError(f"method name {self.name!r}: expected lower-case letters, digits and '-'")
        if self.fmt not in FORMATS:
            raise ValueError(f"method {self.name!r}: fmt={self.fmt!r}, expected one of {FORMATS}")
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.name!r}: family={self.family!r}, expected one of {FAMILIES}")
        if self.family == "hierarchical_critic" and self.fmt != "plan_execute":
            raise ValueError(f"method {self.name!r}: a hierarchical critic needs fmt 'plan_execute'")
        object.__setattr__(self, "base", self.base or self.name)
        object.__setattr__(self, "overrides", _frozen(self.overrides))
        if "name" in self.overrides.get("method", {}):
            raise ValueError(f"method {self.name!r}: overrides may not set method.name (use base)")

    @property
    def is_variant(self) -> bool:
        return self.base != self.name

    @property
    def has_critic(self) -> bool:
        return self.family != "group"

    @property
    def is_group(self) -> bool:
        return self.family == "group"

    def config_overrides(self) -> dict[str, Any]:
        """The overrides as a plain nested dict (a fresh copy), the form the config loader merges."""
        return _thawed(self.overrides)


def _frozen(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only deep copy of a nested mapping, so an entry cannot change after registration."""
    return MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v for k, v in data.items()})


def _thawed(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _thawed(v) if isinstance(v, Mapping) else v for k, v in data.items()}


_METHODS: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method; ValueError if the name is taken or a variant's base is unknown or itself a variant."""
    if spec.name in _METHODS:
        raise ValueError(f"method {spec.name!r} is already registered")
    if spec.is_variant:
        base = get(spec.base)
        if base.is_variant:
            raise ValueError(f"method {spec.name!r}: base {spec.base!r} is itself a variant")
        if (spec.fmt, spec.family) != (base.fmt, base.family):
            raise ValueError(f"method {spec.name!r}: a variant keeps its base's fmt and family")
    _METHODS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a method (tests that register a toy method clean up with this)."""
    if any(s.base == name and s.name != name for s in _METHODS.values()):
        raise ValueError(f"method {name!r} is the base of registered variants")
    get(name)
    del _METHODS[name]


def variant(
    name: str, base: str, label: str, colour: str, overrides: Mapping[str, Any], description: str = ""
) -> MethodSpec:
    """Register `name` as `base` with config `overrides` (format, family and lab estimator from the base)."""
    parent = get(base)
    return register(
        replace(
            parent,
            name=name,
            base=base,
            label=label,
            colour=colour,
            overrides=overrides,
            description=description,
        )
    )


def get(name: str) -> MethodSpec:
    """The entry of `name`; ValueError naming the known methods otherwise."""
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; known: {names()}") from None


def names() -> tuple[str, ...]:
    """Every registered method, in the figures' order (registration order: reference first)."""
    return tuple(_METHODS)


def specs() -> tuple[MethodSpec, ...]:
    return tuple(_METHODS.values())


# ---- the package's methods (docs/METHOD.md section 4) -----------------------------------------------
# Colours: seaborn's colour-blind palette, assigned by hand so that neighbours in a legend never look alike;
# a variant takes a lighter or darker shade of its base's colour.
KEEP_SHAPING = {
    "shaping": {"keep_penalty": 0.3, "keep_penalty_mode": "normalized", "keep_consistency_penalty": 0.3}
}
"""The authors' KEEP penalties as their runs apply them: 'normalized' mode (an episode with k KEEP turns among
its n decision turns pays 0.3 k / n, spread over its KEEP turns) and -0.3 more when a KEEP turn rewrites the
subgoal text; `train.methods.shape_rewards` subtracts these keys, so they are positive here. Their headline
runs also set a switch-rate floor whose code is not public; `shaping.switch_rate_floor` is this package's
version of it, left off here so that the arms test only what their code shows."""

# fmt: off
for _name, _fmt, _family, _label, _colour, _estimator, _description in (
    ("hiper", "plan_execute", "hierarchical_critic", "HiPER (HAE)", "#0173b2", "hae",
     "Plan-Execute, hierarchical advantage estimation with critics V_low and V_high"),
    ("ppo-pe", "plan_execute", "flat_critic", "PPO, plan-execute", "#029e73", "gae",
     "Plan-Execute, turn-level GAE on V_low for every block"),
    ("ppo", "flat", "flat_critic", "PPO (flat GAE)", "#d55e00", "gae",
     "flat format (action only), turn-level GAE"),
    ("gigpo", "plan_execute", "group", "GiGPO", "#cc78bc", "gigpo",
     "Plan-Execute, episode plus anchor-state group advantages (Feng et al. 2025) for every block"),
    ("hgigpo", "plan_execute", "group", "HGiGPO", "#de8f05", "hgigpo",
     "Plan-Execute, critic-free hierarchical group advantages, one per block"),
    ("grpo", "plan_execute", "group", "GRPO", "#949494", "grpo",
     "Plan-Execute, group-normalised episode return for every block"),
    ("rloo", "plan_execute", "group", "RLOO", "#ca9161", "rloo",
     "Plan-Execute, leave-one-out episode baseline for every block"),
):
    register(MethodSpec(_name, _fmt, _family, _label, _colour, _estimator, description=_description))

variant("hiper-paper", "hiper", "HiPER (paper boundary)", "#03558a", {"method": {"lam_boundary": 0.0}},
        "hiper with the paper's segment boundary: the low level bootstraps from V_high (lam_boundary 0)")
variant("hiper-keep", "hiper", "HiPER + KEEP shaping", "#56b4e9", KEEP_SHAPING,
        "hiper with the authors' KEEP penalties")
variant("ppo-pe-keep", "ppo-pe", "PPO, plan-execute + KEEP shaping", "#5cc4a5", KEEP_SHAPING,
        "ppo-pe with the authors' KEEP penalties")
del _name, _fmt, _family, _label, _colour, _estimator, _description
# fmt: on
