"""docs/EXTENDING.md's worked example, run as written: its Python blocks, in order, then checks of the result.

The example registers a toy method (`turn-group`) in the methods registry and a credit rule in train.methods;
both are removed again at the end, so no other test sees them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hiper_repro import methods_registry
from hiper_repro.train.config import build_config
from hiper_repro.train.methods import CREDIT_RULES

from .test_methods import fake_rollout

DOC = Path(__file__).resolve().parents[2] / "docs" / "EXTENDING.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture
def worked_example():
    """The namespace the page's blocks leave behind; the toy method unregistered afterwards."""
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 4, "docs/EXTENDING.md: the worked example has four Python blocks"
    namespace = {"rollout": fake_rollout()}
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
        yield namespace
    finally:
        CREDIT_RULES.pop("turn-group", None)
        if "turn-group" in methods_registry.names():
            methods_registry.unregister("turn-group")


def test_the_toy_method_is_unknown_before_the_example():
    assert "turn-group" not in methods_registry.names()
    with pytest.raises(ValueError, match="method.name='turn-group': expected one of"):
        build_config({"model": {"path": "m"}, "method": {"name": "turn-group"}})


def test_worked_example_registers_trains_and_draws(worked_example):
    from hiper_repro.figures.style import label, order, palette

    ro, out = worked_example["rollout"], worked_example["out"]
    # the numbers: the turn's return-to-go minus the mean over the group's episodes that reach that turn
    gamma = worked_example["cfg"].method.gamma
    g = worked_example["credit"].discounted_returns(out.rewards, ro.mask, gamma)
    for b in range(ro.mask.shape[0]):
        for t in range(int(ro.mask[b].sum())):
            peers = [
                j for j in range(len(ro.group_ids)) if ro.group_ids[j] == ro.group_ids[b] and ro.mask[j, t]
            ]
            want = float(g[b, t] - sum(g[j, t] for j in peers) / len(peers))
            for block in (out.adv_action, out.adv_subgoal, out.adv_switch):
                assert float(block[b, t]) == pytest.approx(want, abs=1e-6)
    # the rest of the package sees it through the registry
    assert label("turn-group") == "turn-indexed group baseline"
    assert palette(["hiper", "turn-group"])["turn-group"] == "#ece133"
    assert order(["turn-group", "hiper"]) == ["hiper", "turn-group"]
    with pytest.raises(ValueError, match="already registered"):
        methods_registry.register(methods_registry.get("turn-group"))


def test_a_registered_method_without_a_credit_rule_is_refused():
    spec = methods_registry.MethodSpec("no-rule", "plan_execute", "group", "no rule", "#000000")
    methods_registry.register(spec)
    try:
        cfg = build_config({"model": {"path": "m"}, "method": {"name": "no-rule"}})
        from hiper_repro.train.methods import assign_credit

        with pytest.raises(ValueError, match="no credit rule for 'no-rule'"):
            assign_credit(fake_rollout(), cfg)
    finally:
        methods_registry.unregister("no-rule")


def test_registry_rejects_bad_entries():
    with pytest.raises(ValueError, match="fmt='chat'"):
        methods_registry.MethodSpec("x", "chat", "group", "x", "#000000")
    with pytest.raises(ValueError, match="hierarchical critic needs fmt 'plan_execute'"):
        methods_registry.MethodSpec("x", "flat", "hierarchical_critic", "x", "#000000")
    with pytest.raises(ValueError, match="lower-case"):
        methods_registry.MethodSpec("X y", "flat", "group", "x", "#000000")
    with pytest.raises(ValueError, match="may not set method.name"):
        methods_registry.MethodSpec("x", "flat", "group", "x", "#0", overrides={"method": {"name": "ppo"}})
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        methods_registry.variant("x", "nope", "x", "#000000", {})
    with pytest.raises(ValueError, match="itself a variant"):
        methods_registry.variant("x", "hiper-keep", "x", "#000000", {})
    with pytest.raises(ValueError, match="base of registered variants"):
        methods_registry.unregister("hiper")
    with pytest.raises(TypeError):
        methods_registry.get("hiper-paper").overrides["method"]["lam_boundary"] = 1.0  # read-only, deeply
