"""The analytic FLOP count of `bench train`'s roofline against torch's own FLOP counter."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hiper_repro.agent.flops import FlopCounter, matmul_peak_gflops, take_active


def tiny_policy():
    from hiper_repro.agent.models import build_tiny_model
    from hiper_repro.agent.policy import Policy, PolicyConfig
    from hiper_repro.agent.tokenizer import train_word_tokenizer

    tok = train_word_tokenizer(["go to the cabinet take the apple put it in the fridge open close"])
    return Policy(build_tiny_model("tiny-xs", tok, seed=0), tok, PolicyConfig(fmt="plan_execute"))


def _batch(vocab: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    width = max(lengths)
    ids = torch.randint(3, vocab, (len(lengths), width), generator=g)
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids, mask


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "forward+backward"])
def test_executed_flops_equal_torch_flop_counter_without_padding(grad):
    """Unpadded rows: executed counts what torch counts for the matmuls and the output projection (its
    counter does not see the CPU attention kernel), plus full L x L attention: 4 H per (query, key) pair
    and layer, a backward at twice its forward."""
    policy = tiny_policy()
    ids, mask = _batch(len(policy.tokenizer), [12, 12, 12])
    with FlopCounter() as ours, FlopCounterMode(display=False) as theirs, torch.set_grad_enabled(grad):
        h, _ = policy.hidden(ids, mask)
        logits = policy.logits(h)
        if grad:
            logits.sum().backward()
    counted = ours.take()
    assert counted["tokens"] == 36
    cfg = policy.lm.config
    attention = 4 * cfg.hidden_size * cfg.num_hidden_layers * 3 * 12 * 12 * (3 if grad else 1)
    assert counted["gflop_executed"] * 1e9 == pytest.approx(theirs.get_total_flops() + attention, rel=1e-9)
    # causal attention scores n(n+1)/2 pairs per row, not n^2: useful is a little below executed
    assert counted["gflop"] < counted["gflop_executed"]


def test_padding_shows_as_executed_minus_useful():
    policy = tiny_policy()
    ids, mask = _batch(len(policy.tokenizer), [4, 16])
    with FlopCounter() as counter, torch.no_grad():
        policy.hidden(ids, mask)
    padded = counter.take()
    with FlopCounter() as counter, torch.no_grad():
        policy.hidden(ids[:1, :4], mask[:1, :4])
        policy.hidden(ids[1:], mask[1:])
    apart = counter.take()
    assert padded["gflop"] == pytest.approx(apart["gflop"], rel=1e-9)  # useful work ignores padding
    assert padded["gflop_executed"] > apart["gflop_executed"]  # the short row was padded to 16


def test_counting_is_off_outside_a_counter():
    policy = tiny_policy()
    ids, mask = _batch(len(policy.tokenizer), [5])
    assert take_active() is None
    with torch.no_grad():
        policy.hidden(ids, mask)  # no counter: nothing to count, nothing raised
    with FlopCounter() as counter:
        pass
    assert counter.take() == {"gflop": 0.0, "gflop_executed": 0.0, "tokens": 0.0}


def test_matmul_peak_is_a_positive_rate():
    assert matmul_peak_gflops(size=128, repeats=2) > 0
