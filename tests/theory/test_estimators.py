"""Monte Carlo gradient estimators against the exact gradient (the lab's checks of `hiper_repro.credit`).

Expected numbers come from `theory.exact` (autograd through the solved chain, itself checked against finite
differences in test_exact.py). Seeds are fixed, so every statistical check gives the same answer each run;
thresholds are 3 standard errors.
"""

import pytest
import torch

from hiper_repro.theory.estimators import (
    TurnAdvantages,
    episode_gradients,
    exact_critics,
    noisy_critics,
    turn_advantages,
)
from hiper_repro.theory.exact import exact_gradient, exact_values
from hiper_repro.theory.mdp import make_chain_mdp
from hiper_repro.theory.moments import gradient_moments, projection_z
from hiper_repro.theory.policy import init_policy
from hiper_repro.theory.sampler import sample_episodes


def _lab(k=3, seed=3, n=20000, gamma=1.0, **policy_kw):
    mdp = make_chain_mdp(k, seed=seed, n_subgoals=policy_kw.pop("n_subgoals", None))
    pol = init_policy(mdp, seed=seed, **policy_kw)
    _, grad = exact_gradient(mdp, pol, gamma)
    critics = exact_critics(exact_values(mdp, pol, gamma))
    return mdp, pol, grad, critics, sample_episodes(mdp, pol, n, seed=seed + 100)


def _estimates(name, pol, ep, critics, gamma=1.0, lam=1.0):
    adv = turn_advantages(name, pol, ep, critics, gamma=gamma, lam=lam)
    return episode_gradients(pol, ep, adv, gamma)


def test_scores_match_autograd_of_log_probs():
    """With unit advantages g_i is the gradient of sum_t gamma^t log pi(turn t) of episode i."""
    mdp = make_chain_mdp(2, seed=1)
    pol = init_policy(mdp, seed=1)
    ep = sample_episodes(mdp, pol, 6, seed=0)
    t = torch.arange(mdp.horizon)
    ones = ep.mask.double()
    adv = TurnAdvantages(ones * (t > 0), ones * ep.switch, ones)
    gamma = 0.9
    got = episode_gradients(pol, ep, adv, gamma)
    for i in range(6):
        theta = pol.theta.clone().requires_grad_(True)
        beta, pi_o, pi_a = pol.probs(theta)
        total = 0.0
        for u in range(int(ep.length[i])):
            s, o, op, a, q = (
                int(x[i, u]) for x in (ep.state, ep.subgoal, ep.prev_subgoal, ep.action, ep.switch)
            )
            logp = torch.log(pi_a[s, o, a])
            if q:
                logp = logp + torch.log(pi_o[s, o])
            if u > 0:
                logp = logp + torch.log(beta[s, op] if q else 1 - beta[s, op])
            total = total + gamma**u * logp
        (want,) = torch.autograd.grad(total, theta)
        torch.testing.assert_close(got[i], want)


@pytest.mark.parametrize("name", ["reinforce", "gae", "hae", "hae_code", "rloo"])
@pytest.mark.parametrize("gamma", [0.95, 1.0], ids=["gamma0.95", "gamma1"])
def test_unbiased_with_exact_critics_and_lambda_1(name, gamma):
    """Mean estimate within 3 standard errors of the exact gradient, along g* and 3 random directions."""
    _, pol, grad, critics, ep = _lab(gamma=gamma)
    g = _estimates(name, pol, ep, critics, gamma=gamma)
    directions = [grad / grad.norm()] + list(
        torch.randn(3, grad.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    )
    for u in directions:
        assert abs(projection_z(g, grad, u)) < 3.0
    stats = gradient_moments(g, grad)
    assert stats["cosine"] > 0.99
    assert stats["bias_norm"] < 3 * stats["bias_se"]


def test_noisy_critic_with_small_lambda_is_biased():
    """Negative control: the same check flags a biased estimator (bootstrapping from a wrong critic)."""
    mdp, pol, grad, critics, ep = _lab()
    bad = noisy_critics(critics, 0.3, seed=1)
    g = _estimates("hae", pol, ep, bad, lam=0.5)
    held_out = _estimates("hae", pol, sample_episodes(mdp, pol, 20000, seed=7), bad, lam=0.5)
    direction = held_out.mean(0) - grad  # bias direction from independent episodes
    assert projection_z(g, grad, direction) > 3.0


def test_uninformative_subgoal_gives_hae_the_variance_of_flat_gae():
    """One subgoal and no switching after turn 0: V_low = V_flat and one segment, so HAE is flat GAE."""
    _, pol, grad, critics, ep = _lab(n=4000, n_subgoals=1, free_switch=False)
    for lam in (1.0, 0.9):
        hae_g = _estimates("hae", pol, ep, critics, lam=lam)
        gae_g = _estimates("gae", pol, ep, critics, lam=lam)
        torch.testing.assert_close(hae_g, gae_g)
        v_hae, v_gae = (gradient_moments(x, grad)["variance"] for x in (hae_g, gae_g))
        assert v_hae == pytest.approx(v_gae, rel=1e-12)


def test_one_subgoal_with_free_switching_hae_is_no_worse_than_flat_gae():
    """One subgoal but switching allowed: the paper-form switch advantage is 0 (V_high = V_low), and
    segment-end bootstraps only remove variance, so HAE <= flat GAE, unbiased either way."""
    _, pol, grad, critics, ep = _lab(n=8000, n_subgoals=1)
    hae_g, gae_g = (_estimates(n, pol, ep, critics) for n in ("hae", "gae"))
    sl = pol.block_slices()
    assert (hae_g[:, sl["switch"]] == 0).all() and (hae_g[:, sl["subgoal"]] == 0).all()
    v_hae, v_gae = (gradient_moments(x, grad)["variance"] for x in (hae_g, gae_g))
    assert v_hae <= v_gae


def test_informative_subgoal_lowers_hae_variance():
    _, pol, grad, critics, ep = _lab(n=8000)
    v = {
        n: gradient_moments(_estimates(n, pol, ep, critics), grad, pol.block_slices()) for n in ("hae", "gae")
    }
    assert v["hae"]["variance"] < 0.8 * v["gae"]["variance"]
    for block in ("switch", "action"):
        assert v["hae"][f"variance_{block}"] < v["gae"][f"variance_{block}"]


def test_grpo_is_biased_in_scale_but_aligned():
    """GRPO divides by the group's return spread: the mean estimate points along g* but is not g*."""
    _, pol, grad, _, ep = _lab()
    stats = gradient_moments(_estimates("grpo", pol, ep, None), grad)
    assert stats["cosine"] > 0.95
    assert stats["bias_norm"] > 5 * stats["bias_se"]


def test_grpo_is_one_advantage_per_episode():
    _, pol, _, critics, ep = _lab(n=64)
    adv = turn_advantages("grpo", pol, ep, None, gamma=1.0, lam=1.0, group_size=8)
    first = adv.action[:, :1].expand_as(adv.action)
    assert torch.equal(adv.action[ep.mask], first[ep.mask])
    assert adv.action[:, 0].reshape(8, 8).sum(1).abs().max() < 1e-9  # group-centred
    with pytest.raises(ValueError, match="group_size"):
        turn_advantages("grpo", pol, ep, None, gamma=1.0, lam=1.0, group_size=7)


def test_hgigpo_is_aligned_with_the_exact_gradient():
    """Like GRPO and GiGPO, HGiGPO divides by group spreads (biased in scale); it must point along g*."""
    _, pol, grad, _, ep = _lab()
    stats = gradient_moments(_estimates("hgigpo", pol, ep, None), grad)
    assert stats["cosine"] > 0.95


def test_hgigpo_with_one_subgoal_acts_as_gigpo():
    """One subgoal: every action anchor is GiGPO's (same state), so the action advantages are GiGPO's."""
    _, pol, _, _, ep = _lab(n=256, n_subgoals=1)
    h, g = (turn_advantages(n, pol, ep, None, gamma=1.0, lam=1.0) for n in ("hgigpo", "gigpo"))
    torch.testing.assert_close(h.action, g.action)
    assert not h.discounted and (h.subgoal[~(ep.switch & ep.mask)] == 0).all()


def test_every_registry_method_has_its_lab_estimator():
    from hiper_repro import methods_registry
    from hiper_repro.theory.estimators import ESTIMATORS, GROUP_ESTIMATORS, USES_CRITIC

    for spec in methods_registry.specs():
        assert spec.estimator in ESTIMATORS, spec.name
        assert (spec.estimator in GROUP_ESTIMATORS) == spec.is_group
        assert (spec.estimator in USES_CRITIC) == spec.has_critic


def test_bad_input():
    _, pol, _, critics, ep = _lab(n=16)
    with pytest.raises(ValueError, match="estimator"):
        turn_advantages("ppo", pol, ep, critics, gamma=1.0, lam=1.0)
    with pytest.raises(ValueError, match="critics"):
        turn_advantages("hae", pol, ep, None, gamma=1.0, lam=1.0)
    with pytest.raises(ValueError, match="sigma"):
        noisy_critics(critics, -1.0, seed=0)
