"""What the loop builds once: accelerator, seeds, task splits, policy, optimizer, per-iteration tasks.

Seeding rule (as CleanRL's ppo_atari_multigpu.py): the weight seed is the run seed on every process, so
all processes start from identical weights and heads; sampling seeds are derived from
(run seed, iteration, process rank, purpose), so processes play different episodes and a resumed run
replays exactly the episodes of an uninterrupted one, whatever RNG state the checkpoint held.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hiper_repro.train.config import TrainConfig

PURPOSE = {"rollout": 0, "eval": 1, "minibatch": 2, "value": 3}


def derived_seed(seed: int, iteration: int, rank: int, purpose: str) -> int:
    """A 63-bit seed from (run seed, iteration, rank, purpose) through numpy's SeedSequence."""
    state = np.random.SeedSequence([seed, iteration, rank, PURPOSE[purpose]]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def generator(seed: int, iteration: int, rank: int, purpose: str) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, iteration, rank, purpose))


def seed_everything(seed: int) -> None:
    """Global RNGs (python, numpy, torch): the shared weight seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_accelerator(cfg: TrainConfig, out: Path) -> Any:
    """One Accelerator for CPU, one GPU or several (DDP; FSDP when `run.distributed='fsdp'` on GPU).

    bf16 only on GPU; tensorboard through accelerate's trackers, under `out/tensorboard`.
    """
    from accelerate import Accelerator

    kwargs: dict[str, Any] = {}
    on_gpu = not cfg.run.cpu and torch.cuda.is_available()
    if on_gpu and cfg.run.distributed == "fsdp":
        from accelerate import FullyShardedDataParallelPlugin

        kwargs["fsdp_plugin"] = FullyShardedDataParallelPlugin(use_orig_params=True)
    return Accelerator(
        cpu=cfg.run.cpu,
        mixed_precision=cfg.run.mixed_precision if on_gpu else "no",
        log_with="tensorboard",
        project_dir=str(out),
        **kwargs,
    )


def model_path(cfg: TrainConfig) -> str:
    """`model.path` with `{env}`, `{format}` and `{horizon}` filled in."""
    try:
        return cfg.model.path.format(env=cfg.env.name, format=cfg.fmt, horizon=cfg.env.horizon)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"config model.path={cfg.model.path!r}: only {{env}}, {{format}} and {{horizon}} are filled in "
            f"({type(err).__name__}: {err})"
        ) from None


def check_inputs(cfg: TrainConfig) -> None:
    """What the config points to exists and agrees with it, checked before any model loads: the model
    folder, and the task splits (see `load_splits`)."""
    path = Path(model_path(cfg))
    if not path.is_dir():
        raise ValueError(f"config model.path resolves to {str(path)!r}, which is not a folder")
    load_splits(cfg)


def load_splits(cfg: TrainConfig) -> tuple[list[Any], list[Any]]:
    """Training tasks and the fixed evaluation split (first `run.eval_episodes` of it).

    Every task must be of the config's env and horizon and of its file's split, and no evaluation task
    may be among the training tasks: a run's traces are labelled with the config's env and horizon.
    """
    from hiper_repro.envs import load_tasks, make_tasks
    from hiper_repro.envs.tasks import check_disjoint, check_tasks

    e = cfg.env
    train = (
        load_tasks(e.train_tasks)
        if e.train_tasks
        else make_tasks(e.name, e.horizon, "train", e.n_train_tasks, e.task_seed)
    )
    if e.eval_tasks:
        evals = load_tasks(e.eval_tasks)
    else:
        evals = make_tasks(e.name, e.horizon, "eval", cfg.run.eval_episodes, e.task_seed)
    if not train:
        raise ValueError(f"env.train_tasks={e.train_tasks!r} holds no tasks")
    check_tasks(train, e.name, e.horizon, "train", f"env.train_tasks={e.train_tasks or '(generated)'}")
    check_tasks(evals, e.name, e.horizon, "eval", f"env.eval_tasks={e.eval_tasks or '(generated)'}")
    check_disjoint(train, evals, f"env.train_tasks={e.train_tasks or '(generated)'}")
    if len(evals) < cfg.run.eval_episodes:
        raise ValueError(
            f"run.eval_episodes={cfg.run.eval_episodes} but the eval split holds {len(evals)} tasks"
        )
    return train, evals[: cfg.run.eval_episodes]


def iteration_tasks(
    train_tasks: list[Any], cfg: TrainConfig, iteration: int, rank: int, world: int
) -> tuple[list[Any], list[int]]:
    """This process's tasks for `iteration` and their global group ids.

    The iteration's global list is drawn from (seed, iteration) alone, with each task repeated
    `group_size` times for group methods; process r plays its contiguous share (groups never straddle).
    """
    sizes = cfg.derived(world)
    rng = np.random.default_rng([cfg.run.seed, iteration])
    n = sizes["tasks_per_iteration"]
    idx = rng.choice(len(train_tasks), size=n, replace=len(train_tasks) < n)
    group = np.repeat(np.arange(n), sizes["group_size"])
    lo = rank * sizes["episodes_per_process"]
    mine = group[lo : lo + sizes["episodes_per_process"]]
    return [train_tasks[idx[g]] for g in mine], mine.tolist()


def _load_policy(path: Path, fmt: str, heads: tuple[str, ...], lora: Any, seed: int) -> Any:
    """A saved policy or a plain model folder with the heads a method needs (new heads start at zero)."""
    from hiper_repro.agent.policy import AGENT_JSON, Policy, PolicyConfig

    want = PolicyConfig(fmt=fmt, heads=heads, lora=lora, seed=seed)
    meta = path / AGENT_JSON
    if not meta.is_file():
        return Policy.load(path, config=want)
    saved = PolicyConfig.from_json(json.loads(meta.read_text())["policy"])
    if saved.fmt != fmt:
        raise ValueError(f"model at {path} writes format {saved.fmt!r} but this run needs {fmt!r}")
    want = replace(want, head_hidden=saved.head_hidden)
    if saved.heads == heads:
        return Policy.load(path, config=want)
    # e.g. a warm start without V_term: keep its LM, build the heads this method needs
    loaded = Policy.load(path, config=replace(want, heads=saved.heads, lora=None))
    return Policy(loaded.lm, loaded.tokenizer, want)


def method_heads(cfg: TrainConfig) -> tuple[str, ...]:
    """hiper with switch_form='code' needs ('low', 'high', 'term'); other Plan-Execute methods
    ('low', 'high'); flat ppo ('low',)."""
    from hiper_repro.agent.policy import default_heads

    return default_heads(cfg.fmt, term=cfg.base_method == "hiper" and cfg.method.switch_form == "code")


def build_policy(cfg: TrainConfig, device: torch.device | str) -> Any:
    """Load the starting policy with the heads the method needs (new heads start at zero values).

    Heads of a saved policy are kept when they match. LoRA (`model.lora_rank` > 0) is added on top of a
    merged warm start. `model.critic`: 'detached' makes the heads read detached hidden states; 'separate'
    freezes the policy's own heads (`build_critic` makes the critic).
    """
    from hiper_repro.agent.policy import LoraSettings

    path = Path(model_path(cfg))
    if not path.is_dir():
        raise ValueError(f"model.path resolves to {str(path)!r}, which is not a folder")
    lora = (
        LoraSettings(rank=cfg.model.lora_rank, alpha=float(cfg.model.lora_alpha))
        if cfg.model.lora_rank
        else None
    )
    policy = _load_policy(path, cfg.fmt, method_heads(cfg), lora, cfg.run.seed)
    policy.detach_values = cfg.model.critic == "detached"
    if cfg.model.critic == "separate":
        policy.heads.requires_grad_(False)
    if cfg.model.gradient_checkpointing:
        policy.lm.gradient_checkpointing_enable()
    if cfg.ppo.kl_coef > 0 and not policy.is_lora:
        policy.attach_frozen_reference()
    return policy.to(device)


def build_critic(cfg: TrainConfig, device: torch.device | str) -> Any | None:
    """The separate critic of `model.critic: separate` (None otherwise): a copy of `model.critic_path`
    (default: the starting policy model) with the method's value heads, every weight trained.

    Only its decoder and heads are used: an untied output projection is frozen (no gradient, no
    optimizer state, not checkpointed).
    """
    if cfg.model.critic != "separate" or not cfg.has_critic:
        return None
    path = Path(cfg.model.critic_path.format(env=cfg.env.name, format=cfg.fmt) or model_path(cfg))
    if not path.is_dir():
        raise ValueError(f"model.critic_path resolves to {str(path)!r}, which is not a folder")
    critic = _load_policy(path, cfg.fmt, method_heads(cfg), None, cfg.run.seed)
    out_emb, in_emb = critic.lm.get_output_embeddings(), critic.lm.get_input_embeddings()
    if out_emb is not None and out_emb.weight is not in_emb.weight:
        out_emb.requires_grad_(False)
    if cfg.model.gradient_checkpointing:
        critic.lm.gradient_checkpointing_enable()
    return critic.to(device)


def lr_factors(cfg: TrainConfig) -> tuple[Any, Any]:
    """Per-iteration learning-rate factors (actor, critic): the actor stays at 0 through the critic
    warm-up, then ramps up linearly over `ppo.warmup_iterations`; the critic trains at full rate."""
    hold, ramp = cfg.ppo.critic_warmup_iterations, cfg.ppo.warmup_iterations

    def actor(i: int) -> float:
        if i < hold:
            return 0.0
        return min(1.0, (i - hold + 1) / ramp) if ramp > 0 else 1.0

    return actor, lambda i: 1.0


def build_optimizer(
    policy: Any, cfg: TrainConfig, critic: Any | None = None
) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW: the actor lr on the policy's trainable LM weights, the critic lr on the value heads (or on
    the whole separate critic); learning-rate factors from `lr_factors`."""
    head_ids = {id(p) for p in policy.heads.parameters()}
    actor = [p for p in policy.parameters() if p.requires_grad and id(p) not in head_ids]
    source = critic if critic is not None else policy.heads
    values = [p for p in source.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": actor, "lr": cfg.ppo.lr}, {"params": values, "lr": cfg.ppo.critic_lr}],
        weight_decay=cfg.ppo.weight_decay,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, list(lr_factors(cfg)))
    return opt, sched
