"""Credit assembly per method: which block gets which advantage, shaping, whitening, skipping."""

from dataclasses import FrozenInstanceError, fields, replace

import pytest
import torch

from hiper_repro import credit
from hiper_repro.agent.rollout import Rollout
from hiper_repro.train.config import build_config
from hiper_repro.train.methods import assign_credit, keep_penalties, shape_rewards
from hiper_repro.train.records import segment_table, trace_records

B, T = 4, 5


def fake_rollout(seed: int = 0, rewards=None) -> Rollout:
    """Four episodes of lengths 5, 3, 4, 2; episode 0 and 2 succeed on their last turn.

    A real `Rollout`: the dataclass names the fields, so a field added to it or renamed fails here, at
    construction, instead of in the middle of a test. Its value estimates (every `value_*` field) and
    switch probabilities are random; the fields no credit rule reads keep the dataclass's defaults. A test
    that needs another value of a field builds it with `dataclasses.replace`."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 3, 4, 2])
    mask = torch.arange(T)[None] < lengths[:, None]
    last = torch.arange(T)[None] == (lengths - 1)[:, None]
    won = torch.tensor([True, False, True, False])
    terminated = last & won[:, None]
    r = terminated.float() if rewards is None else rewards
    switch = torch.tensor(
        [[1, 0, 1, 0, 0], [1, 1, 0, 0, 0], [1, 0, 0, 1, 0], [1, 0, 0, 0, 0]], dtype=torch.bool
    )
    valid = torch.ones(B, T, dtype=torch.bool)
    valid[1, 1] = False
    changed = torch.zeros(B, T, dtype=torch.bool)
    changed[2, 1] = True  # a KEEP turn that rewrote its subgoal
    random = [f.name for f in fields(Rollout) if f.name.startswith("value_")] + ["switch_prob"]
    return Rollout(
        mask=mask,
        rewards=r * mask,
        terminated=terminated,
        truncated=~won,
        valid=valid & mask,
        well_formed=valid & mask,  # the invalid turn broke the format
        switch=switch & mask,
        subgoal_changed_on_keep=changed,
        **{name: torch.rand(B, T, generator=g) for name in random},
        won=won,
        score=won.float(),
        turn_scores=(terminated & mask).float(),
        length=lengths,
        task_ids=["a", "a", "b", "b"],
        task_types=["pick"] * 4,
        group_ids=torch.tensor([0, 0, 1, 1]),
        subgoals=[[f"g{b}{t}" for t in range(int(n))] for b, n in enumerate(lengths)],
        state_keys=[[f"{(b + t) % 3:016x}" for t in range(int(n))] for b, n in enumerate(lengths)],
        turns=[],
    )


def cfg_for(method, **ppo):
    return build_config({"model": {"path": "m"}, "method": {"name": method, "gamma": 0.9}, "ppo": ppo})


def test_shaping_terms():
    ro = fake_rollout()
    cfg = build_config(
        {
            "model": {"path": "m"},
            "shaping": {"keep_penalty": 0.3, "keep_consistency_penalty": 0.2, "success_reward": 10.0},
        }
    )
    r = shape_rewards(ro, cfg)
    assert r[0, 4] == pytest.approx(10.0 - 0.3)  # success on a KEEP turn
    assert r[1, 1] == pytest.approx(-0.1)  # invalid SWITCH turn
    assert r[2, 1] == pytest.approx(-0.3 - 0.2)  # KEEP that changed the subgoal
    assert r[0, 0] == 0.0 and (r[~ro.mask] == 0).all()
    flat = shape_rewards(
        ro,
        build_config({"model": {"path": "m"}, "method": {"name": "ppo"}, "shaping": {"keep_penalty": 0.3}}),
    )
    assert flat[0, 1] == 0.0  # no KEEP penalty without a switch decision


def _shaping_cfg(**shaping):
    return build_config({"model": {"path": "m"}, "shaping": {"invalid_penalty": 0.0, **shaping}})


def test_normalized_keep_penalty_spreads_c_k_over_n():
    """Hand-worked: decision turns are 1..length-1. Episode 0 (length 5, SWITCH at 2): k=3 of n=4, each
    KEEP pays 0.3/4 = 0.075, total 0.3 * 3/4; episode 1 (length 3): k=1 of n=2, 0.15; episode 2
    (length 4, KEEP at 1, 2; turn 1 changed its subgoal): 0.1 each, + 0.2 consistency at turn 1;
    episode 3 (length 2): k=1 of n=1, 0.3."""
    ro = fake_rollout(rewards=torch.zeros(B, T))
    r = shape_rewards(
        ro, _shaping_cfg(keep_penalty=0.3, keep_penalty_mode="normalized", keep_consistency_penalty=0.2)
    )
    expected = -torch.tensor(
        [
            [0, 0.075, 0, 0.075, 0.075],
            [0, 0, 0.15, 0, 0],
            [0, 0.1 + 0.2, 0.1, 0, 0],
            [0, 0.3, 0, 0, 0],
        ]
    )
    torch.testing.assert_close(r, expected)
    assert r.sum(1)[0] == pytest.approx(-0.3 * 3 / 4)
    fixed = shape_rewards(ro, _shaping_cfg(keep_penalty=0.3))  # today's rule: c per KEEP turn
    assert fixed.sum(1).tolist() == pytest.approx([-0.9, -0.3, -0.6, -0.3])


def test_switch_rate_floor_charges_the_deficit_over_keep_turns():
    """Floor 0.5, coefficient 2: episode 0 switches at 1 of 4 decision turns (rate 1/4, deficit 1/4,
    total 0.5 over its 3 KEEP turns); episode 1 at 1 of 2 (rate 1/2: nothing); episode 2 at 1 of 3
    (deficit 1/6, total 1/3 over 2 KEEP turns); episode 3 at 0 of 1 (deficit 1/2, total 1)."""
    ro = fake_rollout(rewards=torch.zeros(B, T))
    r = shape_rewards(ro, _shaping_cfg(switch_rate_floor=0.5, switch_rate_floor_coef=2.0))
    expected = -torch.tensor(
        [
            [0, 0.5 / 3, 0, 0.5 / 3, 0.5 / 3],
            [0, 0, 0, 0, 0],
            [0, 1 / 6, 1 / 6, 0, 0],
            [0, 1.0, 0, 0, 0],
        ]
    )
    torch.testing.assert_close(r, expected)
    off = shape_rewards(ro, _shaping_cfg(switch_rate_floor=0.5))  # coefficient 0: off
    assert (off == 0).all()


def test_keep_penalties_skip_episodes_without_a_decision():
    """A one-turn episode has no decision turn: no KEEP, no rate, nothing charged (no 0/0)."""
    mask = torch.tensor([[True, False], [True, True]])
    switch = torch.tensor([[True, False], [True, False]])
    cfg = _shaping_cfg(
        keep_penalty=1.0, keep_penalty_mode="normalized", switch_rate_floor=1.0, switch_rate_floor_coef=1.0
    )
    pen = keep_penalties(switch, mask, torch.zeros_like(mask), cfg.shaping)
    assert pen.tolist() == [[0.0, 0.0], [0.0, 2.0]]


@pytest.mark.parametrize(
    ("key", "value"),
    [("keep_penalty_mode", "ratio"), ("switch_rate_floor", 1.5), ("switch_rate_floor_coef", -1.0)],
)
def test_keep_shaping_settings_are_checked(key, value):
    with pytest.raises(ValueError, match=f"shaping.{key}"):
        _shaping_cfg(**{key: value})


def test_hiper_blocks_and_unwhitened_traces():
    ro = fake_rollout()
    cfg = cfg_for("hiper", whiten=False)
    c = assign_credit(ro, cfg)
    h = credit.hae(c.rewards, ro.value_low, ro.value_high, ro.switch, ro.mask, ro.terminated, 0.9, 1.0, 0.95)
    starts = ro.switch & ro.mask
    torch.testing.assert_close(c.adv_action[ro.mask], h.adv_low[ro.mask])
    torch.testing.assert_close(c.adv_subgoal[starts], h.adv_high[starts])
    assert c.adv_subgoal[ro.mask & ~starts].isnan().all()  # KEEP-turn subgoal copies: no loss
    assert c.adv_switch[:, 0].isnan().all()  # turn 0 makes no decision
    assert c.adv_action[~ro.mask].isnan().all()
    torch.testing.assert_close(c.targets["high"][starts], h.ret_high[starts])
    assert set(c.targets) == {"low", "high", "low_prev"}
    flat_adv, _ = credit.gae(c.rewards, ro.value_low, ro.mask, ro.terminated, 0.9, 1.0)
    torch.testing.assert_close(c.trace["adv_flat"][ro.mask], flat_adv[ro.mask])
    segments = trace_records(ro, c, cfg)["segments"]
    assert segments["start_turn"].tolist() == [[0, 2], [0, 1], [0, 3], [0, -1]]
    assert segments["subgoal"][2].tolist() == ["g20", "g23"]
    assert segments["length"][0].tolist() == [2.0, 3.0]
    assert segments["ret_high"][0].tolist() == c.targets["high"][0, [0, 2]].tolist()


def test_hiper_whitening_per_type():
    ro = fake_rollout()
    c = assign_credit(ro, cfg_for("hiper", whiten=True, whiten_scale="per_type"))
    starts = ro.switch & ro.mask
    for adv, where in ((c.adv_action, ro.mask), (c.adv_subgoal, starts)):
        vals = adv[where]
        assert vals.mean().abs() < 1e-5 and vals.std() == pytest.approx(1.0, abs=1e-3)
    # traces keep the estimator's raw values; adv_action records what the tokens used
    assert not torch.allclose(c.trace["adv_low"][ro.mask], c.adv_action[ro.mask])
    torch.testing.assert_close(c.trace["adv_action"], c.adv_action, equal_nan=True)


def test_code_form_trains_term_head():
    ro = fake_rollout()
    cfg = build_config({"model": {"path": "m"}, "method": {"name": "hiper", "switch_form": "code"}})
    c = assign_credit(ro, cfg)
    assert set(c.targets) == {"low", "high", "term"}
    assert c.targets["term"][ro.mask].isfinite().all()


@pytest.mark.parametrize("method", ["ppo", "ppo-pe"])
def test_flat_gae_methods(method):
    ro = fake_rollout()
    cfg = cfg_for(method, whiten=False)
    c = assign_credit(ro, cfg)
    adv, ret = credit.gae(c.rewards, ro.value_low, ro.mask, ro.terminated, 0.9, 1.0)
    torch.testing.assert_close(c.adv_action[ro.mask], adv[ro.mask])
    torch.testing.assert_close(c.targets["low"][ro.mask], ret[ro.mask])
    assert c.trace["ret_low"] is c.targets["low"]
    if method == "ppo":
        assert c.adv_switch.isnan().all() and c.adv_subgoal.isnan().all()
        assert not trace_records(ro, c, cfg)["segments"]
    else:  # the ablation: Plan-Execute format, every block takes the flat advantage
        torch.testing.assert_close(c.adv_switch, c.adv_action, equal_nan=True)
        torch.testing.assert_close(c.adv_subgoal, c.adv_action, equal_nan=True)
    assert set(c.targets) == {"low"}


@pytest.mark.parametrize("method", ["grpo", "rloo", "gigpo"])
def test_group_methods_every_block_same(method):
    ro = fake_rollout()
    c = assign_credit(ro, cfg_for(method))
    torch.testing.assert_close(c.adv_switch, c.adv_action, equal_nan=True)
    torch.testing.assert_close(c.adv_subgoal, c.adv_action, equal_nan=True)
    assert c.targets == {} and c.trace["adv_action"][ro.mask].isfinite().all()
    if method != "gigpo":  # one advantage per episode
        a = torch.where(ro.mask, c.adv_action, c.adv_action[:, :1])
        assert (a == a[:, :1]).all()
    # episode 0 won and episode 1 did not, in the same group: 0 must be favoured
    assert c.adv_action[0, 0] > c.adv_action[1, 0]


def test_zero_reward_batch_is_skipped():
    ro = fake_rollout(rewards=torch.zeros(B, T))
    ro = replace(ro, valid=ro.mask.clone(), well_formed=ro.mask.clone())
    assert assign_credit(ro, cfg_for("hiper")).policy_skipped
    assert not assign_credit(fake_rollout(), cfg_for("hiper")).policy_skipped
    assert not assign_credit(ro, cfg_for("hiper", skip_zero_reward_batches=False)).policy_skipped


def test_segment_table_discounted_reward():
    ro = fake_rollout(rewards=torch.ones(B, T))
    seg = segment_table(ro, ro.rewards, 0.5, {})
    # episode 0: segments [0, 1] and [2, 3, 4] -> 1 + 0.5 and 1 + 0.5 + 0.25
    assert seg["reward"][0].tolist() == [1.5, 1.75]


def test_invalid_penalty_charges_format_errors_only_by_default():
    """A well-formed reply naming an inadmissible action is not charged under 'format' (it cannot be
    dodged by always choosing a safe action); 'any' charges it too."""
    ro = fake_rollout()
    valid = ro.valid.clone()
    valid[0, 1] = False  # inadmissible action in a well-formed reply
    ro = replace(ro, valid=valid)
    r = shape_rewards(ro, cfg_for("hiper"))
    assert r[0, 1] == 0.0 and r[1, 1] == pytest.approx(-0.1)  # only the format error pays
    r_any = shape_rewards(
        ro, build_config({"model": {"path": "m"}, "shaping": {"invalid_penalty_on": "any"}})
    )
    assert r_any[0, 1] == pytest.approx(-0.1) and r_any[1, 1] == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="shaping.invalid_penalty_on"):
        build_config({"model": {"path": "m"}, "shaping": {"invalid_penalty_on": "inadmissible"}})


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_progress_shaping_is_potential_based(gamma):
    """F_t = gamma Phi(s_t+1) - Phi(s_t), Phi = score, Phi = 0 after the last turn: every episode's
    discounted shaped sum is -Phi(s_0) = 0, whatever it did, so no policy's return changes."""
    from hiper_repro.train.methods import progress_shaping

    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    scores = torch.tensor([[0.0, 0.5, 0.5, 1.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]])
    f = progress_shaping(scores, mask, gamma)
    expected0 = [gamma * 0.0 - 0.0, gamma * 0.5 - 0.0, gamma * 0.5 - 0.5, 0.0 - 0.5]
    torch.testing.assert_close(f[0], torch.tensor(expected0))
    discounts = gamma ** torch.arange(4.0)
    torch.testing.assert_close((f * discounts).sum(1), torch.zeros(3), atol=1e-6, rtol=0)
    assert (f[~mask] == 0).all()
    ro = fake_rollout()
    cfg = build_config({"model": {"path": "m"}, "shaping": {"progress_coef": 2.0}})
    shaped, plain = shape_rewards(ro, cfg), shape_rewards(ro, cfg_for("hiper"))
    torch.testing.assert_close(shaped - plain, 2.0 * progress_shaping(ro.turn_scores, ro.mask, 1.0))


def test_whiten_scale_action_keeps_switch_advantages_small():
    """'action' divides every type by the action advantages' spread: A_switch keeps its size relative to
    A_low instead of being blown up to unit variance."""
    ro = fake_rollout()
    own = assign_credit(ro, cfg_for("hiper", whiten=True, whiten_scale="per_type"))
    shared = assign_credit(ro, cfg_for("hiper", whiten=True, whiten_scale="action"))
    raw = assign_credit(ro, cfg_for("hiper", whiten=False))
    decision = ro.mask.clone()
    decision[:, 0] = False
    torch.testing.assert_close(shared.adv_action, own.adv_action, equal_nan=True)  # same for actions
    assert own.adv_switch[decision].std() == pytest.approx(1.0, abs=1e-3)
    ratio = raw.adv_switch[decision].std() / raw.adv_action[ro.mask].std()
    assert shared.adv_switch[decision].std() == pytest.approx(float(ratio), rel=1e-4)
    assert shared.adv_switch[decision].mean().abs() < 1e-6  # still centred


def test_lam_boundary_reaches_the_config():
    ro = fake_rollout()
    c0 = assign_credit(ro, cfg_for("hiper", whiten=False))
    cfg = build_config(
        {
            "model": {"path": "m"},
            "method": {"name": "hiper", "gamma": 0.9, "lam_boundary": 1.0},
            "ppo": {"whiten": False},
        }
    )
    c1 = assign_credit(ro, cfg)
    h = credit.hae(
        c1.rewards,
        ro.value_low,
        ro.value_high,
        ro.switch,
        ro.mask,
        ro.terminated,
        0.9,
        1.0,
        0.95,
        lam_boundary=1.0,
    )
    torch.testing.assert_close(c1.adv_action[ro.mask], h.adv_low[ro.mask])
    assert not torch.allclose(c0.adv_action[ro.mask], c1.adv_action[ro.mask])


def test_hgigpo_maps_each_block_to_its_output():
    """hgigpo: action tokens take `action`, subgoal tokens `subgoal` at segment starts only (KEEP turns copy
    the subgoal), the switch token `switch` on turns t >= 1; the numbers are credit.hgigpo's."""
    from hiper_repro.train.methods import state_ids, text_ids

    ro = fake_rollout()
    cfg = cfg_for("hgigpo")
    c = assign_credit(ro, cfg)
    h = credit.hgigpo(
        episode_returns=c.rewards.sum(1),
        group_ids=ro.group_ids,
        step_returns=credit.discounted_returns(c.rewards, ro.mask, cfg.method.gigpo_gamma),
        state_keys=state_ids(ro.state_keys, (B, T)),
        subgoal_keys=text_ids(ro.subgoals, (B, T)),
        switch=ro.switch,
        mask=ro.mask,
        step_weight=cfg.method.gigpo_step_weight,
    )
    starts = ro.switch & ro.mask
    decisions = ro.mask.clone()
    decisions[:, 0] = False
    torch.testing.assert_close(c.adv_action[ro.mask], h.action[ro.mask])
    torch.testing.assert_close(c.adv_subgoal[starts], h.subgoal[starts])
    torch.testing.assert_close(c.adv_switch[decisions], h.switch[decisions])
    assert c.adv_subgoal[~starts].isnan().all() and c.adv_switch[~decisions].isnan().all()
    assert c.adv_action[~ro.mask].isnan().all() and c.targets == {}
    # episode 0 won and episode 1 did not, in the same group: 0 must be favoured
    assert c.adv_action[0, 0] > c.adv_action[1, 0]
    # traced like hiper's critic-free counterparts: subgoal advantages per segment, switch per turn
    assert trace_records(ro, c, cfg)["segments"]["adv_high"][0].tolist() == c.adv_subgoal[0, [0, 2]].tolist()
    torch.testing.assert_close(c.trace["adv_switch"], c.adv_switch, equal_nan=True)


def test_text_ids_are_exact():
    from hiper_repro.train.methods import text_ids

    ids = text_ids([["a", "b", "a"], ["b"]], (2, 3))
    assert ids.tolist() == [[0, 1, 0], [1, 0, 0]]


@pytest.mark.parametrize(
    ("variant", "base", "differs"),
    [
        ("hiper-paper", "hiper", "method.lam_boundary"),
        ("hiper-keep", "hiper", "shaping"),
        ("ppo-pe-keep", "ppo-pe", "shaping"),
    ],
)
def test_variants_run_their_base_rule_under_their_overrides(variant, base, differs):
    ro = fake_rollout()
    data = {"model": {"path": "m"}, "method": {"gamma": 0.9, "lam_boundary": 1.0}, "ppo": {"whiten": False}}
    v_cfg = build_config(data | {"method": {**data["method"], "name": variant}})
    b_cfg = build_config(data | {"method": {**data["method"], "name": base}})
    assert v_cfg.base_method == base and v_cfg.fmt == b_cfg.fmt == "plan_execute"
    v, b = assign_credit(ro, v_cfg), assign_credit(ro, b_cfg)
    if differs == "shaping":  # the authors' normalized mode: 0.3 / n per KEEP turn, a rewrite 0.3 more
        assert (v_cfg.shaping.keep_penalty, v_cfg.shaping.keep_consistency_penalty) == (0.3, 0.3)
        assert v_cfg.shaping.keep_penalty_mode == "normalized"
        assert v.rewards[2, 1] == pytest.approx(b.rewards[2, 1] - 0.3 / 3 - 0.3)  # n = 3 decision turns
        assert v.rewards[0, 1] == pytest.approx(b.rewards[0, 1] - 0.3 / 4)
        assert v.rewards[1, 1] == b.rewards[1, 1]  # a SWITCH turn
    else:  # same rewards, the boundary bootstrap changes A_low in earlier segments only
        assert v_cfg.method.lam_boundary == 0.0 and b_cfg.method.lam_boundary == 1.0
        torch.testing.assert_close(v.rewards, b.rewards)
        h = credit.hae(
            v.rewards, ro.value_low, ro.value_high, ro.switch, ro.mask, ro.terminated, 0.9, 1.0, 0.95
        )
        torch.testing.assert_close(v.adv_action[ro.mask], h.adv_low[ro.mask])
        assert not torch.allclose(v.adv_action[ro.mask], b.adv_action[ro.mask])


def test_credit_is_built_once():
    c = assign_credit(fake_rollout(), cfg_for("hiper"))
    with pytest.raises(FrozenInstanceError):
        c.adv_action = c.adv_switch  # what the update reads is what the rule returned
    torch.testing.assert_close(c.trace["adv_action"], c.adv_action, equal_nan=True)
    assert c.trace["ret_low"] is c.targets["low"]  # HAE's returns, written once


def test_a_critic_rule_without_a_low_target_is_refused(monkeypatch):
    from hiper_repro.train.methods import CREDIT_RULES, Blocks

    monkeypatch.setitem(CREDIT_RULES, "ppo-pe", lambda x: Blocks(x.rewards, x.rewards, x.rewards))
    with pytest.raises(ValueError, match="method.name='ppo-pe': its credit rule set no value target 'low'"):
        assign_credit(fake_rollout(), cfg_for("ppo-pe"))
