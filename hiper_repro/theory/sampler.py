"""Sample episodes of a tabular Plan-Execute policy on a chain MDP, all episodes stepping together.

Per turn t of every live episode: q_t ~ pi(. | s_t, o_{t-1}) (forced SWITCH at t = 0, KEEP after it when
the policy's switch is not free); o_t ~ pi_o(. | s_t) on SWITCH, else o_t = o_{t-1}; a_t ~ pi_a(. | s_t, o_t);
s_{t+1} ~ P(. | s_t, a_t). An episode ends on success (reward 1) or at the turn limit H. Both ends are true
ends of the lab's MDP (time is part of its state), so ``terminated`` is True on the last real turn of every
episode and the value after it is 0; ``won`` tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hiper_repro.theory.mdp import ChainMDP
from hiper_repro.theory.policy import TabularPolicy


@dataclass(frozen=True)
class Episodes:
    """B episodes padded to H turns; index tensors are 0 at padding (mask False), so gathers stay legal.

    Attributes (all (B, H) unless said):
        state: s_t.  prev_subgoal: o_{t-1} (0 at t = 0, unused there).  switch: q_t (True = SWITCH).
        subgoal: o_t.  action: a_t.  reward: r_t (float64).  mask: real turns (a prefix of each row).
        terminated: True on the last real turn.  won: (B,) bool.  length: (B,) long.
    """

    state: torch.Tensor
    prev_subgoal: torch.Tensor
    switch: torch.Tensor
    subgoal: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    mask: torch.Tensor
    terminated: torch.Tensor
    won: torch.Tensor
    length: torch.Tensor

    @property
    def n_episodes(self) -> int:
        return int(self.mask.shape[0])


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1) by inverting the cumulative distribution."""
    u = rng.random((probs.shape[0], 1))
    return np.minimum((np.cumsum(probs, axis=-1) < u).sum(-1), probs.shape[-1] - 1)


def sample_episodes(mdp: ChainMDP, policy: TabularPolicy, n_episodes: int, seed: int) -> Episodes:
    """Sample ``n_episodes`` episodes from state 0; the same seed gives the same episodes."""
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x657073]))
    beta, pi_o, pi_a = (x.detach().numpy() for x in policy.probs())
    p = mdp.transitions.numpy()
    b, h, terminal = n_episodes, mdp.horizon, mdp.n_states

    out = {k: np.zeros((b, h), dtype=np.int64) for k in ("state", "prev_subgoal", "subgoal", "action")}
    switch = np.zeros((b, h), dtype=bool)
    reward = np.zeros((b, h))
    mask = np.zeros((b, h), dtype=bool)
    state = np.zeros(b, dtype=np.int64)
    prev = np.zeros(b, dtype=np.int64)
    live = np.ones(b, dtype=bool)
    for t in range(h):
        i = np.flatnonzero(live)
        if i.size == 0:
            break
        s, o_prev = state[i], prev[i]
        if t == 0:
            q = np.ones(i.size, dtype=bool)
        elif policy.free_switch:
            q = rng.random(i.size) < beta[s, o_prev]
        else:
            q = np.zeros(i.size, dtype=bool)
        drawn = _categorical(rng, pi_o[s])
        o = np.where(q, drawn, o_prev)
        a = _categorical(rng, pi_a[s, o])
        nxt = _categorical(rng, p[s, a])
        out["state"][i, t], out["prev_subgoal"][i, t] = s, o_prev
        out["subgoal"][i, t], out["action"][i, t] = o, a
        switch[i, t], mask[i, t] = q, True
        reward[i, t] = (nxt == terminal).astype(float)
        state[i], prev[i] = np.where(nxt == terminal, 0, nxt), o
        live[i[nxt == terminal]] = False

    length = mask.sum(1)
    terminated = np.zeros((b, h), dtype=bool)
    terminated[np.arange(b), length - 1] = True
    won = reward.sum(1) > 0
    return Episodes(
        **{k: torch.as_tensor(v) for k, v in out.items()},
        switch=torch.as_tensor(switch),
        reward=torch.as_tensor(reward),
        mask=torch.as_tensor(mask),
        terminated=torch.as_tensor(terminated),
        won=torch.as_tensor(won),
        length=torch.as_tensor(length),
    )
