"""One dataclass tree for a training run: defaults, YAML loading, `--set` overrides, training recipes.

A config file is YAML mirroring the tree (`ppo: {clip: 0.2}`); an optional top-level `recipe: NAME` key
starts from a shipped training recipe (`cpu-tiny`, `smollm2`, `gpu-1.5b`, `gpu-7b`, files in
`train/recipes/`) before the file's own keys apply ("preset" names the pipeline's presets,
`config/presets/`; a training config's old `preset:` key is refused naming `recipe`). Unknown keys are
rejected naming the dotted key. `--set a.b=value` overrides parse `value` as YAML (so `1e-5`, `true`,
`[1, 2]` work). Derived sizes are computed once by `TrainConfig.derived()`.

Relative paths (`PATH_KEYS`: the model folders and task files) written in a config file are relative to
that file's folder, so a config and the files beside it move together and work from any working
directory; `--set` overrides and recipes stay relative to the working directory, where they are typed.
`load_config` rewrites the file's relative paths to paths from the working directory (`a/b.yaml` holding
`model.path: ../m` gives `m`), so a resolved config and its hash say where the files are as seen from the
process that trains; `relative_paths` is the inverse, for tools that write config files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hiper_repro import methods_registry
from hiper_repro.envs.protocol import ENV_NAMES
from hiper_repro.io import write_atomic
from hiper_repro.yamlfile import safe_load

# The methods as this module loads; the registry itself is the authority (a method registered later, such as
# a test's toy method, is valid too): `methods_registry.names()`.
METHODS = methods_registry.names()
RECIPE_DIR = Path(__file__).with_name("recipes")
TRACKERS = ("tensorboard", "wandb")
# One value check: (passes, dotted key, the value seen, what is expected).
Check = tuple[bool, str, Any, str]
# Keys that name files or folders: relative values in a config file are relative to the file's folder.
PATH_KEYS = ("model.path", "model.critic_path", "env.train_tasks", "env.eval_tasks")


@dataclass
class ModelConfig:
    """The policy model (built by `hiper_repro.agent`)."""

    path: str = ""
    """folder of the starting model (base or warm-start checkpoint); required"""
    lora_rank: int = 0
    """LoRA rank for the policy; 0 trains all weights"""
    lora_alpha: int = 16
    """LoRA alpha (scaling alpha / rank)"""
    gradient_checkpointing: bool = False
    """recompute activations in backward to save memory (GPU recipes)"""
    critic: str = "shared"
    """where the value heads read their features: 'shared' (the policy's hidden states; value gradients
    reach the policy trunk), 'detached' (the policy's hidden states, detached: only the heads learn) or
    'separate' (a critic model of its own, trained with ppo.critic_lr, as in the authors' setup)"""
    critic_path: str = ""
    """starting weights of the separate critic model; empty: a copy of the starting policy model"""


@dataclass
class EnvConfig:
    """Environment and task splits."""

    name: str = "household"
    """environment name for `hiper_repro.envs.make_env`"""
    horizon: int = 2
    """number of dependent subtasks"""
    train_tasks: str = ""
    """JSONL of training tasks; empty: generate `n_train_tasks` with `make_tasks(split='train')`"""
    eval_tasks: str = ""
    """JSONL of the fixed evaluation split; empty: generate `eval_episodes` with `make_tasks(split='eval')`"""
    n_train_tasks: int = 1024
    """training tasks generated when `train_tasks` is empty"""
    task_seed: int = 0
    """seed of generated task splits; independent of the run seed so every method sees the same tasks"""
    history_length: int = 2
    """observation/action pairs shown in the prompt"""


@dataclass
class MethodConfig:
    """Credit assignment: which estimator, its discounting and options."""

    name: str = "hiper"
    """a method of `hiper_repro.methods_registry`: hiper, ppo, ppo-pe, grpo, rloo, gigpo, hgigpo, or a variant
    (hiper-paper, hiper-keep, ppo-pe-keep: a base method plus config overrides, applied by `build_config`)"""
    gamma: float = 1.0
    """discount per turn"""
    lam: float = 1.0
    """GAE lambda of flat methods (ppo, ppo-pe) and of adv_flat in traces"""
    lam_low: float = 1.0
    """HAE low-level lambda"""
    lam_high: float = 0.95
    """HAE high-level (segment) lambda"""
    lam_boundary: float = 0.0
    """HAE: at a segment's last turn the low level bootstraps from (1 - l) V_high(s_next) + l R_high_next,
    R_high the next segment's high-level lambda-return; 0 is the paper's HAE, 1 passes the observed
    outcome into earlier segments while V_high is still untrained"""
    switch_form: str = "paper"
    """switch advantage: 'paper' ((q - beta)(V_high - V_low)) or 'code' (third head V_term)"""
    group_size: int = 4
    """episodes per task for group methods (grpo, rloo, gigpo, hgigpo)"""
    gigpo_step_weight: float = 1.0
    """GiGPO and HGiGPO weight of the step-level (anchor-group) advantage added to the episode-level one"""
    gigpo_gamma: float = 0.95
    """GiGPO and HGiGPO discount for the step-level discounted returns"""
    gigpo_std_normalise: bool = True
    """GiGPO and HGiGPO divide episode and anchor-group advantages by the group's std (False: centre only)"""
    grpo_std_normalise: bool = True
    """GRPO divides by the group's reward std (Dr.GRPO: False)"""


@dataclass
class ShapingConfig:
    """Reward shaping applied in training only (environments stay sparse); all recorded in the run."""

    invalid_penalty: float = 0.1
    """subtracted from an invalid turn's reward"""
    invalid_penalty_on: str = "format"
    """which invalid turns pay it: 'format' (the reply broke the format; an inadmissible but well-formed
    action is answered by the environment and costs nothing, so the penalty cannot be dodged by always
    choosing a safe admissible action) or 'any' (also inadmissible actions, the authors' rule)"""
    progress_coef: float = 0.0
    """potential-based progress shaping (Ng, Harada and Russell 1999): F_t = c (gamma Phi(s_t+1) - Phi(s_t))
    with Phi = the environment's score (subtasks done / horizon) and Phi = 0 once the episode ends, so
    every episode's shaped return shifts by the same constant and the optimal policy is unchanged"""
    keep_penalty: float = 0.0
    """KEEP penalty c (authors' ALFWorld runs: 0.3); how it is charged follows `keep_penalty_mode`; off
    by default"""
    keep_penalty_mode: str = "fixed"
    """'fixed': c on every KEEP turn (an episode with k KEEP turns pays c k); 'normalized' (the authors'
    code's default and the mode of their runs): an episode with k KEEP turns among its n decision turns
    (turns 1..n, turn 0 always switches) pays c k / n in total, c / n on each KEEP turn"""
    keep_consistency_penalty: float = 0.0
    """subtracted when a KEEP turn changes the subgoal text (authors' code: 0.3); off by default"""
    switch_rate_floor: float = 0.0
    """switch-rate floor f in [0, 1] (authors' headline runs: 0.25): an episode whose switch rate
    s / n (s SWITCH turns among its n decision turns) is below f pays
    `switch_rate_floor_coef` x (f - s / n), spread evenly over its KEEP turns; 0: off"""
    switch_rate_floor_coef: float = 0.0
    """coefficient of the switch-rate floor penalty (authors' headline runs: 5.0); 0: off"""
    success_reward: float = 1.0
    """scale of the environment's success reward (authors: 10)"""


@dataclass
class PPOConfig:
    """Policy-gradient update."""

    lr: float = 1e-6
    """actor learning rate"""
    critic_lr: float = 1e-5
    """learning rate of the value heads (and critic model)"""
    warmup_iterations: int = 0
    """linear learning-rate warm-up over this many policy-updating iterations"""
    value_epochs: int = 0
    """extra passes of the value loss alone over the iteration's turns after the PPO update, for a
    critic of its own: 'detached' heads fit on the hidden states cached once (cheap), a 'separate'
    critic runs its own forward and backward passes; 'shared' critics cannot (they would move the
    policy's trunk)"""
    critic_warmup_iterations: int = 0
    """first iterations that train only the critic (value heads, or the separate critic model)"""
    epochs: int = 1
    """passes over the iteration's turns"""
    minibatch_turns: int = 256
    """turns per minibatch (global, over all processes)"""
    max_steps_per_iteration: int = 0
    """cap on optimizer steps per iteration (0: epochs x minibatches)"""
    microbatch_turns: int = 0
    """turns per forward/backward pass on each process; a minibatch's passes accumulate gradients
    before its one step, so the update is unchanged and only peak memory drops; 0: one pass"""
    clip: float = 0.2
    """PPO ratio clip epsilon"""
    kl_coef: float = 0.01
    """coefficient of the k3 KL to the reference (starting) policy; 0 skips the reference pass"""
    entropy_coef: float = 0.001
    """entropy bonus coefficient"""
    value_coef: float = 1.0
    """weight of each value head's loss"""
    value_clip: float = 0.5
    """value-prediction clip around the old values"""
    max_grad_norm: float = 1.0
    """global gradient-norm clip"""
    whiten: bool = True
    """whiten advantages per type (switch, subgoal, action) over the batch's real turns"""
    whiten_scale: str = "action"
    """'per_type': each type divided by its own std; 'action': each type centred on its own mean and
    divided by the action advantages' std, so a small, noisy A_switch is not blown up to unit scale"""
    target_kl: float = 0.0
    """stop the update early (the rest of its epochs and minibatches) once a minibatch measures
    KL(old || current) above this before its step (k3 estimate over its loss-carrying tokens, averaged
    over processes); that minibatch takes no step. 0: off"""
    kl_probe_turns: int = 128
    """turns (per process) on which KL(old || new) is measured after the update; 0: not measured"""
    skip_zero_reward_batches: bool = True
    """skip the policy update (value heads still train) when every reward in the batch is zero"""
    weight_decay: float = 0.0
    """AdamW weight decay"""


@dataclass
class RolloutConfig:
    """Sampling."""

    episodes: int = 32
    """episodes per iteration (global); group methods: tasks x group_size"""
    temperature: float = 1.0
    """training sampling temperature; old log-probs are re-scored at it, and the primary evaluation
    samples at it"""
    eval_temperature: float = 0.4
    """temperature of the secondary evaluation (0: greedy), played before the first update and at the end"""
    max_new_tokens: int = 32
    """cap on response tokens per turn"""
    max_turns: int = 0
    """cap on turns per episode; 0 uses the environment's step limit"""
    max_turns_expert_ratio: float = 0.0
    """> 0: cap each task's turns at ceil(ratio x the expert's path length on it) (and the limits above)"""


@dataclass
class RunConfig:
    """Schedule, logging, devices."""

    iterations: int = 25
    """training iterations"""
    seed: int = 0
    """run seed: weights init of new heads, sampling, task order"""
    eval_every: int = 5
    """evaluate every K iterations (and before the first update and at the end); 0: only those two"""
    eval_episodes: int = 128
    """episodes of the fixed eval split per evaluation"""
    eval_seed: int = 0
    """noise seed of evaluation sampling: with each task id it fixes the episode's random numbers, the
    same for every method, run seed and iteration (common random numbers)"""
    eval_batch: int = 0
    """episodes an evaluation plays together (per process); 0: as many as a training iteration. Larger
    batches generate faster; each task's random numbers are its own, so only float rounding can differ"""
    secondary_eval: bool = True
    """also evaluate at rollout.eval_temperature before the first update and at the end"""
    checkpoint_every: int = 5
    """checkpoint every N iterations (and at the end)"""
    keep_checkpoints: int = 2
    """most recent checkpoints kept on disk"""
    trace_every: int = 1
    """keep traces of every Nth iteration (1: all)"""
    cpu: bool = True
    """force CPU even where a GPU exists"""
    mixed_precision: str = "no"
    """'no' or 'bf16' (GPU only)"""
    distributed: str = "ddp"
    """'ddp' or 'fsdp' when several processes run (set through `accelerate launch`)"""
    progress: bool = True
    """show a tqdm progress bar with ETA"""
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])
    """experiment trackers fed every metrics row through accelerate: 'tensorboard' (run folder's
    tensorboard/), 'wandb' (needs `pip install -e '.[wandb]'`; WANDB_MODE=offline logs without network);
    [] for none (metrics.csv is always written)"""


@dataclass
class TrainConfig:
    """A training run: every option, with `derived()` sizes computed once."""

    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    shaping: ShapingConfig = field(default_factory=ShapingConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    run: RunConfig = field(default_factory=RunConfig)

    # ---- derived, never set by users -------------------------------------------------------------
    @property
    def spec(self) -> methods_registry.MethodSpec:
        """The method's registry entry (`hiper_repro.methods_registry`)."""
        return methods_registry.get(self.method.name)

    @property
    def base_method(self) -> str:
        """The method whose credit assignment runs: the name itself, or a variant's base."""
        return self.spec.base

    @property
    def fmt(self) -> str:
        """Prompt format from the registry: 'flat' for ppo only; every other method writes Plan-Execute
        blocks. (`fmt` in code, as everywhere in the package; "format" only where users type it: `--format`,
        `{format}` in paths.)

        GRPO/RLOO/GiGPO use Plan-Execute like the paper's ablation rows; every block of a turn takes the
        turn's advantage.
        """
        return self.spec.fmt

    @property
    def has_critic(self) -> bool:
        return self.spec.has_critic

    @property
    def is_group(self) -> bool:
        return self.spec.is_group

    def derived(self, world_size: int = 1) -> dict[str, int]:
        """Sizes computed once: tasks and episodes per iteration, per process."""
        group = self.method.group_size if self.is_group else 1
        if self.rollout.episodes % (group * world_size):
            raise ValueError(
                f"rollout.episodes={self.rollout.episodes} must be a multiple of group_size x processes "
                f"= {group} x {world_size}"
            )
        return {
            "group_size": group,
            "tasks_per_iteration": self.rollout.episodes // group,
            "episodes_per_process": self.rollout.episodes // world_size,
            "tasks_per_process": self.rollout.episodes // (group * world_size),
        }

    def validate(self) -> TrainConfig:
        """Check values; return self. Raises ValueError naming the key and the value seen: the first failing
        check, section by section (`SECTION_CHECKS`)."""
        _check_finite(self, "")
        known = methods_registry.names()
        if self.method.name not in known:
            raise ValueError(f"config method.name={self.method.name!r}: expected one of {known}")
        for section in SECTION_CHECKS:
            for ok, key, seen, want in section(self):
                if not ok:
                    raise ValueError(f"config {key}={seen!r}: expected {want}")
        self.derived()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def hash(self) -> str:
        """Short SHA-256 of the resolved config (sorted JSON)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def _method_checks(cfg: TrainConfig) -> list[Check]:
    """`method`: the method's estimator settings."""
    m = cfg.method
    return [
        (m.switch_form in ("paper", "code"), "method.switch_form", m.switch_form, "'paper' or 'code'"),
        (0.0 <= m.gamma <= 1.0, "method.gamma", m.gamma, "in [0, 1]"),
        (0.0 <= m.lam <= 1.0, "method.lam", m.lam, "in [0, 1]"),
        (0.0 <= m.lam_low <= 1.0, "method.lam_low", m.lam_low, "in [0, 1]"),
        (0.0 <= m.lam_high <= 1.0, "method.lam_high", m.lam_high, "in [0, 1]"),
        (m.group_size >= 2 or not cfg.is_group, "method.group_size", m.group_size, ">= 2"),
        (0.0 <= m.lam_boundary <= 1.0, "method.lam_boundary", m.lam_boundary, "in [0, 1]"),
    ]


def _ppo_checks(cfg: TrainConfig) -> list[Check]:
    """`ppo`: the update's sizes, rates and options."""
    p = cfg.ppo
    return [
        (p.epochs >= 1, "ppo.epochs", p.epochs, ">= 1"),
        (p.minibatch_turns >= 1, "ppo.minibatch_turns", p.minibatch_turns, ">= 1"),
        (p.microbatch_turns >= 0, "ppo.microbatch_turns", p.microbatch_turns, ">= 0 (0: one pass)"),
        (p.clip > 0, "ppo.clip", p.clip, "> 0"),
        (p.lr > 0, "ppo.lr", p.lr, "> 0"),
        (p.max_grad_norm > 0, "ppo.max_grad_norm", p.max_grad_norm, "> 0"),
        (
            p.max_steps_per_iteration >= 0,
            "ppo.max_steps_per_iteration",
            p.max_steps_per_iteration,
            ">= 0",
        ),
        (
            p.critic_warmup_iterations >= 0,
            "ppo.critic_warmup_iterations",
            p.critic_warmup_iterations,
            ">= 0",
        ),
        (p.warmup_iterations >= 0, "ppo.warmup_iterations", p.warmup_iterations, ">= 0"),
        (
            p.whiten_scale in ("per_type", "action"),
            "ppo.whiten_scale",
            p.whiten_scale,
            "'per_type' or 'action'",
        ),
        (p.kl_probe_turns >= 0, "ppo.kl_probe_turns", p.kl_probe_turns, ">= 0"),
        (p.target_kl >= 0, "ppo.target_kl", p.target_kl, ">= 0 (0: off)"),
        (p.value_epochs >= 0, "ppo.value_epochs", p.value_epochs, ">= 0"),
        (
            p.value_epochs == 0 or cfg.model.critic != "shared" or not cfg.has_critic,
            "ppo.value_epochs",
            p.value_epochs,
            "0 with model.critic 'shared' (value-only passes would move the policy's trunk)",
        ),
    ]


def _shaping_checks(cfg: TrainConfig) -> list[Check]:
    """`shaping`: the KEEP terms and what the invalid penalty charges."""
    s = cfg.shaping
    return [
        (
            s.keep_penalty_mode in ("fixed", "normalized"),
            "shaping.keep_penalty_mode",
            s.keep_penalty_mode,
            "'fixed' or 'normalized'",
        ),
        (
            0.0 <= s.switch_rate_floor <= 1.0,
            "shaping.switch_rate_floor",
            s.switch_rate_floor,
            "in [0, 1] (0: off)",
        ),
        (
            s.switch_rate_floor_coef >= 0.0,
            "shaping.switch_rate_floor_coef",
            s.switch_rate_floor_coef,
            ">= 0 (0: off)",
        ),
        (
            s.invalid_penalty_on in ("format", "any"),
            "shaping.invalid_penalty_on",
            s.invalid_penalty_on,
            "'format' or 'any'",
        ),
    ]


def _model_checks(cfg: TrainConfig) -> list[Check]:
    """`model`: the starting model and where the critic reads its features."""
    md = cfg.model
    return [
        (
            md.critic in ("shared", "detached", "separate"),
            "model.critic",
            md.critic,
            "'shared', 'detached' or 'separate'",
        ),
        (bool(md.path), "model.path", md.path, "a model folder"),
        (
            not md.critic_path or md.critic == "separate",
            "model.critic_path",
            md.critic_path,
            "empty unless model.critic is 'separate'",
        ),
    ]


def _rollout_checks(cfg: TrainConfig) -> list[Check]:
    """`rollout`: sampling temperatures, lengths and turn limits."""
    ro = cfg.rollout
    return [
        (
            ro.temperature > 0,
            "rollout.temperature",
            ro.temperature,
            "> 0 (training samples)",
        ),
        (
            ro.eval_temperature >= 0,
            "rollout.eval_temperature",
            ro.eval_temperature,
            ">= 0 (0: greedy)",
        ),
        (
            ro.max_turns_expert_ratio >= 0,
            "rollout.max_turns_expert_ratio",
            ro.max_turns_expert_ratio,
            ">= 0 (0: off)",
        ),
        (ro.episodes >= 1, "rollout.episodes", ro.episodes, ">= 1"),
        (ro.max_new_tokens >= 1, "rollout.max_new_tokens", ro.max_new_tokens, ">= 1"),
        (
            ro.max_turns >= 0,
            "rollout.max_turns",
            ro.max_turns,
            ">= 0 (0: the env's limit)",
        ),
    ]


def _run_checks(cfg: TrainConfig) -> list[Check]:
    """`run`: sizes, schedules, precision, processes and trackers."""
    r = cfg.run
    return [
        (r.eval_episodes >= 1, "run.eval_episodes", r.eval_episodes, ">= 1"),
        (r.eval_batch >= 0, "run.eval_batch", r.eval_batch, ">= 0 (0: the training batch)"),
        (r.iterations >= 1, "run.iterations", r.iterations, ">= 1"),
        (r.eval_every >= 0, "run.eval_every", r.eval_every, ">= 0"),
        (r.checkpoint_every >= 1, "run.checkpoint_every", r.checkpoint_every, ">= 1"),
        (r.trace_every >= 1, "run.trace_every", r.trace_every, ">= 1"),
        (r.mixed_precision in ("no", "bf16"), "run.mixed_precision", r.mixed_precision, "'no' or 'bf16'"),
        (r.distributed in ("ddp", "fsdp"), "run.distributed", r.distributed, "'ddp' or 'fsdp'"),
        (
            all(t in TRACKERS for t in r.trackers) and len(set(r.trackers)) == len(r.trackers),
            "run.trackers",
            r.trackers,
            f"a list of distinct names from {TRACKERS} ([] for none)",
        ),
    ]


def _env_checks(cfg: TrainConfig) -> list[Check]:
    """`env`: the environment and its task splits."""
    e = cfg.env
    return [
        (e.horizon >= 1, "env.horizon", e.horizon, ">= 1"),
        (e.name in ENV_NAMES, "env.name", e.name, f"one of {ENV_NAMES}"),
        (e.n_train_tasks >= 1, "env.n_train_tasks", e.n_train_tasks, ">= 1"),
        (e.history_length >= 0, "env.history_length", e.history_length, ">= 0"),
    ]


# Every value check, in the order `TrainConfig.validate` runs them.
SECTION_CHECKS = (
    _method_checks,
    _ppo_checks,
    _shaping_checks,
    _model_checks,
    _rollout_checks,
    _run_checks,
    _env_checks,
)


def _check_finite(obj: Any, prefix: str) -> None:
    """Every float field is a finite number: a NaN or infinite value (YAML's .nan, .inf) would pass every
    range check below (comparisons with NaN are False) and silently switch a term off."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _check_finite(value, f"{prefix}{f.name}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"config {prefix}{f.name}={value!r}: expected a finite number")


def _merge(obj: Any, data: dict[str, Any], prefix: str) -> None:
    """Set dataclass fields of `obj` from a nested dict, rejecting unknown keys by dotted name."""
    if not isinstance(data, dict):
        raise ValueError(f"config {prefix or '<root>'}: expected a mapping, got {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ValueError(f"unknown config key {dotted!r}; known here: {sorted(names)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            _merge(current, value, dotted + ".")
        else:
            setattr(obj, key, _coerce(current, value, dotted))


def _coerce(current: Any, value: Any, dotted: str) -> Any:
    """Coerce a YAML value to the field's type (int -> float allowed); reject other mismatches."""
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"config {dotted}: expected true/false, got {value!r}")
        return value
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(current, float) and isinstance(value, str):
        try:
            return float(value)  # YAML reads "1e-5" (no dot) as a string
        except ValueError:
            pass
    if type(value) is not type(current):
        raise ValueError(f"config {dotted}: expected {type(current).__name__}, got {value!r}")
    return value


def recipe_names() -> list[str]:
    """The shipped training recipes (`train/recipes/NAME.yaml`), sorted."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name: str) -> dict[str, Any]:
    """The mapping of training recipe `name`; ValueError naming `recipe` when there is no such file."""
    if name not in recipe_names():  # by name only: a path such as ../x would read any YAML file
        raise ValueError(f"config recipe={name!r}: unknown training recipe; known: {recipe_names()}")
    path = RECIPE_DIR / f"{name}.yaml"
    try:
        return safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"recipe file {path}: not valid YAML ({_yaml_problem(err)})") from None


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`['ppo.lr=1e-5', 'run.seed=3']` -> nested dict; values parsed as YAML."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects dotted.key=value, got {item!r}")
        key, raw = item.split("=", 1)
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item!r}: {part} was already given a value, not a section")
        try:
            node[leaf] = safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item!r}: the value is not valid YAML ({_yaml_problem(err)})") from None
    return out


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in one line: what went wrong and where (line and column, 1-based)."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(err, 'problem', None) or type(err).__name__}{where}"


def apply_variant(cfg: TrainConfig) -> TrainConfig:
    """Set the config overrides of `cfg.method.name`'s registry entry (none for a base method); return cfg.

    A variant's overrides define it (`hiper-paper` is hiper with lam_boundary 0), so they win over every
    other source, as a run's cell wins over the pipeline's `train.overrides`. Applying them twice changes
    nothing, so a resolved config reloads unchanged.
    """
    name = cfg.method.name
    if name not in methods_registry.names():
        raise ValueError(f"config method.name={name!r}: expected one of {methods_registry.names()}")
    _merge(cfg, methods_registry.get(name).config_overrides(), "")
    return cfg


def build_config(data: dict[str, Any] | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults <- training recipe (if `data['recipe']`) <- data <- overrides <- the method variant's
    overrides (`apply_variant`); validated."""
    data = dict(data or {})
    if "preset" in data:  # the key's old name: refused, so a renamed key never passes silently
        raise ValueError(
            f"config key preset={data['preset']!r} was renamed recipe: write `recipe: {data['preset']}` "
            f"(training recipes: {recipe_names()})"
        )
    cfg = TrainConfig()
    recipe = data.pop("recipe", None)
    if recipe is not None:
        _merge(cfg, load_recipe(recipe), "")
    _merge(cfg, data, "")
    _merge(cfg, parse_overrides(list(overrides)), "")
    return apply_variant(cfg).validate()


def _path_value(data: dict[str, Any], dotted: str) -> tuple[dict[str, Any], str] | None:
    """(section, key) holding `dotted` in a nested config dict when it is set to a non-empty string."""
    section, key = dotted.split(".")
    node = data.get(section)
    if isinstance(node, dict) and isinstance(node.get(key), str) and node[key]:
        return node, key
    return None


def _rebase_paths(data: dict[str, Any], rebase: Any) -> dict[str, Any]:
    """A copy of `data` with every relative `PATH_KEYS` value passed through `rebase`."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for dotted in PATH_KEYS:
        found = _path_value(out, dotted)
        if found is not None and not os.path.isabs(found[0][found[1]]):
            found[0][found[1]] = rebase(found[0][found[1]])
    return out


def resolve_paths(data: dict[str, Any], folder: str | os.PathLike) -> dict[str, Any]:
    """`PATH_KEYS` values of a config file in `folder`, made relative to the working directory instead
    (absolute ones unchanged): `folder/value`, normalised (`a/../b` -> `b`); absolute when it lies outside
    the working directory. The result does not depend on how the file's own path was spelled."""

    def rebase(value: str) -> str:
        full = os.path.abspath(os.path.join(folder, value))
        inside = os.path.relpath(full)
        return full if inside == os.pardir or inside.startswith(os.pardir + os.sep) else inside

    return _rebase_paths(data, rebase)


def relative_paths(data: dict[str, Any], folder: str | os.PathLike) -> dict[str, Any]:
    """The inverse of `resolve_paths`: relative `PATH_KEYS` values (from the working directory) rewritten
    relative to `folder`, for a config file to be written there."""
    return _rebase_paths(data, lambda value: os.path.relpath(value, folder))


def load_config(path: str | os.PathLike, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config file (see module docstring) and apply `--set` overrides; relative paths in
    the file are relative to its folder (`resolve_paths`), those in overrides to the working directory."""
    try:
        data = safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"config file {path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"config file {path}: not valid YAML ({_yaml_problem(err)})") from None
    data = {} if data is None else data  # an empty file: every default
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: expected a YAML mapping at the top level")
    return build_config(resolve_paths(data, Path(path).parent), overrides)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a resolved config (as saved by `save_config`) without recipes or overrides."""
    cfg = TrainConfig()
    _merge(cfg, data, "")
    return cfg.validate()


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML, atomically."""
    write_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
