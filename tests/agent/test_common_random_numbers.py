"""Counter-based sampling noise: an episode's draws depend on its own seed only, so evaluation uses common
random numbers (same task, same noise) whatever the batch, its order, or how processes split it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hiper_repro.agent.evaluate import play_tasks
from hiper_repro.agent.generation import (
    GenerationConfig,
    generate,
    inverse_cdf_sample,
    noise_seed,
    row_uniforms,
)
from hiper_repro.agent.policy import Policy, PolicyConfig
from hiper_repro.envs import EnvPool, make_tasks


def test_row_uniforms_are_a_pure_function_of_seed_turn_and_step():
    seeds = torch.tensor([1, 2, 3, 1])
    u = row_uniforms(seeds, turn=0, step=0)
    assert u.dtype == torch.float64 and ((u >= 0) & (u < 1)).all()
    assert u[0] == u[3] and len(set(u.tolist())) == 3  # same seed, same number; others differ
    assert torch.equal(row_uniforms(seeds[[2, 0]], 0, 0), u[[2, 0]])  # order and company don't matter
    assert not torch.equal(row_uniforms(seeds, 1, 0), u) and not torch.equal(row_uniforms(seeds, 0, 1), u)
    many = row_uniforms(torch.arange(20000), turn=3, step=5).numpy()
    assert abs(many.mean() - 0.5) < 0.01 and abs(many.var() - 1 / 12) < 0.005  # uniform moments
    assert noise_seed(0, "a") == noise_seed(0, "a") != noise_seed(1, "a") != noise_seed(0, "b")


def test_inverse_cdf_sampling_follows_the_distribution_and_skips_zero_mass():
    probs = torch.tensor([[0.2, 0.0, 0.5, 0.3]]).expand(40000, 4)
    u = row_uniforms(torch.arange(40000), 0, 0)
    tokens = inverse_cdf_sample(probs, u)
    freq = torch.bincount(tokens, minlength=4).double() / len(tokens)
    torch.testing.assert_close(freq, probs[0].double(), atol=0.01, rtol=0)
    assert (tokens != 1).all()
    # u * total may round up to the total: the draw still never lands on a zero-probability tail
    edge = inverse_cdf_sample(torch.tensor([[0.5, 0.5, 0.0]]), torch.tensor([1.0], dtype=torch.float64))
    assert edge.item() == 1


def test_generate_with_row_seeds_ignores_batch_company(tiny_base):
    policy = Policy.load(tiny_base, PolicyConfig())
    cfg = GenerationConfig(max_new_tokens=8, temperature=1.0)
    prompts = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
    seeds = torch.tensor([101, 202, 303])
    together = generate(policy, prompts, cfg, row_seeds=seeds, turn=2)
    alone = generate(policy, prompts[1:2], cfg, row_seeds=seeds[1:2], turn=2)
    assert torch.equal(together.response_ids[1], alone.response_ids[0])
    torch.testing.assert_close(together.logprobs[1], alone.logprobs[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="row_seeds"):
        generate(policy, prompts, cfg, row_seeds=seeds[:2])


def test_evaluation_is_the_same_for_any_batch_size(tiny_base):
    """The same tasks and seed give the same episodes in one batch of 6 or three of 2 (as two processes
    splitting the split would), and a different seed gives other noise."""
    policy = Policy.load(tiny_base, PolicyConfig())
    tasks = make_tasks("household", 1, "eval", 6, 0)
    cfg = GenerationConfig(max_new_tokens=6, temperature=1.0, max_turns=3)
    with EnvPool("household", 6) as wide, EnvPool("household", 2) as narrow:
        a = play_tasks(policy, wide, tasks, "plan_execute", cfg, seed=7)
        b = play_tasks(policy, narrow, tasks, "plan_execute", cfg, seed=7)
        c = play_tasks(policy, narrow, tasks[::-1], "plan_execute", cfg, seed=7)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(a[key], c[key][::-1])
    assert list(a["task_id"]) == [t.task_id for t in tasks]
