"""Worker for test_distributed.py: one PPO update on a fixed synthetic batch, one or two processes.

Run as `torchrun --nproc_per_node 2 ddp_worker.py OUT [MICROBATCH_TURNS]` (two gloo CPU processes, each
taking its half of the turns) or imported and called with world 1 on all turns. Writes the updated trainable parameters
(rank 0) to OUT as safetensors.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import torch
from safetensors.torch import save_file

N_TURNS, T_MAX = 8, 4


def tiny_policy():
    from hiper_repro.agent.models import build_tiny_model
    from hiper_repro.agent.policy import Policy, PolicyConfig
    from hiper_repro.agent.tokenizer import train_word_tokenizer

    tok = train_word_tokenizer(["go to the cabinet take the apple put it in the fridge open close"])
    lm = build_tiny_model("tiny-xs", tok, seed=0)
    policy = Policy(lm, tok, PolicyConfig(fmt="plan_execute", heads=("low", "high"), seed=0))
    policy.attach_frozen_reference()
    return policy


def synthetic_batch(vocab: int):
    """N_TURNS turns (episode b = i // 2, turn t = i % 2) with random tokens and blocks, plus credit."""
    from hiper_repro.agent.rollout import TurnTokens

    g = torch.Generator().manual_seed(123)
    turns = []
    for i in range(N_TURNS):
        p_len = 5 + i % 3
        r_len = 3 + i % 4
        block = torch.randint(0, 4, (r_len,), generator=g)
        turns.append(
            TurnTokens(
                b=i // 2,
                t=i % 2,
                prompt_ids=torch.randint(3, vocab, (p_len,), generator=g),
                response_ids=torch.randint(3, vocab, (r_len,), generator=g),
                logprobs=torch.zeros(r_len),
                block=block,
                value_low_pos=int(r_len // 2),
            )
        )
    shape = (N_TURNS // 2, T_MAX)
    credit = SimpleNamespace(
        adv_switch=torch.randn(shape, generator=g),
        adv_subgoal=torch.randn(shape, generator=g),
        adv_action=torch.randn(shape, generator=g),
        targets={"low": torch.randn(shape, generator=g), "high": torch.randn(shape, generator=g)},
        invalid=None,
    )
    return turns, credit


def run(
    rank: int,
    world: int,
    microbatch_turns: int = 0,
    minibatch_turns: int = N_TURNS,
    rescore: bool = False,
    ppo: dict | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """One epoch of updates; returns the trainable parameters after it and the update's diagnostics.

    `rescore=False` (what training does) leaves the old log-probs to the update's first forward."""
    from accelerate import Accelerator

    from hiper_repro.train.batch import TurnScorer, prepare_batch
    from hiper_repro.train.config import build_config
    from hiper_repro.train.setup import build_optimizer
    from hiper_repro.train.update import ppo_update

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True)
    policy = tiny_policy()
    settings = {"lr": 1e-2, "critic_lr": 1e-2, "kl_coef": 0.01, "entropy_coef": 0.01, "epochs": 1}
    settings |= {
        "minibatch_turns": minibatch_turns,
        "microbatch_turns": microbatch_turns,
        "max_grad_norm": 1.0,
    }
    cfg = build_config({"model": {"path": "unused"}, "ppo": settings | (ppo or {})})
    optimizer, _ = build_optimizer(policy, cfg)
    learner = TurnScorer(policy)
    ddp_learner, optimizer = accelerator.prepare(learner, optimizer)
    turns, credit = synthetic_batch(len(policy.tokenizer))
    share = N_TURNS // world
    mine = turns[rank * share : (rank + 1) * share]
    batch = prepare_batch(learner, mine, credit, kl_coef=0.01, rescore=rescore)
    # One minibatch of the whole global batch: the update must not depend on how turns are split
    # (over processes, or over micro-batches within a process).
    stats = ppo_update(accelerator, ddp_learner, optimizer, batch, cfg.ppo, torch.Generator().manual_seed(0))
    return {n: p.detach().clone() for n, p in policy.named_parameters() if p.requires_grad}, stats


if __name__ == "__main__":
    import os

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    params, _ = run(rank, world, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    if rank == 0:
        save_file({k: v.contiguous() for k, v in params.items()}, sys.argv[1])
        print(f"world={world} wrote {sys.argv[1]}")
