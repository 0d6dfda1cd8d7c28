"""Exact objective, values and policy gradient of a tabular Plan-Execute policy on a chain MDP.

The policy induces a Markov chain over x = (t, s, o): turn t < H, non-terminal state s, active subgoal o
(the subgoal after this turn's switch decision). Its step kernel, for t + 1 < H and s' non-terminal, is

    P(x -> (t+1, s', o')) = sum_a pi_a(a|s,o) P(s'|s,a) * [(1 - beta(s',o)) 1{o'=o} + beta(s',o) pi_o(o'|s')]

with expected reward r(x) = sum_a pi_a(a|s,o) r(s,a). Success and time-out leave the chain (value 0).
Solving (I - gamma P) v = r gives the execution value V_low(t, s, o) = v; from it

    V_high(t, s)        = sum_o pi_o(o|s) V_low(t, s, o)                        (a subgoal is about to be chosen)
    V_term(t, s, o_prev) = beta(s,o_prev) V_high(t, s) + (1 - beta) V_low(t, s, o_prev)   (nothing chosen yet)
    J                    = V_high(0, s_0)                                       (turn 0 always switches)

V_term is also the flat critic's value: the chain's state before a turn is (t, s_t, o_{t-1}), what a flat
value head sees in the Plan-Execute prompt (at t = 0 it is V_high). Everything is float64 torch, so autograd
through ``torch.linalg.solve`` gives the exact gradient dJ/dtheta. ``method="layers"`` solves the same
block-triangular system by back-substitution over turns (t increases along every transition), cheaper for
big grids; the two agree to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from hiper_repro.theory.mdp import ChainMDP
from hiper_repro.theory.policy import TabularPolicy

METHODS = ("solve", "layers")


@dataclass(frozen=True)
class ExactValues:
    """Exact values of one (MDP, policy, gamma); tensors float64, differentiable in theta.

    Attributes:
        v_low: (H, S, G) V_low(t, s, o).
        v_high: (H, S) V_high(t, s).
        v_term: (H, S, G) V_term(t, s, o_prev), the flat value before the turn's decisions.
        objective: scalar J = V_high(0, s_0), s_0 = 0.
    """

    v_low: torch.Tensor
    v_high: torch.Tensor
    v_term: torch.Tensor
    objective: torch.Tensor

    def detached(self) -> ExactValues:
        return ExactValues(*(x.detach() for x in (self.v_low, self.v_high, self.v_term, self.objective)))


def _check_gamma(gamma: float) -> float:
    if not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma!r}")
    return float(gamma)


def _low_values_solve(mdp: ChainMDP, beta, pi_o, pi_a, gamma: float) -> torch.Tensor:
    s_n, g_n, h = mdp.n_states, mdp.n_subgoals, mdp.horizon
    p = mdp.transitions[:, :, :s_n]  # only non-terminal successors stay in the chain
    move = torch.einsum("soa,sax->sox", pi_a, p)  # (S, G, S')
    keep = torch.eye(g_n, dtype=torch.float64)
    nxt = (1.0 - beta)[:, :, None] * keep[None] + beta[:, :, None] * pi_o[:, None, :]  # (S', G, G')
    step = torch.einsum("sox,xop->soxp", move, nxt).reshape(s_n * g_n, s_n * g_n)
    shift = torch.diag(torch.ones(h - 1, dtype=torch.float64), diagonal=1)  # turn t -> t + 1
    big = torch.kron(shift, step)
    r = torch.einsum("soa,sa->so", pi_a, mdp.rewards).reshape(-1).repeat(h)
    eye = torch.eye(big.shape[0], dtype=torch.float64)
    return torch.linalg.solve(eye - gamma * big, r).reshape(h, s_n, g_n)


def _low_values_layers(mdp: ChainMDP, beta, pi_o, pi_a, gamma: float) -> torch.Tensor:
    s_n, g_n = mdp.n_states, mdp.n_subgoals
    p = mdp.transitions[:, :, :s_n]
    r = torch.einsum("soa,sa->so", pi_a, mdp.rewards)
    move = torch.einsum("soa,sax->sox", pi_a, p)  # (S, G, S'), same for every turn
    v_term_next = torch.zeros(s_n, g_n, dtype=torch.float64)
    layers = []
    for _ in range(mdp.horizon):  # t = H-1 down to 0
        cont = (move * v_term_next.T[None]).sum(-1)
        v_low = r + gamma * cont
        v_high = (pi_o * v_low).sum(-1)
        v_term_next = beta * v_high[:, None] + (1.0 - beta) * v_low
        layers.append(v_low)
    return torch.stack(layers[::-1])


def exact_values(
    mdp: ChainMDP, policy: TabularPolicy, gamma: float, *, method: str = "solve", theta=None
) -> ExactValues:
    """Exact V_low, V_high, V_term and J (module docstring) at ``theta`` (default: the policy's own)."""
    gamma = _check_gamma(gamma)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if (policy.n_states, policy.n_subgoals, policy.n_actions) != (
        mdp.n_states,
        mdp.n_subgoals,
        mdp.n_actions,
    ):
        raise ValueError(
            "policy tables (S, G, A) = "
            f"{(policy.n_states, policy.n_subgoals, policy.n_actions)} do not fit the MDP "
            f"{(mdp.n_states, mdp.n_subgoals, mdp.n_actions)}"
        )
    beta, pi_o, pi_a = policy.probs(theta)
    solver = _low_values_solve if method == "solve" else _low_values_layers
    v_low = solver(mdp, beta, pi_o, pi_a, gamma)
    v_high = (pi_o[None] * v_low).sum(-1)
    v_term = beta[None] * v_high[..., None] + (1.0 - beta[None]) * v_low
    return ExactValues(v_low, v_high, v_term, v_high[0, 0])


def exact_gradient(
    mdp: ChainMDP, policy: TabularPolicy, gamma: float, *, method: str = "solve"
) -> tuple[float, torch.Tensor]:
    """(J, dJ/dtheta) at the policy's theta, by autograd through the exact solution."""
    theta = policy.theta.detach().clone().requires_grad_(True)
    objective = exact_values(mdp, policy, gamma, method=method, theta=theta).objective
    (grad,) = torch.autograd.grad(objective, theta)
    return float(objective.detach()), grad.detach()


def finite_difference_gradient(
    mdp: ChainMDP,
    policy: TabularPolicy,
    gamma: float,
    *,
    indices: Sequence[int] | None = None,
    eps: float = 1e-6,
    method: str = "solve",
) -> torch.Tensor:
    """Central differences (J(theta + eps e_i) - J(theta - eps e_i)) / 2 eps for the chosen coordinates."""
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    idx = range(policy.n_params) if indices is None else indices
    out = []
    with torch.no_grad():
        for i in idx:
            if not 0 <= int(i) < policy.n_params:
                raise ValueError(f"indices must lie in [0, {policy.n_params}), got {i!r}")
            step = torch.zeros(policy.n_params, dtype=torch.float64)
            step[int(i)] = eps
            up = exact_values(mdp, policy, gamma, method=method, theta=policy.theta + step).objective
            down = exact_values(mdp, policy, gamma, method=method, theta=policy.theta - step).objective
            out.append((up - down) / (2 * eps))
    return torch.stack(out)
