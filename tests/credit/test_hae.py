"""hae: worked example, per-episode loop agreement, invariances, identities with gae, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from credit_fixtures import as_torch, episode, padded_batches, row_value
from hypothesis import given, settings

from hiper_repro.credit import gae, hae, segment_rewards
from hiper_repro.credit.reference import hae_episode, segments

F64 = torch.float64
FIELDS = ("adv_low", "ret_low", "adv_high", "ret_high")


def run_hae(data, dtype=F64, **override):
    t = as_torch(data, dtype)
    params = {k: data[k] for k in ("gamma", "lam_low", "lam_high")} | {"lam_boundary": 0.0} | override
    return hae(
        t["r"],
        t["vl"],
        t["vh"],
        t["switch"],
        t["mask"],
        t["terminated"],
        params["gamma"],
        params["lam_low"],
        params["lam_high"],
        t["boot_low"],
        t["boot_high"],
        lam_boundary=params["lam_boundary"],
    )


class TestWorkedExample:
    def test_low_and_high_levels(self, worked_example):
        ex = worked_example
        n = len(ex["rewards"])
        values_high = torch.full((1, n), float("nan"), dtype=F64)  # read at segment starts only
        for t, value in ex["values_high_at_segment_starts"].items():
            values_high[0, int(t)] = value
        terminated = torch.zeros(1, n, dtype=torch.bool)
        terminated[0, -1] = ex["terminated_at_last_turn"]
        out = hae(
            torch.tensor([ex["rewards"]], dtype=F64),
            torch.tensor([ex["values_low"]], dtype=F64),
            values_high,
            torch.tensor([ex["switch"]]),
            torch.ones(1, n, dtype=torch.bool),
            terminated,
            ex["gamma"],
            ex["lam_low"],
            ex["lam_high"],
        )
        tol = ex["tolerance"]
        np.testing.assert_allclose(out.adv_low[0], ex["expected"]["low_adv"], atol=tol)
        np.testing.assert_allclose(out.ret_low[0], ex["expected"]["low_ret"], atol=tol)
        adv_high = np.zeros(n)
        ret_high = np.zeros(n)
        for t, value in ex["expected"]["high_adv_at_segment_starts"].items():
            adv_high[int(t)] = value
            ret_high[int(t)] = ex["expected"]["high_ret_at_segment_starts"][t]
        np.testing.assert_allclose(out.adv_high[0], adv_high, atol=tol)
        np.testing.assert_allclose(out.ret_high[0], ret_high, atol=tol)
        assert out.segment_start[0].tolist() == [True, False, True, False, False, True, False]
        assert out.segment_id[0].tolist() == [0, 0, 1, 1, 1, 2, 2]
        assert out.segment_length[0].tolist() == [2, 2, 3, 3, 3, 2, 2]


class TestAgainstLoop:
    @pytest.mark.parametrize("lam_boundary", [0.0, 0.3, 1.0], ids=["boundary0", "boundary0.3", "boundary1"])
    @settings(max_examples=80, deadline=None)
    @given(data=padded_batches())
    def test_matches_per_episode_loop(self, data, lam_boundary):
        out = run_hae(data, lam_boundary=lam_boundary)
        for b, n in enumerate(data["lengths"]):
            ref = hae_episode(
                episode(data, b, "r"),
                episode(data, b, "vl"),
                episode(data, b, "vh"),
                episode(data, b, "switch"),
                bool(data["terminated"][b].any()),
                data["gamma"],
                data["lam_low"],
                data["lam_high"],
                row_value(data, "boot_low", b),
                row_value(data, "boot_high", b),
                lam_boundary,
            )
            for field, expected in zip(FIELDS, ref):
                got = getattr(out, field)[b]
                np.testing.assert_allclose(got[:n], expected, atol=1e-9, rtol=1e-9, err_msg=field)
                assert not got[n:].any(), field

    @pytest.mark.parametrize("lam_high", [0.0, 1e-3, 1.0], ids=["lambda0", "lambda0.001", "lambda1"])
    def test_extreme_lam_high_long_rows(self, lam_high):
        # lam_high^(T-1) underflowing float32 takes the time-loop path; float64 keeps the closed form.
        rng = np.random.default_rng(3)
        batch, turns = 4, 40
        data = {
            "r": rng.normal(size=(batch, turns)),
            "vl": rng.normal(size=(batch, turns)),
            "vh": rng.normal(size=(batch, turns)),
            "switch": rng.random((batch, turns)) < 0.4,
            "mask": np.ones((batch, turns), dtype=bool),
            "terminated": np.zeros((batch, turns), dtype=bool),
            "lengths": np.full(batch, turns),
            "boot_low": None,
            "boot_high": rng.normal(size=batch),
            "gamma": 0.97,
            "lam_low": 0.9,
            "lam_high": lam_high,
        }
        for dtype, tol in ((F64, 1e-9), (torch.float32, 1e-4)):
            out = run_hae(data, dtype)
            for b in range(batch):
                ref = hae_episode(
                    *(data[k][b].tolist() for k in ("r", "vl", "vh", "switch")),
                    False,
                    0.97,
                    0.9,
                    lam_high,
                    None,
                    float(data["boot_high"][b]),
                )
                np.testing.assert_allclose(out.adv_high[b].double(), ref[2], atol=tol, rtol=tol)


class TestSegmentRewards:
    def test_hand_values(self):
        rewards = torch.tensor([[1.0, 2.0, 4.0, 8.0, float("nan")]], dtype=F64)
        switch = torch.tensor([[True, False, True, False, True]])  # the last switch is on padding
        mask = torch.tensor([[True, True, True, True, False]])
        assert segment_rewards(rewards, switch, mask, 0.5).tolist() == [[2.0, 0.0, 8.0, 0.0, 0.0]]

    @settings(max_examples=40, deadline=None)
    @given(padded_batches())
    def test_matches_rtilde_of_each_segment(self, data):
        t = as_torch(data)
        out = segment_rewards(t["r"], t["switch"], t["mask"], data["gamma"])
        gamma, expected = data["gamma"], np.zeros(out.shape)
        for b, n in enumerate(data["lengths"]):
            r = episode(data, b, "r")
            for start, end in zip(*segments(episode(data, b, "switch"), n)):
                expected[b, start] = sum(gamma ** (u - start) * r[u] for u in range(start, end + 1))
        np.testing.assert_allclose(out, expected, atol=1e-9)


class TestInvariances:
    @settings(max_examples=30, deadline=None)
    @given(padded_batches())
    def test_padding_values_never_matter(self, data):
        base = run_hae(data)
        other = dict(data)
        pad = ~data["mask"]
        for name in ("r", "vl", "vh"):
            other[name] = np.where(pad, 1e30, data[name])
        other["switch"] = np.where(pad, ~data["switch"], data["switch"])
        wide = dict(data)
        for name, x in data.items():
            if isinstance(x, np.ndarray) and x.ndim == 2:
                fill = False if name in ("mask", "terminated") else (True if x.dtype == bool else np.nan)
                wide[name] = np.pad(x, ((0, 0), (0, 3)), constant_values=fill)
        # Same shape: bit for bit. Wider: matrix products are blocked differently, equal to rounding only.
        for variant, cut, atol in ((other, None, 0.0), (wide, data["mask"].shape[1], 1e-12)):
            out = run_hae(variant)
            for field in base._fields:
                torch.testing.assert_close(
                    getattr(out, field)[:, :cut], getattr(base, field), rtol=0, atol=atol
                )

    def test_values_high_read_only_at_starts(self):
        rng = np.random.default_rng(5)
        batch, turns = 3, 6
        vh = rng.normal(size=(batch, turns))
        switch = rng.random((batch, turns)) < 0.5
        start = switch.copy()
        start[:, 0] = True
        args = dict(
            r=rng.normal(size=(batch, turns)),
            vl=rng.normal(size=(batch, turns)),
            switch=switch,
            mask=np.ones((batch, turns), bool),
            terminated=np.zeros((batch, turns), bool),
            lengths=np.full(batch, turns),
            boot_low=None,
            boot_high=None,
            gamma=0.9,
            lam_low=0.8,
            lam_high=0.7,
        )
        a = run_hae(args | {"vh": vh})
        b = run_hae(args | {"vh": np.where(start, vh, np.nan)})
        for field in a._fields:
            torch.testing.assert_close(getattr(a, field), getattr(b, field), rtol=0, atol=0)

    @settings(max_examples=30, deadline=None)
    @given(padded_batches())
    def test_batch_order_does_not_matter(self, data):
        perm = np.random.default_rng(1).permutation(len(data["lengths"]))
        permuted = {k: (x[perm] if isinstance(x, np.ndarray) else x) for k, x in data.items()}
        base, moved = run_hae(data), run_hae(permuted)
        for field in base._fields:
            torch.testing.assert_close(
                getattr(moved, field), getattr(base, field)[perm], rtol=1e-12, atol=1e-12
            )


class TestIdentities:
    @settings(max_examples=40, deadline=None)
    @given(padded_batches())
    def test_one_segment_low_level_is_gae(self, data):
        data = data | {"switch": np.zeros_like(data["switch"])}
        t = as_torch(data)
        out = run_hae(data)
        adv, ret = gae(
            t["r"], t["vl"], t["mask"], t["terminated"], data["gamma"], data["lam_low"], t["boot_low"]
        )
        torch.testing.assert_close(out.adv_low, adv, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(out.ret_low, ret, rtol=1e-9, atol=1e-9)

    @settings(max_examples=40, deadline=None)
    @given(padded_batches())
    def test_switch_every_turn_high_level_is_gae(self, data):
        data = data | {"switch": np.ones_like(data["switch"])}
        t = as_torch(data)
        out = run_hae(data)
        adv, ret = gae(
            t["r"], t["vh"], t["mask"], t["terminated"], data["gamma"], data["lam_high"], t["boot_high"]
        )
        torch.testing.assert_close(out.adv_high, adv, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(out.ret_high, ret, rtol=1e-9, atol=1e-9)


class TestEdgeCases:
    def test_length_one_empty_and_truncated_rows(self):
        nan = float("nan")
        r = torch.tensor([[1.0, nan], [1.0, nan], [nan, nan]], dtype=F64)
        vl = torch.tensor([[0.25, nan], [0.25, nan], [nan, nan]], dtype=F64)
        vh = torch.tensor([[0.5, nan], [0.5, nan], [nan, nan]], dtype=F64)
        mask = torch.tensor([[True, False], [True, False], [False, False]])
        terminated = torch.tensor([[True, False], [False, False], [False, False]])
        switch = torch.zeros(3, 2, dtype=torch.bool)
        boot = torch.tensor([9.0, 2.0, 9.0], dtype=F64)
        out = hae(r, vl, vh, switch, mask, terminated, 0.5, 0.9, 0.9, boot, boot + 1)
        np.testing.assert_allclose(out.adv_low, [[0.75, 0], [1 + 1.0 - 0.25, 0], [0, 0]])
        np.testing.assert_allclose(out.adv_high, [[0.5, 0], [1 + 1.5 - 0.5, 0], [0, 0]])
        assert out.segment_id.tolist() == [[0, -1], [0, -1], [-1, -1]]
        assert out.segment_length.tolist() == [[1, 0], [1, 0], [0, 0]]
        no_boot = hae(r, vl, vh, switch, mask, terminated, 0.5, 0.9, 0.9)
        np.testing.assert_allclose(no_boot.adv_low[1, 0], 0.75)

    def test_float32_matches_float64(self):
        rng = np.random.default_rng(0)
        batch, turns = 5, 30
        lengths = np.array([30, 1, 0, 17, 29])
        data = {
            "r": rng.normal(size=(batch, turns)),
            "vl": rng.normal(size=(batch, turns)),
            "vh": rng.normal(size=(batch, turns)),
            "switch": rng.random((batch, turns)) < 0.3,
            "mask": np.arange(turns)[None] < lengths[:, None],
            "terminated": np.zeros((batch, turns), bool),
            "lengths": lengths,
            "boot_low": rng.normal(size=batch),
            "boot_high": rng.normal(size=batch),
            "gamma": 0.99,
            "lam_low": 0.95,
            "lam_high": 0.9,
        }
        single, double = run_hae(data, torch.float32), run_hae(data)
        for field in FIELDS:
            torch.testing.assert_close(
                getattr(single, field).double(), getattr(double, field), atol=1e-5, rtol=1e-5
            )

    def test_errors_name_the_argument(self):
        z = torch.zeros(2, 3)
        ok = torch.ones(2, 3, dtype=torch.bool)
        no = torch.zeros(2, 3, dtype=torch.bool)
        with pytest.raises(ValueError, match="values_high must have shape"):
            hae(z, z, torch.zeros(3, 2), no, ok, no, 0.9, 0.9, 0.9)
        with pytest.raises(ValueError, match="switch must be a bool"):
            hae(z, z, z, z, ok, no, 0.9, 0.9, 0.9)
        with pytest.raises(ValueError, match="lam_high must be in"):
            hae(z, z, z, no, ok, no, 0.9, 0.9, 1.1)
        with pytest.raises(ValueError, match="last_value_high must match"):
            hae(z, z, z, no, ok, no, 0.9, 0.9, 0.9, last_value_high=torch.zeros(2, dtype=F64))


class TestBoundaryLambda:
    """lam_boundary: the low level bootstraps from (1 - l) V_high + l R_high at a segment's end."""

    def test_one_with_lambda_one_is_monte_carlo(self):
        # lam_low = lam_high = lam_boundary = 1: A_low_t = G_t - V_low(s_t), whatever the critics say.
        rng = np.random.default_rng(3)
        b, t = 4, 7
        r = torch.tensor(rng.normal(size=(b, t)))
        vl, vh = torch.tensor(rng.normal(size=(b, t))), torch.tensor(rng.normal(size=(b, t)))
        switch = torch.tensor(rng.random((b, t)) < 0.4)
        lengths = torch.tensor([7, 5, 3, 6])
        mask = torch.arange(t)[None] < lengths[:, None]
        terminated = torch.arange(t)[None] == (lengths - 1)[:, None]
        gamma = 0.9
        out = hae(r, vl, vh, switch, mask, terminated, gamma, 1.0, 1.0, lam_boundary=1.0)
        g = torch.zeros(b, t, dtype=torch.float64)
        running = torch.zeros(b, dtype=torch.float64)
        for k in reversed(range(t)):  # a loop over time, batched over episodes
            running = torch.where(mask[:, k], r[:, k] + gamma * running, torch.zeros(b, dtype=torch.float64))
            g[:, k] = running
        torch.testing.assert_close(out.adv_low[mask], (g - vl)[mask])

    def test_hand_example(self):
        # One episode, segments [0, 1] and [2]; r = (0, 0, 1), gamma = 1, lambdas 1, terminated.
        # High level: R_high at turn 2 = 1, A_high_1 = 1 - V_high(s_2) = 1 - 0.25 = 0.75.
        # Low level at turn 1 (end of segment 0): next = V_high(s_2) + l * A_high_1 = 0.25 + 0.75 l.
        r = torch.tensor([[0.0, 0.0, 1.0]])
        vl = torch.tensor([[0.1, 0.2, 0.3]])
        vh = torch.tensor([[0.5, 0.0, 0.25]])
        switch = torch.tensor([[True, False, True]])
        mask = torch.ones(1, 3, dtype=torch.bool)
        term = torch.tensor([[False, False, True]])
        for lam_b in (0.0, 0.4, 1.0):
            out = hae(r, vl, vh, switch, mask, term, 1.0, 1.0, 1.0, lam_boundary=lam_b)
            nxt = 0.25 + 0.75 * lam_b
            expected = torch.tensor([[nxt - 0.1, nxt - 0.2, 1.0 - 0.3]])
            torch.testing.assert_close(out.adv_low, expected)
            torch.testing.assert_close(out.adv_high[0, 2], torch.tensor(0.75))
