"""whiten and broadcast_to_tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hiper_repro.credit import broadcast_to_tokens, whiten, whiten_applicable


class TestWhiten:
    def test_masked_mean_and_std(self):
        x = torch.tensor([[1.0, 2.0, float("nan")], [3.0, 4.0, 5.0]], dtype=torch.float64)
        mask = torch.tensor([[True, True, False], [True, True, True]])
        out = whiten(x, mask, eps=0.0)
        real = out[mask]
        np.testing.assert_allclose(float(real.mean()), 0.0, atol=1e-12)
        np.testing.assert_allclose(float(real.std()), 1.0, atol=1e-12)  # unbiased, as computed
        np.testing.assert_allclose(out[mask], (np.array([1, 2, 3, 4, 5]) - 3) / np.sqrt(2.5))
        assert out[0, 2] == 0.0

    def test_needs_two_entries(self):
        with pytest.raises(ValueError, match="at least two"):
            whiten(torch.ones(1, 2), torch.tensor([[True, False]]))


class TestWhitenApplicable:
    def test_whitened_where_it_applies_nan_elsewhere(self):
        x = torch.tensor([[1.0, 2.0, float("nan")], [3.0, 4.0, 5.0]], dtype=torch.float64)
        applies = torch.tensor([[True, True, False], [True, True, False]])
        out = whiten_applicable(x, applies)
        torch.testing.assert_close(out[applies], whiten(x, applies)[applies])
        assert out[~applies].isnan().all()

    def test_fewer_than_two_entries_are_kept(self):
        x = torch.tensor([[7.0, 2.0]])
        out = whiten_applicable(x, torch.tensor([[True, False]]))
        assert out[0, 0] == 7.0 and out[0, 1].isnan()


class TestBroadcast:
    def test_tokens_take_their_turn_value(self):
        turn_values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        turn_index = torch.tensor([[0, 0, 2, 99], [1, 1, 1, -5]])
        token_mask = torch.tensor([[True, True, True, False], [True, False, True, False]])
        out = broadcast_to_tokens(turn_values, turn_index, token_mask)
        assert out.tolist() == [[1.0, 1.0, 3.0, 0.0], [5.0, 0.0, 5.0, 0.0]]

    def test_nan_on_unused_turns_stays_out(self):
        out = broadcast_to_tokens(
            torch.tensor([[1.0, float("nan")]]), torch.tensor([[0, 1]]), torch.tensor([[True, False]])
        )
        assert out.tolist() == [[1.0, 0.0]]

    def test_errors(self):
        with pytest.raises(ValueError, match=r"turn_index must lie in \[0, 2\)"):
            broadcast_to_tokens(torch.zeros(1, 2), torch.tensor([[2]]), torch.tensor([[True]]))
        with pytest.raises(ValueError, match="turn_index must have shape"):
            broadcast_to_tokens(torch.zeros(1, 2), torch.tensor([[0], [0]]), torch.tensor([[True], [True]]))
        with pytest.raises(ValueError, match="turn_index must be an integer"):
            broadcast_to_tokens(torch.zeros(1, 2), torch.tensor([[0.0]]), torch.tensor([[True]]))
