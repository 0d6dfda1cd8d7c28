"""What the RL set-up adds around PPO: evaluation of the starting policy with common random numbers,
diagnostics per iteration, critics (shared, detached, separate), re-scoring at the sampling temperature,
the learning-rate schedule, bounded optimizer steps and per-task turn caps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from hiper_repro.traces import open_run, validate
from hiper_repro.train.config import build_config
from hiper_repro.train.loop import train
from hiper_repro.train.setup import lr_factors

from .conftest import tiny_config


@pytest.mark.slow
def test_starting_policy_is_evaluated_before_the_first_update(tiny_models, tmp_path):
    cfg = tiny_config(
        tiny_models,
        "ppo",
        run={"eval_every": 0},
        rollout={"temperature": 0.8},
        ppo={"skip_zero_reward_batches": False},
    )
    tree = open_run(train(cfg, tmp_path / "run") / "traces.nc")
    validate(tree)
    ev = tree["evaluation"].to_dataset()
    assert ev["eval_iteration"].values.tolist() == [0, 2]  # the start and the end: updates completed
    second = tree["evaluation_secondary"].to_dataset()
    assert second["eval_iteration"].values.tolist() == [0, 2]
    assert (ev["task_id"].values[0] == ev["task_id"].values[1]).all()  # paired: same tasks in order
    diag = tree["iterations"].to_dataset()
    assert diag["iteration"].values.tolist() == [0, 1]
    assert (diag["turns"].values > 0).all() and diag["policy_updated"].values.all()
    assert np.isfinite(diag["approx_kl"].values).all() and (diag["optimizer_steps"].values >= 1).all()


@pytest.mark.slow
def test_common_random_numbers_make_the_start_identical_across_run_seeds(tiny_models, tmp_path):
    """Run seeds change training, not the evaluation noise: both seeds see the same starting episodes."""
    starts = []
    for seed in (0, 1):
        cfg = tiny_config(tiny_models, "ppo", run={"iterations": 1, "eval_every": 0, "seed": seed})
        ev = open_run(train(cfg, tmp_path / f"s{seed}") / "traces.nc")["evaluation"].to_dataset()
        starts.append(ev.sel(eval_iteration=0))
    for name in ("success", "length", "invalid_rate"):
        np.testing.assert_array_equal(starts[0][name].values, starts[1][name].values)


@pytest.mark.slow
def test_critic_warmup_holds_the_policy(tiny_models, tmp_path):
    cfg = tiny_config(
        tiny_models, "ppo", ppo={"critic_warmup_iterations": 1, "warmup_iterations": 2}, run={"eval_every": 0}
    )
    out = train(cfg, tmp_path / "run")
    df = pd.read_csv(out / "metrics.csv").query("iteration >= 0")
    assert df["policy_updated"].tolist() == [0, 1]
    assert df["lr"].tolist() == pytest.approx([0.0, cfg.ppo.lr / 2])  # held, then ramping up


def test_lr_factors():
    cfg = build_config(
        {"model": {"path": "m"}, "ppo": {"critic_warmup_iterations": 2, "warmup_iterations": 4}}
    )
    actor, critic = lr_factors(cfg)
    assert [actor(i) for i in range(7)] == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert critic(0) == 1.0


@pytest.mark.slow
def test_separate_critic_trains_and_is_checkpointed(tiny_models, tmp_path):
    cfg = tiny_config(tiny_models, "hiper", model={"critic": "separate"}, run={"eval_every": 0})
    out = train(cfg, tmp_path / "run")
    weights = load_file(str(out / "checkpoints" / "iter_000001" / "weights.safetensors"))
    assert any(k.startswith("critic.lm.") for k in weights) and "critic.heads.out.weight" in weights
    assert not any(k.startswith("policy.heads.") for k in weights)  # the policy's own heads are unused
    assert weights["critic.heads.out.weight"].abs().sum() > 0  # heads start at zero: they learned
    assert (out / "critic" / "agent.json").is_file()
    turns = open_run(out / "traces.nc")["turns"].to_dataset()
    assert bool(turns["value_low"].notnull().any())


def test_detached_values_leave_the_trunk_to_the_policy(tiny_models):
    """With 'detached', a value loss moves the heads but sends no gradient into the language model."""
    from hiper_repro.train.setup import build_policy

    cfg = tiny_config(tiny_models, "ppo", model={"critic": "detached"})
    policy = build_policy(cfg, "cpu")
    ids = torch.tensor([[3, 4, 5, 6]])
    h, _ = policy.hidden(ids, torch.ones_like(ids))
    policy.values(h[:, -1]).sum().backward()
    assert policy.heads.out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in policy.lm.parameters())


def test_rescoring_uses_the_sampling_temperature(tiny_models):
    """Old log-probs re-scored at the rollout's temperature equal the sampler's: the first ratio is 1."""
    from hiper_repro.agent.generation import GenerationConfig
    from hiper_repro.agent.rollout import rollout
    from hiper_repro.envs import EnvPool, make_tasks
    from hiper_repro.train.batch import TurnScorer, prepare_batch
    from hiper_repro.train.methods import assign_credit
    from hiper_repro.train.setup import build_policy

    cfg = tiny_config(tiny_models, "ppo", rollout={"temperature": 0.7})
    policy = build_policy(cfg, "cpu")
    tasks = make_tasks("household", 1, "train", 3, 0)
    with EnvPool("household", 3) as pool:
        ro = rollout(
            policy, policy.tokenizer, pool, tasks, "flat", GenerationConfig(24, 0.7, 2, 3), torch.Generator()
        )
    credit = assign_credit(ro, cfg)
    sampled = torch.nn.utils.rnn.pad_sequence([tt.logprobs for tt in ro.turns], batch_first=True)
    r = sampled.shape[1]
    at_07 = prepare_batch(TurnScorer(policy, temperature=0.7), ro.turns, credit, 0.0).old_logprobs[:, :r]
    at_1 = prepare_batch(TurnScorer(policy, temperature=1.0), ro.turns, credit, 0.0).old_logprobs[:, :r]
    torch.testing.assert_close(at_07, sampled, atol=1e-4, rtol=0)
    assert (at_1 - sampled).abs().max() > 1e-2
    with pytest.raises(ValueError, match="temperature"):
        build_config({"model": {"path": "m"}, "rollout": {"temperature": 0.0}})


@pytest.mark.slow
def test_optimizer_steps_are_bounded(tiny_models, tmp_path):
    cfg = tiny_config(
        tiny_models,
        "ppo",
        ppo={"epochs": 4, "minibatch_turns": 2, "max_steps_per_iteration": 3},
        run={"iterations": 1, "eval_every": 0},
    )
    df = pd.read_csv(train(cfg, tmp_path / "run") / "metrics.csv").query("iteration >= 0")
    assert df["optimizer_steps"].tolist() == [3]


def test_expert_turn_limits():
    from hiper_repro.envs import expert_episode, expert_turn_limits, make_env, make_tasks

    env = make_env("household")
    tasks = make_tasks("household", 2, "train", 5, 0)
    limits = expert_turn_limits(env, tasks, 1.5)
    for task in tasks:
        records, info = expert_episode(env, task)
        assert info["won"] and limits[task.task_id] == min(env.max_steps, int(np.ceil(1.5 * len(records))))
    with pytest.raises(ValueError, match="ratio"):
        expert_turn_limits(env, tasks, 0.0)


@pytest.mark.parametrize("critic", ["detached", "separate"])
def test_value_epochs_fit_the_critic_and_leave_the_policy(tiny_models, critic):
    """Extra value-only passes lower the value loss on the batch and change no policy weight."""
    from hiper_repro.agent.generation import GenerationConfig
    from hiper_repro.agent.rollout import rollout
    from hiper_repro.envs import EnvPool, make_tasks
    from hiper_repro.train.batch import TurnScorer, prepare_batch
    from hiper_repro.train.methods import assign_credit
    from hiper_repro.train.setup import build_critic, build_optimizer, build_policy
    from hiper_repro.train.update import fit_critic

    accelerate = pytest.importorskip("accelerate")
    cfg = tiny_config(
        tiny_models, "hiper", model={"critic": critic}, ppo={"value_epochs": 4, "critic_lr": 1e-2}
    )
    policy, critic_model = build_policy(cfg, "cpu"), build_critic(cfg, "cpu")
    optimizer, _ = build_optimizer(policy, cfg, critic_model)
    learner = TurnScorer(policy, critic_model)
    with EnvPool("household", 4) as pool:
        ro = rollout(
            policy,
            policy.tokenizer,
            pool,
            make_tasks("household", 1, "train", 4, 0),
            "plan_execute",
            GenerationConfig(24, 1.0, 2, 3),
            torch.Generator().manual_seed(0),
        )
    ro.rewards[:, 0] += 1.0  # targets the zero-initialised heads do not already predict
    batch = prepare_batch(learner, ro.turns, assign_credit(ro, cfg), 0.0)
    lm_before = {k: v.clone() for k, v in policy.lm.state_dict().items()}
    stats = fit_critic(
        accelerate.Accelerator(cpu=True), learner, optimizer, batch, cfg.ppo, torch.Generator().manual_seed(0)
    )
    assert stats["value_steps"] == 4 * 2  # 4 epochs of ceil(turns / 6) minibatches
    after = prepare_batch(learner, ro.turns, assign_credit(ro, cfg), 0.0)
    err = lambda b: np.nanmean((b.targets - b.old_values).numpy() ** 2)  # noqa: E731
    assert err(after) < err(batch)
    for k, v in policy.lm.state_dict().items():
        assert torch.equal(v, lm_before[k]), k


def test_value_epochs_need_a_critic_of_their_own():
    with pytest.raises(ValueError, match="ppo.value_epochs"):
        build_config({"model": {"path": "m"}, "ppo": {"value_epochs": 2}})
    build_config({"model": {"path": "m", "critic": "detached"}, "ppo": {"value_epochs": 2}})
