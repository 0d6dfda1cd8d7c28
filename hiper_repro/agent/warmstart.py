"""Supervised warm start on noisy expert demonstrations: ``warm_start(cfg, out)`` and ``hiper-repro warmstart``.

Demonstrations: ``n_demos`` episodes split evenly over ``horizons``, drawn from each horizon's train
split (seeded by ``seed``) and played by the env's expert with probability ``noise`` of a random
admissible action per turn (:func:`hiper_repro.envs.expert_episode`). Every turn gives one example:
the prompt the agent would see (same builder as the rollout: the history holds the actions actually
taken; "current subgoal" is the expert's previous subgoal) and the target reply,

    Plan-Execute: <switch>KEEP|SWITCH</switch><subgoal>expert subgoal</subgoal><action>a</action>
    flat:         <action>a</action>

where ``a`` is the expert's action (``targets: expert``, default: noise only diversifies the states
and teaches recovery) or the action taken (``targets: taken``: the noise is imitated too).

Training: next-token cross-entropy on the reply tokens, plus ``prompt_loss_weight`` times the mean
cross-entropy on the prompt tokens (plain language modelling of the environment's text: a tiny model
learns to copy object and place names from the prompt many times faster with it), AdamW, cosine decay
with linear warm-up, ``steps`` updates or until ``time_budget_s`` runs out, whichever comes first. With LoRA the adapters
are merged before saving, so a later LoRA run's reference policy (adapters disabled) is this model.

Output folder: the policy (see :mod:`hiper_repro.agent.policy`) and ``warmstart_eval.json``: greedy
success per horizon on ``n_eval`` eval-split tasks, the noisy expert's own success per horizon, the loss
curve and timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from hiper_repro.agent.evaluate import evaluate, write_json
from hiper_repro.agent.formats import check_format, render_response
from hiper_repro.agent.generation import GenerationConfig
from hiper_repro.agent.parser import parse_response
from hiper_repro.agent.policy import LoraSettings, Policy, PolicyConfig, default_heads
from hiper_repro.agent.prompts import PromptState, cut_history, encode_prompt
from hiper_repro.agent.rollout import TurnTokens
from hiper_repro.agent.scoring import score_turns
from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.envs.protocol import ENV_NAMES
from hiper_repro.yamlfile import DuplicateKeyError, safe_load

EVAL_FILE = "warmstart_eval.json"


@dataclass(frozen=True)
class WarmStartConfig:
    """Warm-start settings; YAML keys are these field names (unknown keys are an error)."""

    env: str = "household"  # environment the demonstrations come from
    fmt: str = "plan_execute"  # "plan_execute" | "flat"
    model: str = "tiny-s"  # tiny preset (built here from `seed`), "smollm2-135m", HF id or folder
    base_dir: str | None = None  # a folder written by `hiper-repro model`; overrides `model`
    cache_dir: str | None = None  # where smollm2-135m is converted
    term_head: bool = False  # Plan-Execute: add the V_term head (authors' code form)
    head_hidden: int = 0  # value-head MLP width (0: linear)
    lora: dict | None = None  # LoraSettings fields; None: full fine-tuning
    horizons: tuple[int, ...] = (1, 2, 3, 4)  # horizons the demonstrations are drawn from
    n_demos: int = 1200  # demonstration episodes in total, split evenly over horizons
    noise: float = 0.2  # probability of a random admissible action per demonstration turn
    targets: str = "expert"  # "expert": imitate the expert's action; "taken": imitate what was done
    steps: int = 3000  # optimiser updates (upper bound)
    time_budget_s: float | None = None  # wall-clock cap (breaks same-seed-same-result); None: no cap
    lr: float = 2e-3  # peak learning rate (AdamW)
    warmup_steps: int = 50  # linear warm-up
    weight_decay: float = 0.0
    prompt_loss_weight: float = 0.5  # weight of next-token loss on prompt tokens (0: reply tokens only)
    batch_size: int = 32  # examples (turns) per update
    seed: int = 0  # model init, demonstrations, batches
    eval_horizons: tuple[int, ...] = (1, 2, 3, 4)  # horizons evaluated after training
    n_eval: int = 64  # eval-split tasks per horizon
    eval_seed: int = 0  # seed of the eval task split (independent of `seed`)
    eval_temperature: float = 0.0  # 0: greedy
    max_new_tokens: int = 32
    history_length: int = 2
    threads: int = 0  # torch CPU threads; 0: the process's count (`hiper-repro --threads`)
    env_options: dict = field(default_factory=dict)  # passed to make_env

    def __post_init__(self) -> None:
        _check_field_types(self)
        check_format(self.fmt)
        object.__setattr__(self, "horizons", tuple(self.horizons))
        object.__setattr__(self, "eval_horizons", tuple(self.eval_horizons))
        if self.env not in ENV_NAMES:
            raise ValueError(f"env must be one of {list(ENV_NAMES)}, got {self.env!r}")
        for name in ("max_new_tokens", "n_eval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "history_length",
            "threads",
            "warmup_steps",
            "head_hidden",
            "eval_temperature",
            "weight_decay",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.horizons or any(h < 1 for h in self.horizons):
            raise ValueError(f"horizons must be a non-empty list of ints >= 1, got {self.horizons!r}")
        if any(h < 1 for h in self.eval_horizons):
            raise ValueError(f"eval_horizons must be ints >= 1, got {self.eval_horizons!r}")
        if self.n_demos < len(self.horizons):
            raise ValueError(
                f"n_demos must be >= the number of horizons ({len(self.horizons)}), got {self.n_demos}"
            )
        if not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"noise must be in [0, 1], got {self.noise}")
        if self.targets not in ("expert", "taken"):
            raise ValueError(f"targets must be 'expert' or 'taken', got {self.targets!r}")
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(
                f"steps, batch_size and lr must be positive, got {self.steps}, {self.batch_size}, {self.lr}"
            )
        if self.prompt_loss_weight < 0:
            raise ValueError(f"prompt_loss_weight must be >= 0, got {self.prompt_loss_weight}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be > 0 or None, got {self.time_budget_s}")
        if self.lora is not None:
            try:
                self.policy_config()
            except TypeError as err:
                raise ValueError(f"warm-start config lora={self.lora!r:.80}: {err}") from None

    @classmethod
    def from_dict(cls, data: dict) -> WarmStartConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown warm-start config key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> WarmStartConfig:
        try:
            data = safe_load(Path(path).read_text(encoding="utf-8"))
        except DuplicateKeyError as err:
            raise ValueError(f"{path}: {err.problem}") from None
        except (UnicodeDecodeError, yaml.YAMLError) as err:
            raise ValueError(f"{path}: not a YAML text file ({type(err).__name__})") from None
        data = {} if data is None else data  # an empty file: every default
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping, got {type(data).__name__}")
        return cls.from_dict(data)

    def policy_config(self) -> PolicyConfig:
        lora = None
        if self.lora is not None:
            lora = LoraSettings(
                **{
                    **self.lora,
                    "target_modules": tuple(self.lora.get("target_modules", ("q_proj", "v_proj"))),
                }
            )
        return PolicyConfig(
            fmt=self.fmt,
            heads=default_heads(self.fmt, self.term_head),
            head_hidden=self.head_hidden,
            lora=lora,
            seed=self.seed,
        )


def demonstrations(cfg: WarmStartConfig, tokenizer) -> tuple[list[TurnTokens], dict]:
    """Tokenised demonstration turns and the noisy expert's success per horizon."""
    from hiper_repro.envs import expert_episode, make_env, make_tasks

    env = make_env(cfg.env, **cfg.env_options)
    rng = random.Random(f"warmstart|{cfg.env}|{cfg.seed}")
    per_h = [
        cfg.n_demos // len(cfg.horizons) + (i < cfg.n_demos % len(cfg.horizons))
        for i in range(len(cfg.horizons))
    ]
    examples: list[TurnTokens] = []
    expert_success: dict[str, float] = {}
    for h, n_h in zip(cfg.horizons, per_h):
        wins = 0
        for task in make_tasks(cfg.env, h, "train", n_h, cfg.seed, **cfg.env_options):
            records, info = expert_episode(env, task, cfg.noise, rng)
            wins += bool(info.get("won"))
            history: list[tuple[str, str]] = []
            previous = None
            for t, r in enumerate(records):
                state = PromptState(
                    task=task.instruction,
                    step=t,
                    history=cut_history(history, cfg.history_length),
                    observation=r.observation,
                    admissible=tuple(r.admissible),
                    subgoal=previous,
                )
                action = r.expert_action if cfg.targets == "expert" else r.action
                if not (cfg.targets == "taken" or r.expert_action in r.admissible):
                    raise ValueError(
                        f"expert action {r.expert_action!r} is not admissible in task {task.task_id}"
                    )
                reply = render_response(cfg.fmt, action, r.subgoal, r.switch)
                prompt = encode_prompt(state, cfg.fmt, tokenizer)
                response = tokenizer.encode(reply, add_special_tokens=False)
                # A demonstration the parser would reject after the tokenizer round trip teaches nothing.
                decoded = tokenizer.decode(response, skip_special_tokens=True)
                check = parse_response(decoded, cfg.fmt, r.admissible)
                if not check.valid and (cfg.targets == "expert" or action in r.admissible):
                    raise ValueError(
                        f"demonstration reply {reply!r} decodes to {decoded!r}, which the parser rejects "
                        f"({check.reason}); the tokenizer does not cover task {task.task_id}"
                    )
                examples.append(
                    TurnTokens(
                        b=len(examples),
                        t=t,
                        prompt_ids=torch.tensor(prompt, dtype=torch.long),
                        response_ids=torch.tensor(response, dtype=torch.long),
                        logprobs=torch.zeros(len(response)),
                        block=torch.zeros(len(response), dtype=torch.long),
                        value_low_pos=-1,
                    )
                )
                history.append((r.observation, r.action))
                previous = r.subgoal
        expert_success[str(h)] = wins / max(n_h, 1)
    env.close()
    return examples, expert_success


def _check_field_types(cfg: WarmStartConfig) -> None:
    """Every field holds its annotated type (ints where floats are asked are fine; floats finite), so a
    wrong value in a YAML file is named here and not met as a TypeError deep in training."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value, hint = getattr(cfg, f.name), hints[f.name]
        allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        kinds = tuple(typing.get_origin(a) or a for a in allowed)
        if float in kinds:
            kinds += (int,)
        if tuple in kinds:
            kinds += (list,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if ok and isinstance(value, list | tuple):  # tuple[int, ...]: the horizons
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if ok and isinstance(value, float):
            ok = math.isfinite(value)
        if not ok:
            raise ValueError(f"warm-start config {f.name}={value!r:.80}: expected {hint}")


def load_base(cfg: WarmStartConfig) -> Policy:
    """The policy to fine-tune: from ``base_dir``, or built/loaded from ``model``."""
    from hiper_repro.agent.cli_model import env_corpus
    from hiper_repro.agent.models import build_tiny_model, is_tiny, load_model
    from hiper_repro.agent.tokenizer import train_word_tokenizer
    from hiper_repro.envs import make_tasks

    pcfg = cfg.policy_config()
    if cfg.base_dir is not None:
        if not Path(cfg.base_dir).is_dir():
            raise ValueError(f"warm-start config base_dir={cfg.base_dir!r}: no such folder")
        return Policy.load(cfg.base_dir, pcfg)
    if is_tiny(cfg.model):
        tasks = [
            t
            for h in sorted(set(cfg.horizons) | set(cfg.eval_horizons))
            for t in make_tasks(cfg.env, h, "train", 32, cfg.seed, **cfg.env_options)
        ]
        tokenizer = train_word_tokenizer(env_corpus(tasks, cfg.env_options))
        return Policy(build_tiny_model(cfg.model, tokenizer, cfg.seed), tokenizer, pcfg)
    model, tokenizer = load_model(cfg.model, cfg.cache_dir)
    return Policy(model, tokenizer, pcfg)


def sft(policy: Policy, examples: list[TurnTokens], cfg: WarmStartConfig) -> dict:
    """Cross-entropy on reply tokens; returns the loss curve and step count (see module docstring)."""
    if not examples:
        raise ValueError("no demonstration turns to train on")
    params = [p for p in policy.lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        frac = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))

    gen = torch.Generator().manual_seed(cfg.seed)
    policy.train()
    curve, start, step, running = [], time.perf_counter(), 0, 0.0
    batches: list[list[int]] = []
    while step < cfg.steps:
        if cfg.time_budget_s is not None and time.perf_counter() - start > cfg.time_budget_s:
            break
        if not batches:
            batches = _length_bucketed_batches(
                [len(e.prompt_ids) + len(e.response_ids) for e in examples], cfg.batch_size, gen
            )
        batch = [examples[i] for i in batches.pop()]
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = sft_loss(policy, batch, cfg.prompt_loss_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        value = loss.item()
        running = 0.98 * running + 0.02 * value if step else value
        step += 1
        if step % 50 == 0:
            elapsed = time.perf_counter() - start
            curve.append({"step": step, "loss": running, "elapsed_s": elapsed})
            if step % 250 == 0 or step == cfg.steps:
                eta = elapsed / step * (cfg.steps - step)
                print(
                    f"sft step {step}/{cfg.steps}: loss {running:.3f}, {elapsed:.0f} s, eta {eta:.0f} s",
                    flush=True,
                )
    policy.eval()
    return {"steps": step, "train_s": time.perf_counter() - start, "loss_curve": curve, "final_loss": running}


def sft_loss(policy: Policy, batch: list[TurnTokens], prompt_loss_weight: float) -> torch.Tensor:
    """mean CE(reply tokens) + prompt_loss_weight * mean CE(prompt tokens after the first)."""
    if prompt_loss_weight == 0:
        scores = score_turns(policy, batch, policy.pad_id)
        return -(scores.logprobs * scores.mask).sum() / scores.mask.sum()
    seqs = [torch.cat([t.prompt_ids, t.response_ids]) for t in batch]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), policy.pad_id, dtype=torch.long)
    is_reply = torch.zeros((len(seqs), width), dtype=torch.bool)
    is_prompt = torch.zeros((len(seqs), width), dtype=torch.bool)
    for i, (s, t) in enumerate(zip(seqs, batch)):
        ids[i, : len(s)] = s
        is_prompt[i, 1 : len(t.prompt_ids)] = True
        is_reply[i, len(t.prompt_ids) : len(s)] = True
    attn = (is_prompt | is_reply).long()
    attn[:, 0] = 1
    device = policy.device
    h, _ = policy.hidden(ids.to(device), attn.to(device))
    logp = torch.log_softmax(policy.logits(h[:, :-1]), dim=-1)
    nll = -logp.gather(-1, ids[:, 1:].to(device)[..., None]).squeeze(-1)
    reply, prompt = is_reply[:, 1:].to(device), is_prompt[:, 1:].to(device)
    return (nll * reply).sum() / reply.sum() + prompt_loss_weight * (nll * prompt).sum() / prompt.sum().clamp(
        min=1
    )


def _length_bucketed_batches(lengths: list[int], batch_size: int, gen: torch.Generator) -> list[list[int]]:
    """One epoch of batches: shuffle, sort each window of 16 batches by length (less padding), shuffle batches."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    window = 16 * batch_size
    batches = []
    for lo in range(0, len(order), window):
        chunk = sorted(order[lo : lo + window], key=lambda i: lengths[i])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[k] for k in perm]


def warm_start(cfg: WarmStartConfig, out: str | Path) -> dict:
    """Build/load the base, fine-tune on demonstrations, save to ``out``, evaluate; returns the report."""
    from hiper_repro.envs import make_tasks

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    policy = load_base(cfg)
    examples, expert_success = demonstrations(cfg, policy.tokenizer)
    demo_s = time.perf_counter() - t0
    train = sft(policy, examples, cfg)
    policy.save(out, merge_lora=True)
    policy = Policy.load(out)
    gen = GenerationConfig(cfg.max_new_tokens, cfg.eval_temperature, cfg.history_length)
    success: dict[str, dict] = {}
    t1 = time.perf_counter()
    for h in cfg.eval_horizons:
        tasks = make_tasks(cfg.env, h, "eval", cfg.n_eval, cfg.eval_seed, **cfg.env_options)
        result = evaluate(
            policy, tasks, cfg.fmt, gen, batch_size=64, seed=cfg.seed, env_options=cfg.env_options
        )
        success[str(h)] = result.summary["overall"]
    report = {
        "config": dataclasses.asdict(cfg),
        "success_by_horizon": {h: s["success"] for h, s in success.items()},
        "eval_by_horizon": success,
        "expert_success_by_horizon": expert_success,
        "n_demo_turns": len(examples),
        "demo_s": demo_s,
        "eval_s": time.perf_counter() - t1,
        **train,
    }
    write_json(Path(out) / EVAL_FILE, report)
    return report


def main(argv: list[str]) -> int:
    """``hiper-repro warmstart --config FILE --out DIR``."""
    ap = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro warmstart", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--config", required=True, help="YAML with WarmStartConfig fields")
    ap.add_argument("--out", required=True, help="output folder (policy + warmstart_eval.json)")
    args = ap.parse_args(argv)
    report = warm_start(WarmStartConfig.from_yaml(args.config), args.out)
    rates = ", ".join(f"h{h}: {s:.2f}" for h, s in report["success_by_horizon"].items())
    print(f"warm start: {report['steps']} steps in {report['train_s']:.0f} s; success {rates}")
    return 0
