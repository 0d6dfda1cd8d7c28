"""Advantage of the switch decision q_t (KEEP or SWITCH), in the paper's form and the authors' code form."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from hiper_repro.credit._checks import check_bool, check_float, check_layout, check_same, check_unit
from hiper_repro.credit.gae import bootstrap_values
from hiper_repro.credit.hae import segment_suffix
from hiper_repro.credit.scan import add_at_last_turn, zero_padding
from hiper_repro.credit.segments import segment_bounds

FORMS = ("paper", "code")


class SwitchAdvantage(NamedTuple):
    """advantages: (B, T), A_switch_t on real turns t >= 1, 0 at t = 0 (no decision) and on padding.
    returns: (B, T) target of the V_term head on real turns (code form); None in the paper form."""

    advantages: torch.Tensor
    returns: torch.Tensor | None


def switch_advantage(
    switch: torch.Tensor,
    mask: torch.Tensor,
    values_high: torch.Tensor,
    *,
    form: Literal["paper", "code"],
    switch_prob: torch.Tensor | None = None,
    values_low_prev: torch.Tensor | None = None,
    rewards: torch.Tensor | None = None,
    values_term: torch.Tensor | None = None,
    terminated: torch.Tensor | None = None,
    gamma: float = 1.0,
    last_value_high: torch.Tensor | None = None,
) -> SwitchAdvantage:
    """Switch-decision advantage A_switch_t, docs/METHOD.md section 3, in one of two forms.

    Turn 0 always starts a segment (switch[:, 0] is treated as True), so it carries no decision and
    gets A_switch_0 = 0. Segments, starts b_k and ends e_k as in `segments_from_switch`.

    form="paper" (Peng et al. 2026): needs switch_prob and values_low_prev.

        A_switch_t = (q_t - beta_t) * (V_high(s_t) - V_low(s_t, o_{t-1}))
        beta_t = P(SWITCH | s_t, o_{t-1}) under the behaviour policy (`switch_prob`); o_{t-1} is the
        subgoal active before turn t (`values_low_prev`; on KEEP turns it equals V_low(s_t, o_t)).

    form="code" (the authors' implementation): a third head V_term(s_t, o_{t-1}), read before anything
    is generated; needs rewards, values_term, terminated and gamma. For t in segment k (t <= e_k):

        G_t        = sum_{s=t}^{e_k} gamma^(s - t) r_s + gamma^(e_k + 1 - t) * V'_{k+1}
        V'_{k+1}   = V_high(s_{b_{k+1}}) if segment k+1 exists; after the last segment 0 if the row
                     terminated, last_value_high[b] (or 0) if it was truncated
        A_switch_t = G_t - V_term(s_t, o_{t-1}),   returns = G_t (the V_term target, every real turn)

    Args:
        switch, mask: (B, T) bool; q_t and the real turns (a prefix of each row).
        values_high: (B, T) float, V_high(s_t); the paper form reads every real turn t >= 1, the code
            form only segment starts.
        form: "paper" or "code".
        switch_prob, values_low_prev: (B, T) float, paper form.
        rewards, values_term: (B, T) float; terminated: (B, T) bool; gamma in [0, 1];
        last_value_high: optional (B,) float, code form.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    values_high = check_float("values_high", values_high)
    if values_high.ndim != 2:
        raise ValueError(f"values_high must be 2-D (B, T), got shape {tuple(values_high.shape)}")
    shape = tuple(values_high.shape)
    switch = check_bool("switch", switch, shape)
    mask = check_bool("mask", mask, shape)
    needed = (
        ("switch_prob", "values_low_prev") if form == "paper" else ("rewards", "values_term", "terminated")
    )
    given = {
        "switch_prob": switch_prob,
        "values_low_prev": values_low_prev,
        "rewards": rewards,
        "values_term": values_term,
        "terminated": terminated,
    }
    missing = [name for name in needed if given[name] is None]
    if missing:
        raise ValueError(f"form={form!r} needs {', '.join(missing)}")
    decision = mask.clone()
    decision[:, 0] = False  # turn 0 has no switch decision

    if form == "paper":
        switch_prob = check_float("switch_prob", switch_prob, shape)
        values_low_prev = check_float("values_low_prev", values_low_prev, shape)
        check_same("values_high", values_high, switch_prob=switch_prob, values_low_prev=values_low_prev)
        check_layout(mask, torch.zeros_like(mask))
        q = switch.to(values_high.dtype)
        advantage = (q - switch_prob) * (values_high - values_low_prev)
        return SwitchAdvantage(zero_padding(advantage, decision), None)

    rewards = check_float("rewards", rewards, shape)
    values_term = check_float("values_term", values_term, shape)
    terminated = check_bool("terminated", terminated, shape)
    if last_value_high is not None:
        last_value_high = check_float("last_value_high", last_value_high, shape[:1])
    check_same(
        "values_high", values_high, rewards=rewards, values_term=values_term, last_value_high=last_value_high
    )
    gamma = check_unit("gamma", gamma)
    layout = check_layout(mask, terminated)

    bounds = segment_bounds(switch, mask, layout.length)
    # z over turn indices 0..T: V_high at each start, the bootstrap at L_b ("after the last turn").
    at_following = torch.nn.functional.pad(zero_padding(values_high, bounds.start), (0, 1))
    boot = bootstrap_values(layout.ended, last_value_high, rewards)
    at_following = add_at_last_turn(at_following, layout.length + 1, boot)
    target = segment_suffix(zero_padding(rewards, mask), gamma, bounds.following, at_following)
    target = zero_padding(target, mask)
    advantage = zero_padding(target - values_term, decision)
    return SwitchAdvantage(advantage, target)
