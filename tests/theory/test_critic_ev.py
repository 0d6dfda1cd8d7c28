"""The lab's critic quality as explained variance, HAE's lam_boundary in the lab, and the critic-quality
sweep: identities with the main grid and with hand-computed values."""

import math

import numpy as np
import pytest
import torch

from hiper_repro.credit import discounted_returns
from hiper_repro.theory import cli
from hiper_repro.theory.critic_ev import explained_variance, measured_ev, noise_ev, return_variance, sigma_for
from hiper_repro.theory.estimators import exact_critics, noisy_critics, turn_advantages, turn_values
from hiper_repro.theory.exact import exact_values
from hiper_repro.theory.lab import GRIDS, Grid, calibrated_policy, run_grid
from hiper_repro.theory.mdp import make_chain_mdp
from hiper_repro.theory.sampler import sample_episodes

SWEEP = Grid((1, 2), (0.9, 1.0), (1.0,), (0.0, 0.1), replicates=2, n_episodes=256, critic_ev=(1.0, 0.5))


@pytest.fixture(scope="module")
def ds():
    return run_grid(SWEEP, seed=0)


@pytest.fixture(scope="module")
def draw():
    mdp = make_chain_mdp(2, seed=3)
    policy = calibrated_policy(mdp, seed=4)
    episodes = sample_episodes(mdp, policy, 256, seed=5)
    return policy, episodes, exact_critics(exact_values(mdp, policy, 1.0))


class TestExplainedVariance:
    def test_hand_values(self):
        g = torch.tensor([0.0, 1.0, 0.0, 1.0])
        where = torch.ones(4, dtype=torch.bool)
        assert explained_variance(g, g, where) == pytest.approx(1.0)
        assert explained_variance(torch.full((4,), 0.5), g, where) == pytest.approx(0.0)  # the mean
        # residual (0, 0.5, 0, 0.5): var 1/12 over var 1/3 -> 1 - 1/4
        assert explained_variance(torch.tensor([0.0, 0.5, 0.0, 0.5]), g, where) == pytest.approx(0.75)
        assert math.isnan(explained_variance(g, g, torch.tensor([True, False, False, False])))

    def test_noise_and_sigma_are_inverse(self):
        assert noise_ev(0.0, 0.25) == 1.0
        assert noise_ev(sigma_for(0.6, 0.25), 0.25) == pytest.approx(0.6)
        assert sigma_for(0.6, 0.25) == pytest.approx(math.sqrt(0.4 * 0.25))
        with pytest.raises(ValueError, match="critic_ev"):
            sigma_for(1.2, 0.25)

    def test_measured_on_the_episodes_like_the_runs(self, draw):
        """V_low on every real turn against the reward-to-go; noise lowers it by about sigma^2 / Var G."""
        policy, episodes, critics = draw
        g = discounted_returns(episodes.reward, episodes.mask, 1.0)
        low = turn_values(episodes, critics).value_low[episodes.mask]
        y = g[episodes.mask]
        exact = measured_ev(episodes, critics, 1.0)
        assert exact["low"] == pytest.approx(1 - float((y - low).var()) / float(y.var()))
        assert 0 < exact["low"] < 1 and set(exact) == {"low", "high", "flat"}
        var_g = return_variance(episodes, 1.0)
        assert var_g == pytest.approx(float(y.var()))
        noisy = measured_ev(episodes, noisy_critics(critics, sigma_for(0.7, var_g), seed=1), 1.0)
        assert noisy["low"] == pytest.approx(exact["low"] - 0.3, abs=0.15)  # sampling of the fixed errors


def test_lam_boundary_one_gives_monte_carlo_action_advantages(draw):
    """lam = lam_boundary = 1: HAE's action advantages are the reward-to-go minus V_low, however noisy
    the critic; at lam_boundary 0 the segment-end bootstrap reads the noisy V_high."""
    policy, episodes, critics = draw
    noisy = noisy_critics(critics, 0.3, seed=2)
    g = discounted_returns(episodes.reward, episodes.mask, 1.0)
    v_low = turn_values(episodes, noisy).value_low
    m = episodes.mask
    one = turn_advantages("hae", policy, episodes, noisy, gamma=1.0, lam=1.0, lam_boundary=1.0)
    torch.testing.assert_close(one.action[m], (g - v_low)[m])
    zero = turn_advantages("hae", policy, episodes, noisy, gamma=1.0, lam=1.0)
    assert not torch.allclose(zero.action[m], (g - v_low)[m])


def test_main_grid_states_each_noise_as_an_explained_variance(ds):
    ev = ds["explained_variance"].sel(gamma=1.0, head="low")
    assert (ev.sel(critic_noise=0.1) < ev.sel(critic_noise=0.0)).all()
    assert (ds["explained_variance_noise"].sel(critic_noise=0.0) == 1.0).all()
    assert (ds["explained_variance_noise"].sel(critic_noise=0.1) < 1.0).all()
    assert ds["explained_variance"].attrs["long_name"]


def test_sweep_layout_and_identities(ds):
    """The sweep's exact-critic level is the main grid's cell at the same gamma and lambda (same episodes,
    same critic): flat GAE and the paper's HAE give the same bias and variance there."""
    assert ds.sizes["sweep_estimator"] == 2 and ds["lam_boundary"].values.tolist() == [0.0, 1.0]
    assert ds["critic_ev"].values.tolist() == [1.0, 0.5]
    for name in ("sweep_bias_sq", "sweep_variance", "sweep_explained_variance", "sweep_sigma"):
        assert np.isfinite(ds[name]).all(), name
    exact = ds.sel(critic_ev=1.0)
    main = ds.sel(lam=1.0, gamma=1.0, critic_noise=0.0)
    for est in ("gae", "hae"):
        got = exact.sel(sweep_estimator=est, lam_boundary=0.0)
        np.testing.assert_allclose(got["sweep_variance"], main["variance"].sel(estimator=est), rtol=1e-12)
        np.testing.assert_allclose(
            got["sweep_bias_sq"], main["bias_sq_debiased"].sel(estimator=est), rtol=1e-9
        )
    np.testing.assert_allclose(
        exact["sweep_explained_variance"],
        main["explained_variance"].transpose(*exact["sweep_explained_variance"].dims),
    )
    assert (exact["sweep_sigma"] == 0).all() and (ds["sweep_sigma"].sel(critic_ev=0.5) > 0).all()
    gae = ds["sweep_variance"].sel(sweep_estimator="gae")
    assert (gae.sel(lam_boundary=0.0) == gae.sel(lam_boundary=1.0)).all()  # GAE reads no lam_boundary
    hae = ds["sweep_variance"].sel(sweep_estimator="hae")
    assert not (hae.sel(lam_boundary=0.0) == hae.sel(lam_boundary=1.0)).all()
    worse = ds["sweep_explained_variance"].sel(head="low")
    assert (worse.sel(critic_ev=0.5) < worse.sel(critic_ev=1.0)).all()


def test_bad_sweep():
    with pytest.raises(ValueError, match="critic_ev"):
        run_grid(Grid((1,), (1.0,), (1.0,), (0.0,), replicates=1, n_episodes=64, critic_ev=(1.5,)), seed=0)
    with pytest.raises(ValueError, match="lam_boundary"):
        run_grid(
            Grid(
                (1,),
                (1.0,),
                (1.0,),
                (0.0,),
                replicates=1,
                n_episodes=64,
                critic_ev=(1.0,),
                lam_boundary=(2.0,),
            )
        )


def test_cli_prints_the_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(GRIDS, "quick", SWEEP)
    assert cli.main(["--out", str(tmp_path), "--grid", "quick", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "lam_boundary=0 K=1: error(HAE)/error(GAE) by critic EV:" in out and "lam_boundary=1 K=2" in out
