"""hgigpo against a hand-worked batch, its per-episode loop reference (credit.reference) and gigpo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hiper_repro.credit import gigpo, hgigpo
from hiper_repro.credit.reference import hgigpo_episodes

F64 = torch.float64


def _hand_batch() -> dict:
    # One group, two 3-turn episodes and a padded column (garbage there: NaN returns, odd keys, switch on).
    # Episode returns (1, 0): A_E = +-0.5 (normalize_std False). Step returns 1 everywhere in episode 0,
    # 0 in episode 1, so every anchor group of both episodes has mean 0.5: +-0.5, a singleton 0.
    return dict(
        episode_returns=torch.tensor([1.0, 0.0], dtype=F64),
        group_ids=torch.tensor([3, 3]),
        step_returns=torch.tensor([[1.0, 1.0, 1.0, np.nan], [0.0, 0.0, 0.0, np.inf]], dtype=F64),
        state_keys=torch.tensor([[5, 6, 7, -9], [5, 6, 7, 5]]),
        subgoal_keys=torch.tensor([[1, 1, 2, 8], [1, 2, 2, 1]]),
        switch=torch.tensor([[True, False, True, True], [True, True, False, True]]),
        mask=torch.tensor([[True, True, True, False], [True, True, True, False]]),
    )


class TestHGiGPO:
    def test_hand_example(self):
        out = hgigpo(**_hand_batch(), step_weight=1.0, normalize_std=False)
        # action, anchors (state, subgoal_t): t0 (5,1) shared -> +-0.5; t1 (6,1)/(6,2) singletons -> 0;
        # t2 (7,2) shared -> +-0.5.
        np.testing.assert_allclose(out.action, [[1.0, 0.5, 1.0, 0.0], [-1.0, -0.5, -1.0, 0.0]])
        # subgoal, segment starts only: ep0 turns 0, 2; ep1 turns 0, 1. State 5 shared -> +-0.5; the
        # starts in states 7 (ep0) and 6 (ep1) are alone -> A_E only.
        np.testing.assert_allclose(out.subgoal, [[1.0, 0.0, 0.5, 0.0], [-1.0, -0.5, 0.0, 0.0]])
        # switch, turns >= 1, anchors (state_t, subgoal_{t-1}): t1 (6,1) in both (ep0 keeps, ep1 switches)
        # -> +-0.5; t2 (7,1) and (7,2) singletons -> A_E only; turn 0 makes no decision -> 0.
        np.testing.assert_allclose(out.switch, [[0.0, 1.0, 0.5, 0.0], [0.0, -1.0, -0.5, 0.0]])

    def test_hand_example_normalised(self):
        # A group of two with values (1, 0): unbiased std sqrt(1/2), so +-0.5 becomes +-1/sqrt(2) (eps 0).
        out = hgigpo(**_hand_batch(), step_weight=2.0, eps=0.0)
        e = 0.5 / np.sqrt(0.5)
        np.testing.assert_allclose(out.action[0, :3], [e + 2 * e, e, e + 2 * e])
        np.testing.assert_allclose(out.switch[1, :3], [0.0, -e - 2 * e, -e])

    def test_other_groups_never_anchor(self):
        batch = _hand_batch() | {"group_ids": torch.tensor([0, 1])}
        out = hgigpo(**batch, step_weight=1.0)
        for x in out:  # every group and every anchor is a singleton
            np.testing.assert_allclose(x, 0.0)

    def test_errors(self):
        batch = _hand_batch()
        with pytest.raises(ValueError, match="subgoal_keys must have shape"):
            hgigpo(**batch | {"subgoal_keys": torch.zeros(2, 3, dtype=torch.long)}, step_weight=1.0)
        with pytest.raises(ValueError, match="subgoal_keys must be an integer tensor"):
            hgigpo(**batch | {"subgoal_keys": torch.zeros(2, 4)}, step_weight=1.0)
        with pytest.raises(ValueError, match="switch must be a bool tensor"):
            hgigpo(**batch | {"switch": torch.zeros(2, 4, dtype=torch.long)}, step_weight=1.0)
        with pytest.raises(ValueError, match="group_ids must be an integer tensor of shape"):
            hgigpo(**batch | {"group_ids": torch.zeros(3, dtype=torch.long)}, step_weight=1.0)
        with pytest.raises(TypeError):
            hgigpo(*batch.values(), step_weight=1.0)  # keyword-only: seven same-shaped tensors


@st.composite
def grouped_batches(draw, max_groups: int = 3, max_size: int = 4, max_turns: int = 6) -> dict:
    """Random grouped padded batches with few distinct keys (so anchor groups form), garbage on padding."""
    n_groups = draw(st.integers(1, max_groups))
    size = draw(st.integers(1, max_size))
    turns = draw(st.integers(1, max_turns))
    n = n_groups * size
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lengths = rng.integers(0, turns + 1, n)
    mask = np.arange(turns)[None, :] < lengths[:, None]
    n_keys = draw(st.integers(1, 3))
    garbage = rng.choice([np.nan, np.inf, 1e9], size=(n, turns))
    return {
        "episode_returns": rng.integers(0, 3, n).astype(float) * draw(st.sampled_from([1.0, 0.7])),
        "group_ids": rng.permutation(np.repeat(np.arange(n_groups) * 7, size)),
        "step_returns": np.where(mask, rng.integers(0, 3, (n, turns)) / 2, garbage),
        "state_keys": np.where(mask, rng.integers(0, n_keys, (n, turns)), rng.integers(-99, 99, (n, turns))),
        "subgoal_keys": np.where(mask, rng.integers(0, n_keys, (n, turns)), 42),
        "switch": rng.random((n, turns)) < draw(st.sampled_from([0.0, 0.4, 1.0])),
        "mask": mask,
        "lengths": lengths,
        "step_weight": draw(st.sampled_from([0.0, 1.0, 0.3])),
        "normalize_std": draw(st.booleans()),
    }


def _call(b: dict) -> tuple[torch.Tensor, ...]:
    return hgigpo(
        episode_returns=torch.tensor(b["episode_returns"], dtype=F64),
        group_ids=torch.tensor(b["group_ids"]),
        step_returns=torch.tensor(b["step_returns"], dtype=F64),
        state_keys=torch.tensor(b["state_keys"]),
        subgoal_keys=torch.tensor(b["subgoal_keys"]),
        switch=torch.tensor(b["switch"]),
        mask=torch.tensor(b["mask"]),
        step_weight=b["step_weight"],
        normalize_std=b["normalize_std"],
    )


class TestHGiGPOProperties:
    @settings(max_examples=150, deadline=None)
    @given(grouped_batches())
    def test_matches_per_episode_loop(self, b):
        out = _call(b)
        ref = hgigpo_episodes(
            b["episode_returns"].tolist(),
            b["group_ids"].tolist(),
            b["step_returns"].tolist(),
            b["state_keys"].tolist(),
            b["subgoal_keys"].tolist(),
            b["switch"].tolist(),
            b["lengths"].tolist(),
            b["step_weight"],
            b["normalize_std"],
        )
        for got, want in zip(out, ref):
            assert torch.isfinite(got).all()
            for i, row in enumerate(want):
                np.testing.assert_allclose(got[i, : len(row)].numpy(), row, atol=1e-6, rtol=0)
                np.testing.assert_array_equal(got[i, len(row) :].numpy(), 0.0)

    @settings(max_examples=60, deadline=None)
    @given(grouped_batches())
    def test_padding_never_changes_a_result(self, b):
        pad = ~b["mask"]
        other = b | {
            "step_returns": np.where(pad, -7.5, b["step_returns"]),
            "state_keys": np.where(pad, 1, b["state_keys"]),
            "subgoal_keys": np.where(pad, 0, b["subgoal_keys"]),
            "switch": np.where(pad, ~b["switch"], b["switch"]),
        }
        for x, y in zip(_call(b), _call(other)):
            torch.testing.assert_close(x, y, rtol=0, atol=0)

    @settings(max_examples=60, deadline=None)
    @given(grouped_batches())
    def test_one_subgoal_reduces_action_to_gigpo(self, b):
        b = b | {"subgoal_keys": np.zeros_like(b["subgoal_keys"])}
        want = gigpo(
            torch.tensor(b["episode_returns"], dtype=F64),
            torch.tensor(b["group_ids"]),
            torch.tensor(b["step_returns"], dtype=F64),
            torch.tensor(b["state_keys"]),
            torch.tensor(b["mask"]),
            step_weight=b["step_weight"],
            normalize_std=b["normalize_std"],
        )
        torch.testing.assert_close(_call(b).action, want, rtol=0, atol=1e-12)
