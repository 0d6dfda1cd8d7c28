"""Tabular softmax Plan-Execute policy: switch, subgoal and action tables.

The factorisation is the agent's (docs/METHOD.md section 1), with the state s_t of the chain MDP in place of
the prompt:

    pi(q_t | s_t, o_{t-1}) * [pi(o_t | s_t) if q_t = SWITCH else 1{o_t = o_{t-1}}] * pi(a_t | s_t, o_t)

Turn 0 always switches (there is no previous subgoal). Each factor is a softmax over a logits table:
``switch`` (S, G, 2) with column 1 = SWITCH, ``subgoal`` (S, G), ``action`` (S, G, A). All parameters live in
one flat float64 vector theta = [switch, subgoal, action] (row-major), the vector every gradient in the lab
is measured in. With ``free_switch=False`` the policy never switches after turn 0 (one segment per episode)
and the switch table is unused, so its exact gradient is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hiper_repro.theory.mdp import ChainMDP

BLOCKS: tuple[str, ...] = ("switch", "subgoal", "action")


@dataclass(frozen=True)
class TabularPolicy:
    """Shapes of the three logits tables and the flat parameter vector theta.

    Attributes:
        n_states: S.  n_subgoals: G.  n_actions: A.
        theta: (P,) float64 tensor, P = S*G*2 + S*G + S*G*A.
        free_switch: False pins q_t = KEEP for t > 0.
    """

    n_states: int
    n_subgoals: int
    n_actions: int
    theta: torch.Tensor
    free_switch: bool = True

    @property
    def block_sizes(self) -> dict[str, int]:
        s, g, a = self.n_states, self.n_subgoals, self.n_actions
        return {"switch": s * g * 2, "subgoal": s * g, "action": s * g * a}

    @property
    def n_params(self) -> int:
        return sum(self.block_sizes.values())

    def block_slices(self) -> dict[str, slice]:
        """Where each block sits in theta."""
        out, start = {}, 0
        for name, size in self.block_sizes.items():
            out[name] = slice(start, start + size)
            start += size
        return out

    def tables(self, theta: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits tables (switch (S,G,2), subgoal (S,G), action (S,G,A)) as views of theta (default own)."""
        theta = self.theta if theta is None else theta
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {tuple(theta.shape)}")
        s, g, a = self.n_states, self.n_subgoals, self.n_actions
        sl = self.block_slices()
        return (
            theta[sl["switch"]].reshape(s, g, 2),
            theta[sl["subgoal"]].reshape(s, g),
            theta[sl["action"]].reshape(s, g, a),
        )

    def probs(self, theta: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(beta (S,G) = P(SWITCH | s, o_prev), pi_o (S,G), pi_a (S,G,A)); differentiable in theta."""
        q, o, a = self.tables(theta)
        beta = torch.softmax(q, dim=-1)[..., 1]
        if not self.free_switch:
            beta = torch.zeros_like(beta)
        return beta, torch.softmax(o, dim=-1), torch.softmax(a, dim=-1)

    def with_theta(self, theta: torch.Tensor) -> TabularPolicy:
        return TabularPolicy(self.n_states, self.n_subgoals, self.n_actions, theta, self.free_switch)


def init_policy(
    mdp: ChainMDP,
    *,
    seed: int = 0,
    scale: float = 1.0,
    skill: float = 3.0,
    plan: float = 1.0,
    commit: float = 1.0,
    free_switch: bool = True,
) -> TabularPolicy:
    """A policy at which the lab measures gradients: noise plus structure that makes subgoals informative.

    Subgoal o stands for subtask o mod K: its action table favours that subtask's correct actions
    (logit + ``skill`` on ``correct[o mod K, j]`` in every state (k, j)), so the action distribution and
    V_low(s, o) depend on o. The subgoal table prefers the active subtask (+``plan``), and the switch table
    leans to SWITCH when o_prev is not the active subtask's subgoal and to KEEP when it is (+-``commit``).
    Every logit also gets ``scale`` * N(0, 1) noise. With skill = plan = commit = 0 the subgoal is pure noise.
    """
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale!r}")
    s_n, g_n, a_n, k_n = mdp.n_states, mdp.n_subgoals, mdp.n_actions, mdp.n_subtasks
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x706F6C]))
    switch = scale * rng.standard_normal((s_n, g_n, 2))
    subgoal = scale * rng.standard_normal((s_n, g_n))
    action = scale * rng.standard_normal((s_n, g_n, a_n))

    state = np.arange(s_n)
    k, j = state // mdp.steps, state % mdp.steps
    goal = np.arange(g_n)
    own = (goal[None, :] % k_n) == k[:, None]  # (S, G): subgoal o matches the active subtask
    action[state[:, None], goal[None, :], mdp.correct[goal[None, :] % k_n, j[:, None]]] += skill
    subgoal += plan * own
    switch[..., 1] += commit * np.where(own, -1.0, 1.0)

    theta = torch.as_tensor(np.concatenate([switch.ravel(), subgoal.ravel(), action.ravel()]))
    return TabularPolicy(s_n, g_n, a_n, theta.to(torch.float64), bool(free_switch))
