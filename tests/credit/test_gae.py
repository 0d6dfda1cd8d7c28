"""gae: worked example, hand-computed cases, per-episode loop agreement, invariances, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from credit_fixtures import as_torch, episode, padded_batches, row_value
from hypothesis import given, settings

from hiper_repro.credit import discounted_returns, gae
from hiper_repro.credit.reference import gae_episode

F64 = torch.float64


def one_row(values, dtype=F64):
    return torch.tensor([values], dtype=dtype)


def run_gae(data, dtype=F64):
    t = as_torch(data, dtype)
    return gae(t["r"], t["vl"], t["mask"], t["terminated"], data["gamma"], data["lam_low"], t["boot_low"])


class TestWorkedExample:
    def test_flat_advantages_and_returns(self, worked_example):
        ex = worked_example
        n = len(ex["rewards"])
        terminated = torch.zeros(1, n, dtype=torch.bool)
        terminated[0, -1] = ex["terminated_at_last_turn"]
        adv, ret = gae(
            one_row(ex["rewards"]),
            one_row(ex["values_flat"]),
            torch.ones(1, n, dtype=torch.bool),
            terminated,
            ex["gamma"],
            ex["lam"],
        )
        np.testing.assert_allclose(adv[0], ex["expected"]["flat_adv"], atol=ex["tolerance"])
        np.testing.assert_allclose(ret[0], ex["expected"]["flat_ret"], atol=ex["tolerance"])


class TestHandComputed:
    @pytest.mark.parametrize("lam", [1.0, 0.5, 0.0], ids=["lambda1", "lambda0.5", "lambda0"])
    def test_two_turns_terminated(self, lam):
        # r = (0, 1), V = (0.5, 0.25), gamma 0.5: delta_1 = 1 - 0.25 = 0.75,
        # delta_0 = 0 + 0.5 * 0.25 - 0.5 = -0.375, A_0 = delta_0 + 0.5 * lam * 0.75.
        adv, ret = gae(
            one_row([0.0, 1.0]),
            one_row([0.5, 0.25]),
            torch.ones(1, 2, dtype=torch.bool),
            torch.tensor([[False, True]]),
            0.5,
            lam,
        )
        np.testing.assert_allclose(adv[0], [-0.375 + 0.375 * lam, 0.75])
        np.testing.assert_allclose(ret[0], [0.125 + 0.375 * lam, 1.0])

    def test_truncated_row_bootstraps_from_last_value(self):
        # Not terminated: delta_1 = 1 + 0.5 * 2 - 0.25 = 1.75.
        args = (
            one_row([0.0, 1.0]),
            one_row([0.5, 0.25]),
            torch.ones(1, 2, dtype=torch.bool),
            torch.zeros(1, 2, dtype=torch.bool),
            0.5,
            1.0,
        )
        adv, _ = gae(*args, last_value=torch.tensor([2.0], dtype=F64))
        np.testing.assert_allclose(adv[0], [-0.375 + 0.5 * 1.75, 1.75])
        adv0, _ = gae(*args)  # no bootstrap value: 0
        np.testing.assert_allclose(adv0[0], [-0.375 + 0.5 * 0.75, 0.75])

    def test_last_value_ignored_on_terminated_rows(self):
        args = (
            one_row([0.0, 1.0]),
            one_row([0.5, 0.25]),
            torch.ones(1, 2, dtype=torch.bool),
            torch.tensor([[False, True]]),
            0.9,
            0.9,
        )
        with_nan, _ = gae(*args, last_value=torch.tensor([float("nan")], dtype=F64))
        torch.testing.assert_close(with_nan, gae(*args)[0])


class TestEdgeCases:
    def test_length_one_and_empty_rows(self):
        r = torch.tensor([[2.0, 9.0], [3.0, 9.0], [9.0, 9.0]], dtype=F64)
        v = torch.tensor([[0.5, 9.0], [0.5, 9.0], [9.0, 9.0]], dtype=F64)
        mask = torch.tensor([[True, False], [True, False], [False, False]])
        terminated = torch.tensor([[True, False], [False, False], [False, False]])
        adv, ret = gae(r, v, mask, terminated, 0.9, 0.8, last_value=torch.tensor([7.0, 1.0, 5.0], dtype=F64))
        np.testing.assert_allclose(adv, [[1.5, 0.0], [3.0 + 0.9 - 0.5, 0.0], [0.0, 0.0]])
        np.testing.assert_allclose(ret, [[2.0, 0.0], [3.9, 0.0], [0.0, 0.0]])

    def test_float32_matches_float64(self):
        rng = np.random.default_rng(0)
        r, v = rng.normal(size=(6, 12)), rng.normal(size=(6, 12))
        mask = np.arange(12)[None, :] < np.array([12, 5, 1, 0, 8, 12])[:, None]
        term = torch.zeros(6, 12, dtype=torch.bool)
        outs = [
            gae(torch.tensor(r, dtype=d), torch.tensor(v, dtype=d), torch.from_numpy(mask), term, 0.99, 0.95)
            for d in (torch.float32, F64)
        ]
        torch.testing.assert_close(outs[0][0].double(), outs[1][0], atol=1e-5, rtol=1e-5)


class TestAgainstLoop:
    @settings(max_examples=60, deadline=None)
    @given(padded_batches())
    def test_matches_per_episode_loop(self, data):
        adv, ret = run_gae(data)
        for b in range(len(data["lengths"])):
            n = data["lengths"][b]
            ref_adv, ref_ret = gae_episode(
                episode(data, b, "r"),
                episode(data, b, "vl"),
                bool(data["terminated"][b].any()),
                data["gamma"],
                data["lam_low"],
                row_value(data, "boot_low", b),
            )
            np.testing.assert_allclose(adv[b, :n], ref_adv, atol=1e-9, rtol=1e-9)
            np.testing.assert_allclose(ret[b, :n], ref_ret, atol=1e-9, rtol=1e-9)
            assert not adv[b, n:].any() and not ret[b, n:].any()

    @settings(max_examples=30, deadline=None)
    @given(padded_batches())
    def test_padding_values_never_matter(self, data):
        base = run_gae(data)
        other = dict(data)
        pad = ~data["mask"]
        for name in ("r", "vl"):
            other[name] = np.where(pad, np.inf if name == "r" else 1e30, data[name])
        # Extra padded turns appended on the right change nothing either.
        wide = {
            k: (
                np.pad(x, ((0, 0), (0, 3)), constant_values=np.nan if x.dtype != bool else False)
                if isinstance(x, np.ndarray) and x.ndim == 2
                else x
            )
            for k, x in data.items()
        }
        # Same shape: bit for bit. Wider: the suffix-sum matmul is blocked differently, so equal to
        # rounding only (hypothesis found a 1.1e-16 difference).
        for variant, cut, atol in ((other, None, 0.0), (wide, data["mask"].shape[1], 1e-12)):
            adv, ret = run_gae(variant)
            torch.testing.assert_close(adv[:, :cut], base[0], rtol=0, atol=atol)
            torch.testing.assert_close(ret[:, :cut], base[1], rtol=0, atol=atol)

    @settings(max_examples=30, deadline=None)
    @given(padded_batches())
    def test_batch_order_does_not_matter(self, data):
        perm = np.random.default_rng(1).permutation(len(data["lengths"]))
        permuted = {k: (x[perm] if isinstance(x, np.ndarray) else x) for k, x in data.items()}
        base, moved = run_gae(data), run_gae(permuted)
        torch.testing.assert_close(moved[0], base[0][perm], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(moved[1], base[1][perm], rtol=1e-12, atol=1e-12)


class TestDiscountedReturns:
    def test_hand_values_with_padding(self):
        rewards = torch.tensor([[1.0, 0.0, 2.0], [3.0, float("nan"), float("nan")]], dtype=F64)
        mask = torch.tensor([[True, True, True], [True, False, False]])
        out = discounted_returns(rewards, mask, 0.5)
        assert out.tolist() == [[1.5, 1.0, 2.0], [3.0, 0.0, 0.0]]

    @settings(max_examples=40, deadline=None)
    @given(padded_batches())
    def test_matches_per_episode_sums(self, data):
        t = as_torch(data)
        out = discounted_returns(t["r"], t["mask"], data["gamma"])
        for b in range(len(data["lengths"])):
            r = episode(data, b, "r")
            expected = [sum(data["gamma"] ** (s - u) * r[s] for s in range(u, len(r))) for u in range(len(r))]
            np.testing.assert_allclose(out[b, : len(r)], expected, atol=1e-9)
        assert (out[~t["mask"]] == 0).all()


class TestErrors:
    def setup_method(self):
        self.r = torch.zeros(2, 3)
        self.mask = torch.ones(2, 3, dtype=torch.bool)
        self.term = torch.zeros(2, 3, dtype=torch.bool)

    def test_shape_mismatch_names_argument(self):
        with pytest.raises(ValueError, match="values must have shape"):
            gae(self.r, torch.zeros(2, 4), self.mask, self.term, 0.9, 0.9)

    def test_mask_must_be_prefix(self):
        mask = torch.tensor([[True, False, True], [True, True, True]])
        with pytest.raises(ValueError, match="prefix.*row 0"):
            gae(self.r, self.r, mask, self.term, 0.9, 0.9)

    def test_terminated_only_on_last_turn(self):
        term = torch.tensor([[False, False, False], [True, False, False]])
        with pytest.raises(ValueError, match="terminated.*row 1"):
            gae(self.r, self.r, self.mask, term, 0.9, 0.9)

    @pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan"), "0.9"])
    def test_gamma_range(self, gamma):
        with pytest.raises(ValueError, match="gamma"):
            gae(self.r, self.r, self.mask, self.term, gamma, 0.9)

    def test_dtype_and_kind(self):
        with pytest.raises(ValueError, match="values must match rewards"):
            gae(self.r, self.r.double(), self.mask, self.term, 0.9, 0.9)
        with pytest.raises(ValueError, match="mask must be a bool tensor"):
            gae(self.r, self.r, self.mask.float(), self.term, 0.9, 0.9)
        with pytest.raises(ValueError, match="rewards must be a floating-point"):
            gae(self.r.long(), self.r, self.mask, self.term, 0.9, 0.9)
        with pytest.raises(ValueError, match="last_value must have shape"):
            gae(self.r, self.r, self.mask, self.term, 0.9, 0.9, last_value=torch.zeros(3))
