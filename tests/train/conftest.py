"""Fixtures for training tests: tiny household policies that write the response format, and a config builder.

A random tiny model writes no tags at all, so none of its tokens would carry a policy loss. The fixture
fits a tiny-xs model (hidden 64) for a few seconds on expert turns of household horizon 1 (prompt ->
reply in the format), enough for replies that contain the blocks; not enough to solve tasks reliably.
"""

from __future__ import annotations

import random

import pytest
import torch

from hiper_repro.train.config import build_config


def _expert_examples(fmt: str, tokenizer, n_tasks: int = 12) -> list[tuple[list[int], list[int]]]:
    from hiper_repro.agent.formats import render_response
    from hiper_repro.agent.prompts import PromptState, encode_prompt
    from hiper_repro.envs import expert_episode, make_env, make_tasks

    env = make_env("household")
    out = []
    for task in make_tasks("household", 1, "train", n_tasks, 0):
        records, _ = expert_episode(env, task)
        prev, history = None, []
        for t, r in enumerate(records):
            state = PromptState(
                task.instruction, t, tuple(history[-2:]), r.observation, tuple(r.admissible), prev
            )
            reply = (
                render_response(fmt, r.action, r.subgoal, r.switch)
                if fmt == "plan_execute"
                else render_response(fmt, r.action)
            )
            ids = tokenizer.encode(reply, add_special_tokens=False) + [tokenizer.eos_token_id]
            out.append((encode_prompt(state, fmt, tokenizer), ids))
            history.append((r.observation, r.action))
            prev = r.subgoal
    return out


def _fit(policy, examples, steps: int = 60, batch: int = 8, lr: float = 3e-3) -> None:
    """Next-token cross-entropy on reply tokens (a test fixture, not the warm start of the pipeline)."""
    rng = random.Random(0)
    opt = torch.optim.AdamW(policy.lm.parameters(), lr=lr)
    for _ in range(steps):
        chunk = rng.sample(examples, batch)
        seqs = [torch.tensor(p + r) for p, r in chunk]
        width = max(len(s) for s in seqs)
        ids = torch.zeros((batch, width), dtype=torch.long)
        labels = torch.full((batch, width), -100, dtype=torch.long)
        attn = torch.zeros((batch, width), dtype=torch.long)
        for i, ((p, r), s) in enumerate(zip(chunk, seqs)):
            ids[i, : len(s)], attn[i, : len(s)] = s, 1
            labels[i, len(p) : len(s)] = torch.tensor(r)
        loss = policy.lm(input_ids=ids, attention_mask=attn, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, object]:
    """{'plan_execute': dir, 'flat': dir}: saved tiny policies (format-fitted), plus 'base' (random)."""
    from hiper_repro.agent.cli_model import build_base
    from hiper_repro.agent.policy import Policy, PolicyConfig, default_heads
    from hiper_repro.envs import make_tasks

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    tasks = make_tasks("household", 1, "train", 8, 0) + make_tasks("household", 1, "eval", 4, 0)
    build_base("tiny-xs", tasks, 0, root / "base")
    dirs = {"base": root / "base"}
    for fmt in ("plan_execute", "flat"):
        policy = Policy.load(root / "base", config=PolicyConfig(fmt=fmt, heads=default_heads(fmt), seed=0))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            policy.train()
            _fit(policy, _expert_examples(fmt, policy.tokenizer))
        dirs[fmt] = policy.save(root / fmt)
    return dirs


def tiny_config(models, name: str = "hiper", **sections):
    """2 iterations x 4 episodes of household h1, at most 3 turns of 24 tokens; eval 4 episodes each iteration."""
    data = {
        "model": {"path": str(models["base"].parent / "{format}")},
        "env": {"name": "household", "horizon": 1, "n_train_tasks": 8},
        "method": {"name": name, "group_size": 2},
        "rollout": {"episodes": 4, "max_new_tokens": 24, "max_turns": 3},
        "ppo": {"lr": 1e-3, "critic_lr": 1e-2, "minibatch_turns": 6},
        "run": {
            "iterations": 2,
            "eval_every": 1,
            "eval_episodes": 4,
            "checkpoint_every": 1,
            "progress": False,
        },
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return build_config(data)


@pytest.fixture(scope="module")
def setup():
    """A tiny policy with a synthetic batch of turns and their credit (the batch and update tests)."""
    from .ddp_worker import synthetic_batch, tiny_policy

    torch.manual_seed(0)
    policy = tiny_policy()
    turns, credit = synthetic_batch(len(policy.tokenizer))
    return policy, turns, credit
