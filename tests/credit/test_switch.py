"""switch_advantage: paper form by hand, code form against the per-episode loop, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from credit_fixtures import as_torch, episode, padded_batches, row_value
from hypothesis import given, settings

from hiper_repro.credit import switch_advantage
from hiper_repro.credit.reference import switch_code_episode

F64 = torch.float64


class TestPaperForm:
    def test_hand_values(self):
        nan = float("nan")
        switch = torch.tensor([[True, True, False, False]])
        mask = torch.tensor([[True, True, True, False]])
        values_high = torch.tensor([[nan, 1.0, 2.0, nan]], dtype=F64)
        values_low_prev = torch.tensor([[nan, 0.5, 1.0, nan]], dtype=F64)
        beta = torch.tensor([[nan, 0.25, 0.5, nan]], dtype=F64)
        out = switch_advantage(
            switch, mask, values_high, form="paper", switch_prob=beta, values_low_prev=values_low_prev
        )
        # t=1: (1 - 0.25) * (1 - 0.5); t=2: (0 - 0.5) * (2 - 1); t=0 and padding: 0.
        np.testing.assert_allclose(out.advantages[0], [0.0, 0.375, -0.5, 0.0])
        assert out.returns is None


class TestCodeForm:
    @settings(max_examples=60, deadline=None)
    @given(padded_batches())
    def test_matches_per_episode_loop(self, data):
        t = as_torch(data)
        out = switch_advantage(
            t["switch"],
            t["mask"],
            t["vh"],
            form="code",
            rewards=t["r"],
            values_term=t["vt"],
            terminated=t["terminated"],
            gamma=data["gamma"],
            last_value_high=t["boot_high"],
        )
        for b, n in enumerate(data["lengths"]):
            adv, target = switch_code_episode(
                episode(data, b, "r"),
                episode(data, b, "vh"),
                episode(data, b, "vt"),
                episode(data, b, "switch"),
                bool(data["terminated"][b].any()),
                data["gamma"],
                row_value(data, "boot_high", b),
            )
            np.testing.assert_allclose(out.advantages[b, :n], adv, atol=1e-9, rtol=1e-9)
            np.testing.assert_allclose(out.returns[b, :n], target, atol=1e-9, rtol=1e-9)
            assert not out.advantages[b, n:].any() and not out.returns[b, n:].any()

    def test_hand_values(self):
        # Segments {0, 1}, {2}; gamma 0.5, r = (1, 2, 4), V_high(s_2) = 8, terminated at t = 2.
        # G_0 = 1 + 0.5 * 2 + 0.25 * 8 = 4, G_1 = 2 + 0.5 * 8 = 6, G_2 = 4.
        out = switch_advantage(
            torch.tensor([[True, False, True]]),
            torch.ones(1, 3, dtype=torch.bool),
            torch.tensor([[0.0, 0.0, 8.0]], dtype=F64),
            form="code",
            rewards=torch.tensor([[1.0, 2.0, 4.0]], dtype=F64),
            values_term=torch.tensor([[1.0, 1.0, 1.0]], dtype=F64),
            terminated=torch.tensor([[False, False, True]]),
            gamma=0.5,
        )
        np.testing.assert_allclose(out.returns[0], [4.0, 6.0, 4.0])
        np.testing.assert_allclose(out.advantages[0], [0.0, 5.0, 3.0])


class TestErrors:
    def test_form_and_missing_arguments(self):
        z = torch.zeros(1, 2)
        ok = torch.ones(1, 2, dtype=torch.bool)
        with pytest.raises(ValueError, match="form must be one of"):
            switch_advantage(ok, ok, z, form="both")
        with pytest.raises(ValueError, match="needs switch_prob, values_low_prev"):
            switch_advantage(ok, ok, z, form="paper")
        with pytest.raises(ValueError, match="needs rewards, values_term, terminated"):
            switch_advantage(ok, ok, z, form="code")
        with pytest.raises(ValueError, match="gamma must be in"):
            switch_advantage(ok, ok, z, form="code", rewards=z, values_term=z, terminated=~ok, gamma=2.0)
