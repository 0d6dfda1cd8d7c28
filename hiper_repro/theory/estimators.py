"""Per-episode policy-gradient estimates from sampled episodes, one per estimator, via `hiper_repro.credit`.

For episode i the estimate is (tabular softmax: grad_theta log softmax(theta_x)[c] = e_c - pi_x)

    g_i = sum_t w_t [ A^act_t  grad log pi_a(a_t | s_t, o_t)
                    + A^sub_t  grad log pi_o(o_t | s_t)         at segment starts (q_t = SWITCH)
                    + A^sw_t   grad log pi_q(q_t | s_t, o_{t-1}) for t > 0 (turn 0 always switches) ]

The weight w_t makes each estimator an unbiased form of grad J for the discounted objective when its
baseline is exact: w_t = gamma^t for the turn-level estimators, whose advantages look forward from turn t
(policy-gradient theorem), and w_t = 1 for the episode-level ones, whose advantages use the whole episode's
return R_0 (trajectory form, E[R_0 sum_t grad log pi_t] = grad J). At gamma = 1, the authors' default, both
are 1; PPO-style code drops gamma^t, which biases turn-level estimators for gamma < 1. Advantages:

- ``reinforce``: A = discounted return-to-go for all three terms (``credit.gae`` with zero values, lam = 1).
- ``gae``: flat GAE with the flat critic V_term(t, s_t, o_{t-1}); one advantage for the whole turn.
- ``hae``: ``credit.hae``: A_low on the action, A_high on the subgoal at segment starts, and the paper's
  switch advantage (q_t - beta_t)(V_high(s_t) - V_low(s_t, o_{t-1})); ``lam_boundary`` (default 0, the
  paper's) mixes R_high_{k+1} into the low level's segment-end bootstrap.
- ``hae_code``: as ``hae`` with the authors' code form of the switch advantage (target - V_term).
- ``grpo``: the group-normalised episode return (``credit.grpo``) on every term of every turn.
- ``rloo``: the leave-one-out centred episode return (``credit.rloo``), likewise.
- ``gigpo``: ``credit.gigpo`` with step weight 1, anchor states = the MDP state s_t, step returns = the
  discounted return-to-go (``credit.discounted_returns``).
- ``hgigpo``: ``credit.hgigpo`` with the same arguments plus subgoal keys = the subgoal o_t: its ``action``
  on the action, ``subgoal`` at segment starts, ``switch`` on the switch decisions (t > 0): HAE's three
  terms with group baselines in place of V_low and V_high.

Group methods split the B episodes into consecutive groups of ``group_size`` from the same start state.

Which training method each estimator stands for is `hiper_repro.methods_registry` (``MethodSpec.estimator``:
hiper -> hae, ppo and ppo-pe -> gae, grpo, rloo, gigpo, hgigpo -> themselves); the group and critic sets
below are read from it. One difference is deliberate: the lab's group estimators rank episodes by the
discounted return R_0 and discount GiGPO's step returns with the lab's gamma (unbiased for the discounted
objective, the exact gradient's), while training (`train.methods`) uses the undiscounted episode sum, as
veRL does, and ``method.gigpo_gamma`` for step returns. At gamma = 1 they coincide.

Critics are the exact values, or the exact values plus a fixed per-entry N(0, sigma^2) error (a critic that is
consistently wrong in each state, drawn once per seed), the controlled noise of the lab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hiper_repro import methods_registry
from hiper_repro.credit import discounted_returns, gae, gigpo, grpo, hae, hgigpo, rloo, switch_advantage
from hiper_repro.theory.exact import ExactValues
from hiper_repro.theory.policy import TabularPolicy
from hiper_repro.theory.sampler import Episodes

ESTIMATORS: tuple[str, ...] = ("reinforce", "gae", "hae", "hae_code", "grpo", "rloo", "gigpo", "hgigpo")
#: estimators of the registry's group methods: critic-free, computed on groups of ``group_size`` episodes
GROUP_ESTIMATORS: frozenset[str] = frozenset(s.estimator for s in methods_registry.specs() if s.is_group)
#: estimators whose advantages read a critic or lambda (the others are computed once per sample set):
#: the critic methods' and the code form of HAE's switch
USES_CRITIC: frozenset[str] = frozenset(
    {s.estimator for s in methods_registry.specs() if s.has_critic and s.estimator} | {"hae_code"}
)


@dataclass(frozen=True)
class Critics:
    """Value tables the estimators read: v_low (H,S,G), v_high (H,S), v_term (H,S,G), float64."""

    v_low: torch.Tensor
    v_high: torch.Tensor
    v_term: torch.Tensor


def exact_critics(values: ExactValues) -> Critics:
    """The exact critics of ``exact.exact_values``, detached."""
    v = values.detached()
    return Critics(v.v_low, v.v_high, v.v_term)


def noisy_critics(critics: Critics, sigma: float, seed: int) -> Critics:
    """Exact critics plus independent N(0, sigma^2) errors per table entry, fixed for a given seed.

    The errors are consistent across episodes (a mis-fitted critic, not fresh noise per visit), so with
    lambda < 1 they bias the bootstrapped estimators; with lambda = 1 only baselines and segment-end
    bootstraps of HAE see them.
    """
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if sigma == 0:
        return critics
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6372697]))

    def noisy(x: torch.Tensor) -> torch.Tensor:
        return x + sigma * torch.as_tensor(rng.standard_normal(tuple(x.shape)))

    return Critics(noisy(critics.v_low), noisy(critics.v_high), noisy(critics.v_term))


@dataclass(frozen=True)
class TurnValues:
    """Critic readings along the episodes, (B, H) float64, 0 at padding.

    value_low: V_low(t, s_t, o_t).  value_high: V_high(t, s_t).  value_flat: V_term(t, s_t, o_{t-1}),
    V_high at t = 0.  value_low_prev: V_low(t, s_t, o_{t-1}) (the paper's KEEP value; t = 0: V_high).
    """

    value_low: torch.Tensor
    value_high: torch.Tensor
    value_flat: torch.Tensor
    value_low_prev: torch.Tensor


def turn_values(episodes: Episodes, critics: Critics) -> TurnValues:
    t = torch.arange(episodes.mask.shape[1]).expand_as(episodes.state)
    s, o, o_prev, m = episodes.state, episodes.subgoal, episodes.prev_subgoal, episodes.mask
    first = t == 0
    high = critics.v_high[t, s]
    flat = torch.where(first, high, critics.v_term[t, s, o_prev])
    low_prev = torch.where(first, high, critics.v_low[t, s, o_prev])
    zero = torch.zeros((), dtype=torch.float64)
    return TurnValues(*(torch.where(m, x, zero) for x in (critics.v_low[t, s, o], high, flat, low_prev)))


@dataclass(frozen=True)
class TurnAdvantages:
    """Advantages per log-prob term, (B, H) float64, zero where the term does not exist; ``discounted``:
    weight turn t by gamma^t (turn-level advantages) or by 1 (episode-level ones), module docstring."""

    switch: torch.Tensor
    subgoal: torch.Tensor
    action: torch.Tensor
    discounted: bool = True


def _switch_probs(policy: TabularPolicy, episodes: Episodes) -> torch.Tensor:
    beta = policy.probs()[0].detach()
    return beta[episodes.state, episodes.prev_subgoal]


def turn_advantages(
    estimator: str,
    policy: TabularPolicy,
    episodes: Episodes,
    critics: Critics | None,
    *,
    gamma: float,
    lam: float,
    group_size: int = 8,
    lam_boundary: float = 0.0,
) -> TurnAdvantages:
    """Advantages of ``estimator`` (module docstring) for the three log-prob terms of every turn;
    ``lam_boundary`` is HAE's segment-end bootstrap mix (``credit.hae``; 0: the paper's HAE)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if estimator in USES_CRITIC and critics is None:
        raise ValueError(f"estimator {estimator!r} needs critics, got None")
    r, m, term = episodes.reward, episodes.mask, episodes.terminated
    t = torch.arange(m.shape[1]).expand_as(m)
    start = episodes.switch & m  # segment starts (turn 0 included)
    can_switch = m & (t > 0) & policy.free_switch
    zero = torch.zeros_like(r)

    def spread(adv: torch.Tensor, discounted: bool = True) -> TurnAdvantages:  # one for the whole turn
        adv = torch.where(m, adv, zero)
        return TurnAdvantages(
            torch.where(can_switch, adv, zero), torch.where(start, adv, zero), adv, discounted
        )

    if estimator in ("reinforce", "gae"):
        values = zero if estimator == "reinforce" else turn_values(episodes, critics).value_flat
        return spread(gae(r, values, m, term, gamma, 1.0 if estimator == "reinforce" else lam)[0])
    if estimator in GROUP_ESTIMATORS:
        b = m.shape[0]
        if (
            isinstance(group_size, bool)
            or not isinstance(group_size, int)
            or group_size < 2
            or b % group_size
        ):
            raise ValueError(f"group_size must be >= 2 and divide the {b} episodes, got {group_size!r}")
        group = torch.arange(b) // group_size
        to_go = discounted_returns(r, m, gamma)  # the discounted return from each turn
        if estimator == "gigpo":
            adv = gigpo(to_go[:, 0], group, to_go, episodes.state, m, step_weight=1.0)
            return spread(adv, discounted=False)
        if estimator == "hgigpo":
            h = hgigpo(
                episode_returns=to_go[:, 0],
                group_ids=group,
                step_returns=to_go,
                state_keys=episodes.state,
                subgoal_keys=episodes.subgoal,
                switch=episodes.switch,
                mask=m,
                step_weight=1.0,
            )
            return TurnAdvantages(
                torch.where(can_switch, h.switch, zero),
                torch.where(start, h.subgoal, zero),
                torch.where(m, h.action, zero),
                discounted=False,
            )
        fn = grpo if estimator == "grpo" else rloo
        return spread(fn(to_go[:, 0], group)[:, None].expand_as(r), discounted=False)

    v = turn_values(episodes, critics)
    res = hae(
        r, v.value_low, v.value_high, episodes.switch, m, term, gamma, lam, lam, lam_boundary=lam_boundary
    )
    if estimator == "hae":
        sw = switch_advantage(
            episodes.switch,
            m,
            v.value_high,
            form="paper",
            switch_prob=_switch_probs(policy, episodes),
            values_low_prev=v.value_low_prev,
        )
    else:
        sw = switch_advantage(
            episodes.switch,
            m,
            v.value_high,
            form="code",
            rewards=r,
            values_term=v.value_flat,
            terminated=term,
            gamma=gamma,
        )
    return TurnAdvantages(
        torch.where(can_switch, sw.advantages, zero),
        torch.where(start, res.adv_high, zero),
        torch.where(m, res.adv_low, zero),
    )


def episode_gradients(
    policy: TabularPolicy, episodes: Episodes, adv: TurnAdvantages, gamma: float
) -> torch.Tensor:
    """Per-episode estimates g_i (module docstring) as a (B, P) float64 tensor in theta's layout.

    Scatter-adds each turn's weighted score e_c - pi_x into its table row, all episodes at once.
    """
    beta, pi_o, pi_a = (x.detach() for x in policy.probs())
    b, h = episodes.mask.shape
    s_n, g_n, a_n = policy.n_states, policy.n_subgoals, policy.n_actions
    s, o, o_prev, m = episodes.state, episodes.subgoal, episodes.prev_subgoal, episodes.mask
    weight = (
        gamma ** torch.arange(h, dtype=torch.float64)
        if adv.discounted
        else torch.ones(h, dtype=torch.float64)
    )
    w = torch.where(m, weight, torch.zeros((), dtype=torch.float64))
    episode = torch.arange(b)[:, None].expand(b, h)

    def scatter(rows: torch.Tensor, n_rows: int, score: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        contrib = (w * a)[..., None] * score
        out = torch.zeros(b * n_rows, score.shape[-1], dtype=torch.float64)
        out.index_add_(0, (episode * n_rows + rows).reshape(-1), contrib.reshape(-1, score.shape[-1]))
        return out.reshape(b, -1)

    q = episodes.switch.long()
    pq = torch.stack([1.0 - beta, beta], dim=-1)[s, o_prev]
    score_q = torch.nn.functional.one_hot(q, 2).double() - pq
    score_o = torch.nn.functional.one_hot(o, g_n).double() - pi_o[s]
    score_a = torch.nn.functional.one_hot(episodes.action, a_n).double() - pi_a[s, o]
    return torch.cat(
        [
            scatter(s * g_n + o_prev, s_n * g_n, score_q, adv.switch),
            scatter(s, s_n, score_o, adv.subgoal),
            scatter(s * g_n + o, s_n * g_n, score_a, adv.action),
        ],
        dim=1,
    )
