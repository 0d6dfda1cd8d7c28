"""Chain MDP and tabular policy: structure, determinism, bad input."""

import numpy as np
import pytest
import torch

from hiper_repro.theory.mdp import make_chain_mdp
from hiper_repro.theory.policy import init_policy


class TestChainMDP:
    def test_rows_are_distributions_and_correct_action_progresses(self):
        mdp = make_chain_mdp(3, steps=2, n_actions=4, slip=0.5, seed=1)
        p = mdp.transitions
        assert p.shape == (6, 4, 7)
        torch.testing.assert_close(p.sum(-1), torch.ones(6, 4, dtype=torch.float64))
        for s in range(6):
            k, j = divmod(s, 2)
            c = mdp.correct[k, j]
            assert p[s, c, s + 1] == 1.0
            wrong = (c + 1) % 4
            if j == 0:  # nothing to undo: a distractor stays
                assert p[s, wrong, s] == 1.0
            else:  # stay with 1 - slip, back to the subtask's start with slip
                assert (p[s, wrong, s], p[s, wrong, 2 * k]) == (0.5, 0.5)
        # reward only on reaching success from the last state with its correct action
        assert mdp.rewards.sum() == 1.0 and mdp.rewards[5, mdp.correct[2, 1]] == 1.0

    def test_same_seed_same_mdp(self):
        a, b = make_chain_mdp(4, seed=3), make_chain_mdp(4, seed=3)
        np.testing.assert_array_equal(a.correct, b.correct)
        assert a.horizon == 3 * 4 * 2 + 2 and a.n_subgoals == 4

    @pytest.mark.parametrize(
        "kwargs, word",
        [
            ({"n_subtasks": 0}, "n_subtasks"),
            ({"n_subtasks": 2, "slip": 1.5}, "slip"),
            ({"n_subtasks": 2, "n_actions": 1}, "n_actions"),
            ({"n_subtasks": 2.0}, "n_subtasks"),
        ],
    )
    def test_bad_arguments(self, kwargs, word):
        with pytest.raises(ValueError, match=word):
            make_chain_mdp(**kwargs)


class TestPolicy:
    def test_tables_and_probabilities(self):
        mdp = make_chain_mdp(2, seed=0)
        pol = init_policy(mdp, seed=0)
        assert pol.n_params == 4 * 2 * 2 + 4 * 2 + 4 * 2 * 4 == pol.theta.numel()
        beta, pi_o, pi_a = pol.probs()
        assert beta.shape == (4, 2) and ((beta > 0) & (beta < 1)).all()
        torch.testing.assert_close(pi_o.sum(-1), torch.ones(4, dtype=torch.float64))
        torch.testing.assert_close(pi_a.sum(-1), torch.ones(4, 2, dtype=torch.float64))
        sl = pol.block_slices()
        assert sl["action"].stop == pol.n_params

    def test_skill_makes_own_subgoal_pick_the_correct_action(self):
        mdp = make_chain_mdp(3, seed=2)
        pol = init_policy(mdp, seed=2, scale=0.0, skill=3.0)
        pi_a = pol.probs()[2]
        for s in range(mdp.n_states):
            k, j = divmod(s, mdp.steps)
            assert pi_a[s, k].argmax() == mdp.correct[k, j]

    def test_pinned_switch_and_bad_theta(self):
        mdp = make_chain_mdp(2, seed=0)
        pol = init_policy(mdp, seed=0, free_switch=False)
        assert (pol.probs()[0] == 0).all()
        with pytest.raises(ValueError, match="theta"):
            pol.tables(torch.zeros(3, dtype=torch.float64))
