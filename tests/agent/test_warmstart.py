"""Warm start: config validation, demonstrations, and that SFT lifts success above random (household h1)."""

from __future__ import annotations

import pytest
import torch

from hiper_repro.agent.formats import BLOCK_NONE
from hiper_repro.agent.policy import Policy, PolicyConfig
from hiper_repro.agent.warmstart import WarmStartConfig, demonstrations, sft_loss

# Sized on the 2-core CI machine: tiny-xs learns to copy object names after ~500 updates at this rate;
# 900 updates take about 100 s and reach 0.25 success at household h1 (32 eval tasks, seed 0).
WARM_START_DEMOS, WARM_START_STEPS, WARM_START_LR = 300, 900, 4e-3


class TestConfig:
    def test_unknown_key_is_rejected(self, tmp_path):
        path = tmp_path / "c.yaml"
        path.write_text("env: household\nn_demo: 10\n")
        with pytest.raises(ValueError, match=r"unknown warm-start config key\(s\) \['n_demo'\]"):
            WarmStartConfig.from_yaml(path)

    @pytest.mark.parametrize(
        ("key", "value", "match"),
        [
            ("fmt", "react", "fmt must be one of"),
            ("noise", 1.5, "noise must be in"),
            ("targets", "mixed", "targets must be"),
            ("horizons", [], "horizons must be"),
            ("prompt_loss_weight", -1.0, "prompt_loss_weight"),
        ],
    )
    def test_bad_values_are_clear_errors(self, key, value, match):
        with pytest.raises(ValueError, match=match):
            WarmStartConfig.from_dict({key: value})

    def test_yaml_round_trip(self, tmp_path):
        path = tmp_path / "c.yaml"
        path.write_text("horizons: [1, 3]\nfmt: flat\nlora: {rank: 4}\n")
        cfg = WarmStartConfig.from_yaml(path)
        assert cfg.horizons == (1, 3) and cfg.policy_config().heads == ("low",)
        assert cfg.policy_config().lora.rank == 4


def test_demonstrations_are_deterministic_and_parse(household_tokenizer):
    cfg = WarmStartConfig(horizons=(1, 2), n_demos=6, noise=0.3, seed=1)
    a, expert_a = demonstrations(cfg, household_tokenizer)
    b, expert_b = demonstrations(cfg, household_tokenizer)
    assert len(a) == len(b) > 6 and expert_a == expert_b and set(expert_a) == {"1", "2"}
    assert all(
        torch.equal(x.prompt_ids, y.prompt_ids) and torch.equal(x.response_ids, y.response_ids)
        for x, y in zip(a, b)
    )
    # Each reply starts a fresh turn with the switch tag; turn 0 of an episode always switches.
    first = household_tokenizer.decode(a[0].response_ids.tolist())
    assert first.startswith("<switch> SWITCH </switch>") and first.endswith("</action>")
    flat, _ = demonstrations(WarmStartConfig(fmt="flat", horizons=(1,), n_demos=2), household_tokenizer)
    assert household_tokenizer.decode(flat[0].response_ids.tolist()).startswith("<action>")
    assert all((t.block == BLOCK_NONE).all() for t in flat)


def test_sft_loss_prompt_weight_zero_is_reply_cross_entropy(tiny_base, household_tokenizer):
    policy = Policy.load(tiny_base, PolicyConfig())
    batch, _ = demonstrations(WarmStartConfig(horizons=(1,), n_demos=1), household_tokenizer)
    batch = batch[:3]
    reply_only = sft_loss(policy, batch, 0.0)
    assert torch.allclose(sft_loss(policy, batch, 1e-12), reply_only, atol=1e-5)
    # The prompt term is the mean next-token NLL over prompt tokens, computed here one example at a time.
    nll, count = 0.0, 0
    with torch.no_grad():
        for t in batch:
            seq = torch.cat([t.prompt_ids, t.response_ids])[None]
            logp = torch.log_softmax(policy.logits(policy.hidden(seq, torch.ones_like(seq))[0]), -1)[0]
            p = len(t.prompt_ids)
            nll -= logp[: p - 1].gather(-1, seq[0, 1:p, None]).sum().item()
            count += p - 1
    assert sft_loss(policy, batch, 2.0).item() - reply_only.item() == pytest.approx(
        2.0 * nll / count, rel=1e-4
    )


@pytest.mark.slow
def test_warm_start_lifts_success_above_random_at_horizon_1(tmp_path):
    """A short SFT on noisy expert demonstrations beats a random admissible-action policy (household h1).

    The random policy is the noisy expert at noise 1.0 on the same eval tasks; it almost never finishes a
    task inside the step limit, while the fine-tuned tiny model must win a clear share of them.
    """
    import random

    from hiper_repro.agent.warmstart import warm_start
    from hiper_repro.envs import expert_episode, make_env, make_tasks

    cfg = WarmStartConfig(
        model="tiny-xs",
        fmt="flat",
        horizons=(1,),
        n_demos=WARM_START_DEMOS,
        steps=WARM_START_STEPS,
        lr=WARM_START_LR,
        eval_horizons=(1,),
        n_eval=32,
    )
    report = warm_start(cfg, tmp_path / "warmstart")
    env = make_env("household")
    rng = random.Random(0)
    tasks = make_tasks("household", 1, "eval", cfg.n_eval, cfg.eval_seed)
    random_success = sum(bool(expert_episode(env, t, 1.0, rng)[1].get("won")) for t in tasks) / len(tasks)
    assert report["steps"] == WARM_START_STEPS
    assert report["success_by_horizon"]["1"] >= random_success + 0.15, (
        report["success_by_horizon"],
        random_success,
    )
