"""Methods: reward shaping, then which turn and which block gets which advantage (docs/METHOD.md section 4).

`assign_credit(rollout, cfg)` turns a Rollout (B episodes, T turns) into a `Credit`: per-turn (B, T)
advantages for each block type, value targets for each head, and the per-turn quantities the traces record
(`train.records` builds the trace records, the per-segment table included). The estimators themselves
live in `hiper_repro.credit`; this module only decides, per method, which estimator feeds which block:

| method  | format        | switch tokens   | subgoal tokens              | action tokens | value heads      |
| ------- | ------------- | --------------- | --------------------------- | ------------- | ---------------- |
| hiper   | Plan-Execute  | A_switch        | A_high (segment starts only)| A_low         | low, high (+term)|
| ppo     | flat          | -               | -                           | A_flat (GAE)  | low              |
| ppo-pe  | Plan-Execute  | A_flat          | A_flat                      | A_flat        | low              |
| grpo    | Plan-Execute  | A_episode       | A_episode                   | A_episode     | none             |
| rloo    | Plan-Execute  | A_episode       | A_episode                   | A_episode     | none             |
| gigpo   | Plan-Execute  | A_ep + w A_step | A_ep + w A_step             | A_ep + w A_step | none           |
| hgigpo  | Plan-Execute  | hgigpo.switch   | hgigpo.subgoal (starts only)| hgigpo.action | none             |

Subgoal tokens on KEEP turns copy the previous subgoal and carry no loss (NaN advantage) under hiper and
hgigpo. Whitening (`ppo.whiten`) applies to the critic methods, per type over the real turns that carry that
type, each turn counted once; group methods normalise inside their estimator (as in veRL/GiGPO).

Which rule runs is `CREDIT_RULES[cfg.base_method]`: a registry variant (`hiper-paper`) runs its base's rule
under its own config. A new method registers a rule with `@credit_rule(name)` (docs/EXTENDING.md).

Discounting, training against the lab (`theory.estimators`): grpo and rloo here rank episodes by the
undiscounted sum of shaped rewards, as veRL does, and gigpo/hgigpo discount their step returns with
`method.gigpo_gamma`; the lab's group estimators use the discounted return R_0 and its gamma for both,
which makes them unbiased for the discounted objective. At gamma = gigpo_gamma = 1 the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from hiper_repro import credit
from hiper_repro.train.config import ShapingConfig, TrainConfig

if TYPE_CHECKING:
    from hiper_repro.agent.rollout import Rollout

NAN = float("nan")


@dataclass(frozen=True)
class Credit:
    """Per-turn (B, T) tensors, NaN where a quantity does not apply (padding, other blocks); built once by
    `assign_credit`."""

    rewards: Tensor
    """shaped reward r_t the estimators saw (environment reward x success_reward minus penalties)"""
    adv_switch: Tensor
    """advantage of the switch-block tokens"""
    adv_subgoal: Tensor
    """advantage of the subgoal-block tokens"""
    adv_action: Tensor
    """advantage of the action-block tokens (and of flat-format action tokens)"""
    targets: dict[str, Tensor]
    """value head name ('low', 'high', 'term', 'low_prev') -> target per turn; NaN where that head has no loss"""
    trace: dict[str, Tensor] = field(default_factory=dict)
    """per-turn variables for the traces' /turns group (adv_low, adv_high, adv_flat, ret_low, returns, ...)"""
    policy_skipped: bool = False
    """True when every shaped reward of the batch is zero: the policy update is skipped"""
    invalid: Tensor | None = None
    """(B, T) bool, real turns the parser rejected: their tokens outside any block take `adv_action`"""


def progress_shaping(turn_scores: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """F_t = gamma Phi(s_{t+1}) - Phi(s_t) with Phi(s_t) the score before turn t (0 at the start) and
    Phi := 0 after an episode's last turn (terminated or truncated); 0 at padding.

    Potential-based (Ng, Harada and Russell 1999): the shaped return of every episode is the original
    one minus Phi(s_0) = 0, so no policy's return, and hence no ranking of policies, changes; the dense
    signal only helps estimators that bootstrap (lambda < 1, or through the critic).
    """
    after = torch.where(mask, turn_scores.float(), torch.zeros(()))
    before = torch.nn.functional.pad(after[:, :-1], (1, 0))
    last = mask & ~torch.nn.functional.pad(mask[:, 1:], (0, 1))
    after = torch.where(last, torch.zeros(()), after)
    return torch.where(mask, gamma * after - before, torch.zeros(()))


def keep_penalties(switch: Tensor, mask: Tensor, changed_on_keep: Tensor, s: ShapingConfig) -> Tensor:
    """(B, T) penalty charged to each turn for its switch decisions (subtracted from the reward); 0 at
    turn 0 (it always switches) and at padding.

    An episode's decision turns are its turns 1..n (n = length - 1); k of them KEEP, n - k SWITCH.
    With c = keep_penalty, a KEEP turn pays
      'fixed':      c                       (episode total c k);
      'normalized': c / n                   (episode total c k / n, the authors' code's rule);
    plus keep_consistency_penalty when it changed the subgoal text, plus, when the episode's switch rate
    rho = (n - k) / n is below the floor f = switch_rate_floor, its share of the floor penalty
    switch_rate_floor_coef x (f - rho), spread evenly over the k KEEP turns (rho < f <= 1 implies k >= 1).
    Episodes without a decision turn (length 1) pay nothing.
    """
    t = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    decision = mask & (t > 0)
    keep = (decision & ~switch).float()
    n = decision.sum(1, keepdim=True).float()
    k = keep.sum(1, keepdim=True)
    n_safe = n.clamp(min=1.0)
    per_keep = s.keep_penalty / n_safe if s.keep_penalty_mode == "normalized" else s.keep_penalty
    pen = per_keep * keep + s.keep_consistency_penalty * keep * changed_on_keep.float()
    if s.switch_rate_floor_coef and s.switch_rate_floor:
        deficit = (s.switch_rate_floor - (n - k) / n_safe).clamp(min=0.0) * (n > 0)
        pen = pen + s.switch_rate_floor_coef * deficit / k.clamp(min=1.0) * keep
    return pen


def shape_rewards(rollout: Rollout, cfg: TrainConfig) -> Tensor:
    """r_t = success_reward * env r_t - invalid_penalty [invalid] - keep_penalties_t + progress_coef * F_t;
    0 at padding.

    "Invalid" follows `shaping.invalid_penalty_on`: 'format' charges replies that broke the format only
    (an inadmissible action gets the environment's "Nothing happens" and no penalty: charging it taught
    one run to say "go to ..." every turn, which is always admissible, while success fell), 'any' also
    charges inadmissible actions. The KEEP terms (`keep_penalties`: KEEP penalty in 'fixed' or
    'normalized' mode, consistency penalty, switch-rate floor) apply to the Plan-Execute format only (the
    flat format has no switch decision). F_t is `progress_shaping` on the environment's score.
    """
    s = cfg.shaping
    mask = rollout.mask
    r = rollout.rewards.float() * s.success_reward
    charged = ~rollout.well_formed if s.invalid_penalty_on == "format" else ~rollout.valid
    r = r - s.invalid_penalty * charged.float()
    if s.progress_coef:
        r = r + s.progress_coef * progress_shaping(rollout.turn_scores, mask, cfg.method.gamma)
    if cfg.fmt == "plan_execute":
        r = r - keep_penalties(rollout.switch, mask, rollout.subgoal_changed_on_keep, s)
    return torch.where(mask, r, torch.zeros_like(r))


def state_ids(keys: list[list[str]], shape: tuple[int, int]) -> Tensor:
    """(B, T) int64 ids of the rollout's hex state keys (GiGPO anchor states); 0 at padding."""
    out = torch.zeros(shape, dtype=torch.long)
    for b, row in enumerate(keys):  # string -> int conversion only; the grouping itself is vectorised
        out[b, : len(row)] = torch.tensor([int(k[:15], 16) if k else 0 for k in row], dtype=torch.long)
    return out


def text_ids(texts: list[list[str]], shape: tuple[int, int]) -> Tensor:
    """(B, T) int64 ids of per-turn texts (HGiGPO subgoal keys): equal texts, equal ids; 0 at padding.

    Ids are assigned in first-seen order over the batch, so they are exact (no hash collisions)."""
    ids: dict[str, int] = {}
    out = torch.zeros(shape, dtype=torch.long)
    for b, row in enumerate(texts):  # string -> int conversion only; the grouping itself is vectorised
        out[b, : len(row)] = torch.tensor([ids.setdefault(x, len(ids)) for x in row], dtype=torch.long)
    return out


def _nan_outside(x: Tensor, where: Tensor) -> Tensor:
    return torch.where(where, x, torch.full_like(x, NAN))


def _action_std(x: Tensor, where: Tensor) -> Tensor | None:
    """The action advantages' spread, the common scale of `ppo.whiten_scale: action` (None below two)."""
    return credit.masked_std(torch.nan_to_num(x), where) if int(where.sum()) >= 2 else None


class Blocks(NamedTuple):
    """(B, T) advantages per block type a credit rule returns, NaN where a block carries no loss."""

    switch: Tensor
    subgoal: Tensor
    action: Tensor


@dataclass
class CreditInputs:
    """What every credit rule reads: the rollout, the config, the shaped rewards and, for critic methods,
    flat turn-level GAE on V_low (`trace['adv_flat']`, `flat_returns`). Rules add per-turn trace variables
    to `trace` and value targets to `targets` (module table); a critic method's rule sets `targets['low']`
    (and `trace['ret_low']`, its trace)."""

    rollout: Rollout
    cfg: TrainConfig
    rewards: Tensor
    trace: dict[str, Tensor]
    targets: dict[str, Tensor]
    flat_returns: Tensor | None = None
    """(B, T) GAE returns on V_low, NaN at padding (critic methods; None otherwise)"""

    @property
    def mask(self) -> Tensor:
        return self.rollout.mask

    @property
    def starts(self) -> Tensor:
        """Segment starts (SWITCH turns; turn 0 always), real turns only."""
        return credit.segments_from_switch(self.rollout.switch, self.rollout.mask)[0]

    @property
    def decisions(self) -> Tensor:
        """Real turns t >= 1: where the switch token makes a decision (turn 0 always switches)."""
        return self.rollout.mask & ~_first(self.rollout.mask)


def _first(mask: Tensor) -> Tensor:
    first = torch.zeros_like(mask)
    first[:, :1] = mask[:, :1]
    return first


CreditRule = Callable[[CreditInputs], Blocks]
CREDIT_RULES: dict[str, CreditRule] = {}


def credit_rule(name: str) -> Callable[[CreditRule], CreditRule]:
    """Register the decorated function as the credit rule of base method `name`."""

    def add(fn: CreditRule) -> CreditRule:
        if name in CREDIT_RULES:
            raise ValueError(f"method {name!r} already has a credit rule")
        CREDIT_RULES[name] = fn
        return fn

    return add


@credit_rule("hiper")
def _hiper(x: CreditInputs) -> Blocks:
    """HAE: A_low on actions, A_high at segment starts, A_switch on decisions; value targets per head."""
    rollout, m, mask, term = x.rollout, x.cfg.method, x.mask, x.rollout.terminated
    starts, decision = x.starts, x.decisions
    h = credit.hae(
        x.rewards,
        rollout.value_low,
        rollout.value_high,
        rollout.switch,
        mask,
        term,
        gamma=m.gamma,
        lam_low=m.lam_low,
        lam_high=m.lam_high,
        lam_boundary=m.lam_boundary,
    )
    adv_low = _nan_outside(h.adv_low, mask)
    adv_high = _nan_outside(h.adv_high, starts)
    sw = credit.switch_advantage(
        rollout.switch,
        mask,
        rollout.value_high,
        form=m.switch_form,
        switch_prob=rollout.switch_prob,
        values_low_prev=rollout.value_low_prev,
        rewards=x.rewards,
        values_term=rollout.value_term if m.switch_form == "code" else None,
        terminated=term,
        gamma=m.gamma,
    )
    # Turn 0 always switches: its switch tokens make no decision and carry no loss.
    adv_switch = _nan_outside(sw.advantages, decision)
    x.trace["ret_low"] = x.targets["low"] = _nan_outside(h.ret_low, mask)
    x.trace |= {"adv_low": adv_low, "adv_high": adv_high, "adv_switch": adv_switch}
    x.targets["high"] = _nan_outside(h.ret_high, starts)
    if m.switch_form == "code":
        x.targets["term"] = _nan_outside(sw.returns, mask)
    else:
        # V_low(s_t, o_{t-1}) (prompt-end read) equals V_low(s_t, o_t) on KEEP turns: same target there;
        # on SWITCH turns it is a counterfactual with no observed return, so no loss.
        keep = decision & ~rollout.switch
        x.targets["low_prev"] = _nan_outside(h.ret_low, keep)
    if x.cfg.ppo.whiten:
        # 'action': one scale for every type, so A_switch keeps its size relative to A_low (whitened
        # on its own, a switch advantage with 1/5-1/20 of A_low's spread had its noise blown up).
        common = _action_std(adv_low, mask) if x.cfg.ppo.whiten_scale == "action" else None
        adv_low, adv_high, adv_switch = (
            credit.whiten_applicable(adv_low, mask),
            credit.whiten_applicable(adv_high, starts, std=common),
            credit.whiten_applicable(adv_switch, decision, std=common),
        )
    return Blocks(adv_switch, adv_high, adv_low)


def _flat_gae(x: CreditInputs) -> Blocks:
    """Turn-level GAE on V_low (computed for every critic method in `assign_credit`) for every block; V_low
    regresses on its returns."""
    x.trace["ret_low"] = x.targets["low"] = x.flat_returns
    a = x.trace["adv_flat"]
    if x.cfg.ppo.whiten:
        a = credit.whiten_applicable(a, x.mask)
    nan = torch.full_like(a, NAN)
    pe = x.cfg.fmt == "plan_execute"
    return Blocks(a if pe else nan, a if pe else nan, a)


credit_rule("ppo")(_flat_gae)
credit_rule("ppo-pe")(_flat_gae)


def _every_block(x: CreditInputs, a: Tensor) -> Blocks:
    a = _nan_outside(a.clone(), x.mask)
    return Blocks(a, a, a)


@credit_rule("grpo")
def _grpo(x: CreditInputs) -> Blocks:
    m = x.cfg.method
    a_ep = credit.grpo(x.rewards.sum(1), x.rollout.group_ids, normalize_std=m.grpo_std_normalise)
    return _every_block(x, a_ep[:, None].expand_as(x.rewards))


@credit_rule("rloo")
def _rloo(x: CreditInputs) -> Blocks:
    return _every_block(x, credit.rloo(x.rewards.sum(1), x.rollout.group_ids)[:, None].expand_as(x.rewards))


@credit_rule("gigpo")
def _gigpo(x: CreditInputs) -> Blocks:
    m = x.cfg.method
    a = credit.gigpo(
        x.rewards.sum(1),
        x.rollout.group_ids,
        credit.discounted_returns(x.rewards, x.mask, m.gigpo_gamma),
        state_ids(x.rollout.state_keys, x.mask.shape),
        x.mask,
        step_weight=m.gigpo_step_weight,
        normalize_std=m.gigpo_std_normalise,
    )
    return _every_block(x, a)


@credit_rule("hgigpo")
def _hgigpo(x: CreditInputs) -> Blocks:
    """credit.hgigpo: action tokens its `action`, subgoal tokens `subgoal` at segment starts (KEEP turns copy
    the subgoal: no loss), the switch token `switch` on decisions (turn 0 always switches: no loss)."""
    m, rollout, mask = x.cfg.method, x.rollout, x.mask
    h = credit.hgigpo(
        episode_returns=x.rewards.sum(1),
        group_ids=rollout.group_ids,
        step_returns=credit.discounted_returns(x.rewards, mask, m.gigpo_gamma),
        state_keys=state_ids(rollout.state_keys, mask.shape),
        subgoal_keys=text_ids(rollout.subgoals, mask.shape),
        switch=rollout.switch & mask,
        mask=mask,
        step_weight=m.gigpo_step_weight,
        normalize_std=m.gigpo_std_normalise,
    )
    blocks = Blocks(
        _nan_outside(h.switch, x.decisions), _nan_outside(h.subgoal, x.starts), _nan_outside(h.action, mask)
    )
    x.trace |= {"adv_high": blocks.subgoal, "adv_switch": blocks.switch}  # critic-free, same meaning
    return blocks


def _shared_trace(rollout: Rollout, cfg: TrainConfig, rewards: Tensor) -> dict[str, Tensor]:
    """The /turns variables every method records: `returns` (G_t, the discounted reward-to-go) and, in the
    Plan-Execute format, `segment_id`."""
    mask = rollout.mask
    trace = {"returns": _nan_outside(credit.discounted_returns(rewards, mask, cfg.method.gamma), mask)}
    if cfg.fmt == "plan_execute":
        trace["segment_id"] = credit.segments_from_switch(rollout.switch, mask)[1]
    return trace


def assign_credit(rollout: Rollout, cfg: TrainConfig) -> Credit:
    """Advantages per block and value targets per head for one iteration's rollout (see module table):
    shaped rewards, then the method's credit rule (`CREDIT_RULES[cfg.base_method]`)."""
    m, mask = cfg.method, rollout.mask
    rule = CREDIT_RULES.get(cfg.base_method)
    if rule is None:
        raise ValueError(
            f"method.name={m.name!r}: no credit rule for {cfg.base_method!r} in train.methods.CREDIT_RULES "
            "(docs/EXTENDING.md)"
        )
    rewards = shape_rewards(rollout, cfg)
    x = CreditInputs(rollout, cfg, rewards, _shared_trace(rollout, cfg, rewards), {})
    if cfg.has_critic:
        # adv_flat: what flat turn-level GAE on V_low would give on the same turns (every critic method)
        flat_adv, flat_ret = credit.gae(
            rewards, rollout.value_low, mask, rollout.terminated, gamma=m.gamma, lam=m.lam
        )
        x.trace["adv_flat"] = _nan_outside(flat_adv, mask)
        x.flat_returns = _nan_outside(flat_ret, mask)
    blocks = rule(x)
    if cfg.has_critic and "low" not in x.targets:
        raise ValueError(f"method.name={m.name!r}: its credit rule set no value target 'low' for its critic")
    return Credit(
        rewards=rewards,
        adv_switch=blocks.switch,
        adv_subgoal=blocks.subgoal,
        adv_action=blocks.action,
        targets=x.targets,
        trace=x.trace | {"adv_action": blocks.action},
        policy_skipped=bool(cfg.ppo.skip_zero_reward_batches and not bool((rewards[mask] != 0).any())),
        invalid=~rollout.valid & mask,
    )
