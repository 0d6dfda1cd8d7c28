"""grpo, rloo, gigpo against hand-computed groups."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hiper_repro.credit import gigpo, grpo, rloo

F64 = torch.float64


class TestGRPO:
    def test_hand_groups(self):
        # Group 7: (1, 0, 0, 1): mean 0.5, unbiased std sqrt(1/3). Group 3: (2,): singleton -> 0.
        returns = torch.tensor([1.0, 0.0, 2.0, 0.0, 1.0], dtype=F64)
        groups = torch.tensor([7, 7, 3, 7, 7])
        std = math.sqrt(1 / 3)
        np.testing.assert_allclose(
            grpo(returns, groups, eps=0.0), [0.5 / std, -0.5 / std, 0, -0.5 / std, 0.5 / std]
        )
        np.testing.assert_allclose(grpo(returns, groups, normalize_std=False), [0.5, -0.5, 0, -0.5, 0.5])

    def test_constant_group_gives_zero(self):
        np.testing.assert_allclose(grpo(torch.ones(4, dtype=F64), torch.zeros(4, dtype=torch.long)), 0.0)

    def test_errors(self):
        with pytest.raises(ValueError, match="group_ids must be an integer tensor of shape"):
            grpo(torch.zeros(3), torch.zeros(4, dtype=torch.long))
        with pytest.raises(ValueError, match="group_ids must be an integer"):
            grpo(torch.zeros(3), torch.zeros(3))
        with pytest.raises(ValueError, match="returns must be 1-D"):
            grpo(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long))


class TestRLOO:
    def test_hand_groups(self):
        # Group 0: (1, 2, 6): A_0 = 1 - 4, A_1 = 2 - 3.5, A_2 = 6 - 1.5. Group 1: (5, 3): 2, -2. Group 2: singleton.
        returns = torch.tensor([1.0, 5.0, 2.0, 3.0, 6.0, 9.0], dtype=F64)
        groups = torch.tensor([0, 1, 0, 1, 0, 2])
        np.testing.assert_allclose(rloo(returns, groups), [-3.0, 2.0, -1.5, -2.0, 4.5, 0.0])


class TestGiGPO:
    def test_hand_example(self):
        # Two episodes in one group, episode returns (1, 0): normalised episode advantages +-1/sqrt(1/2) (eps 0).
        # Anchor states: key 5 is visited at (0, 0) and (1, 0) with step returns 1 and 0; key 6 only at (0, 1);
        # key 5 again at (1, 1) with return 0.5 -> anchor group {1, 0, 0.5}: mean 0.5, std 0.5.
        episode_returns = torch.tensor([1.0, 0.0], dtype=F64)
        groups = torch.tensor([4, 4])
        step_returns = torch.tensor([[1.0, 1.0, 9.0], [0.0, 0.5, 9.0]], dtype=F64)
        keys = torch.tensor([[5, 6, 0], [5, 5, 0]])
        mask = torch.tensor([[True, True, False], [True, True, False]])
        out = gigpo(episode_returns, groups, step_returns, keys, mask, step_weight=2.0, eps=0.0)
        e = 0.5 / math.sqrt(0.5)
        np.testing.assert_allclose(out, [[e + 2 * 1.0, e + 0.0, 0.0], [-e - 2 * 1.0, -e + 0.0, 0.0]])

    def test_same_state_in_another_group_is_not_an_anchor(self):
        out = gigpo(
            torch.tensor([1.0, 0.0], dtype=F64),
            torch.tensor([0, 1]),
            torch.tensor([[1.0], [0.0]], dtype=F64),
            torch.tensor([[3], [3]]),
            torch.ones(2, 1, dtype=torch.bool),
            step_weight=1.0,
        )
        np.testing.assert_allclose(out, 0.0)  # singletons everywhere

    def test_errors(self):
        with pytest.raises(ValueError, match="state_keys must have shape"):
            gigpo(
                torch.zeros(2),
                torch.zeros(2, dtype=torch.long),
                torch.zeros(2, 3),
                torch.zeros(2, 2, dtype=torch.long),
                torch.ones(2, 3, dtype=torch.bool),
                1.0,
            )
