"""Episode sampler: layout, determinism, switching rules."""

import pytest
import torch

from hiper_repro.theory.mdp import make_chain_mdp
from hiper_repro.theory.policy import init_policy
from hiper_repro.theory.sampler import sample_episodes


@pytest.fixture
def setup():
    mdp = make_chain_mdp(3, seed=0)
    return mdp, init_policy(mdp, seed=0)


def test_same_seed_same_episodes(setup):
    a, b = sample_episodes(*setup, 256, seed=7), sample_episodes(*setup, 256, seed=7)
    c = sample_episodes(*setup, 256, seed=8)
    for name in ("state", "switch", "subgoal", "action", "reward", "mask"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.action, c.action)


def test_layout(setup):
    mdp, pol = setup
    ep = sample_episodes(mdp, pol, 512, seed=1)
    t = torch.arange(mdp.horizon)
    assert torch.equal(ep.mask, t[None] < ep.length[:, None])  # a prefix of each row
    assert ep.switch[:, 0].all()
    assert torch.equal(ep.terminated.sum(1), torch.ones(512, dtype=torch.long))
    assert ep.terminated[torch.arange(512), ep.length - 1].all()
    assert torch.equal(ep.reward.sum(1) > 0, ep.won)
    assert (ep.length[~ep.won] == mdp.horizon).all()
    # KEEP turns carry the previous subgoal on
    keep = ep.mask & ~ep.switch
    assert torch.equal(ep.subgoal[keep], ep.prev_subgoal[keep])
    assert torch.equal(ep.prev_subgoal[:, 1:][ep.mask[:, 1:]], ep.subgoal[:, :-1][ep.mask[:, 1:]])


def test_pinned_switch_never_switches_after_turn_0():
    mdp = make_chain_mdp(2, seed=0)
    ep = sample_episodes(mdp, init_policy(mdp, seed=0, free_switch=False), 128, seed=0)
    assert not ep.switch[:, 1:].any() and ep.switch[:, 0].all()


def test_bad_count(setup):
    with pytest.raises(ValueError, match="n_episodes"):
        sample_episodes(*setup, 0, seed=0)
