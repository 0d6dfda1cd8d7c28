"""Batch preparation: each response token takes its block's advantage; re-scoring gives the first ratio 1."""

from types import SimpleNamespace

import pytest
import torch

from hiper_repro.train.batch import VALUE_SLOTS, TurnScorer, prepare_batch, token_advantages


def test_token_advantages_follow_blocks():
    turns = [
        SimpleNamespace(b=0, t=1, block=torch.tensor([1, 0, 2, 2, 3, 0])),
        SimpleNamespace(b=1, t=0, block=torch.tensor([3])),
    ]
    c = SimpleNamespace(
        adv_switch=torch.tensor([[0.0, 1.0], [5.0, 5.0]]),
        adv_subgoal=torch.tensor([[0.0, 2.0], [5.0, 5.0]]),
        adv_action=torch.tensor([[0.0, 3.0], [4.0, 5.0]]),
        invalid=None,
    )
    adv = token_advantages(turns, c, rmax=6)
    expected = torch.tensor([[1.0, torch.nan, 2.0, 2.0, 3.0, torch.nan], [4.0] + [torch.nan] * 5])
    torch.testing.assert_close(adv, expected, equal_nan=True)
    # An invalid turn's tokens outside any block take its action advantage (the penalty reaches them);
    # a valid turn's stay without loss.
    c.invalid = torch.tensor([[False, True], [False, False]])
    adv = token_advantages(turns, c, rmax=6)
    expected[0, 1] = expected[0, 5] = 3.0
    torch.testing.assert_close(adv, expected, equal_nan=True)


@pytest.mark.parametrize("chunk", [64, 3])
def test_first_ratio_is_one_and_shapes(setup, chunk):
    policy, turns, credit = setup
    # chunk 3: length-sorted passes of 3 turns, placed back in rollout order
    batch = prepare_batch(TurnScorer(policy), turns, credit, kl_coef=0.01, chunk=chunk)
    assert batch.old_values.shape == (len(turns), len(VALUE_SLOTS))
    assert batch.old_values[:, 2].isnan().all()  # no V_term head on this policy
    out = TurnScorer(policy)(turns)
    r = out["logprobs"].shape[1]
    torch.testing.assert_close(out["logprobs"].detach(), batch.old_logprobs[:, :r])
    torch.testing.assert_close(batch.ref_logprobs, batch.old_logprobs)  # reference = start policy
