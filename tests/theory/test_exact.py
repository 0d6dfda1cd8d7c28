"""Exact objective and gradient: finite differences, two solvers, Monte Carlo."""

import pytest
import torch

from hiper_repro.theory.exact import exact_gradient, exact_values, finite_difference_gradient
from hiper_repro.theory.mdp import make_chain_mdp
from hiper_repro.theory.policy import init_policy
from hiper_repro.theory.sampler import sample_episodes


@pytest.mark.parametrize("gamma", [0.9, 1.0], ids=["gamma0.9", "gamma1"])
@pytest.mark.parametrize("method", ["solve", "layers"])
def test_gradient_matches_finite_differences(gamma, method):
    mdp = make_chain_mdp(2, steps=2, n_actions=3, seed=5)
    pol = init_policy(mdp, seed=5, skill=1.0)  # far from deterministic: a sizeable gradient
    _, grad = exact_gradient(mdp, pol, gamma, method=method)
    fd = finite_difference_gradient(mdp, pol, gamma, method=method)  # every coordinate
    assert grad.abs().max() > 1e-3  # a gradient worth checking
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)


def test_solvers_agree_on_values():
    mdp = make_chain_mdp(3, seed=1)
    pol = init_policy(mdp, seed=1)
    a = exact_values(mdp, pol, 0.95, method="solve")
    b = exact_values(mdp, pol, 0.95, method="layers")
    for x, y in zip((a.v_low, a.v_high, a.v_term), (b.v_low, b.v_high, b.v_term)):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


def test_value_identities():
    """V_high = E_o V_low; V_term mixes V_high and V_low by beta; J = V_high(0, s_0)."""
    mdp = make_chain_mdp(2, seed=4)
    pol = init_policy(mdp, seed=4)
    v = exact_values(mdp, pol, 1.0)
    beta, pi_o, _ = pol.probs()
    torch.testing.assert_close(v.v_high, (pi_o * v.v_low).sum(-1))
    torch.testing.assert_close(v.v_term, beta * v.v_high[..., None] + (1 - beta) * v.v_low)
    assert v.objective == v.v_high[0, 0]
    assert (v.v_low >= 0).all() and (v.v_low <= 1).all()


def test_objective_matches_monte_carlo_success_rate():
    mdp = make_chain_mdp(3, seed=2)
    pol = init_policy(mdp, seed=2)
    j = float(exact_values(mdp, pol, 1.0).objective)
    won = sample_episodes(mdp, pol, 20000, seed=0).won.double()
    se = float(won.std() / len(won) ** 0.5)
    assert 0.05 < j < 0.95
    assert abs(float(won.mean()) - j) < 3 * se


def test_pinned_switch_has_zero_switch_gradient():
    mdp = make_chain_mdp(2, seed=0)
    pol = init_policy(mdp, seed=0, free_switch=False)
    _, grad = exact_gradient(mdp, pol, 1.0)
    assert (grad[pol.block_slices()["switch"]] == 0).all()
    assert grad[pol.block_slices()["action"]].abs().max() > 0


def test_bad_input():
    mdp = make_chain_mdp(2, seed=0)
    pol = init_policy(mdp, seed=0)
    with pytest.raises(ValueError, match="gamma"):
        exact_values(mdp, pol, 1.5)
    with pytest.raises(ValueError, match="method"):
        exact_values(mdp, pol, 1.0, method="lu")
    with pytest.raises(ValueError, match="policy tables"):
        exact_values(make_chain_mdp(3, seed=0), pol, 1.0)
