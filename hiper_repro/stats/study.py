"""What a study ran, read from its merged traces: the resolved configs, prompt formats and models.

The paper's methods section must describe the runs, not the defaults: every setting below is read from
the resolved config each run stored in its traces (the root coordinate ``config``, one JSON string per
run), the prompt format from the turns themselves (a Plan-Execute run SWITCHes on turn 0 of every
episode; a flat one never does), and the model from the folder its ``model_id`` names, when that folder
exists where the statistics run: its name (the warm start's base model, not the path), architecture and
parameter count (read from the safetensors header, no weights loaded).

Where runs differ in a setting, :func:`setting_text` lists each value with the methods that used it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hiper_repro.stats.scores import group

ENVIRONMENTS = {  # what each environment is, for the methods section
    "household": "household, an ALFWorld-like world of rooms and objects generated offline",
    "shop": "shop, a WebShop-like store with WebShop's scoring",
    "textworld": "TextWorld games generated offline",
    "alfworld": "ALFWorld itself",
}
FORMATS = {
    "plan_execute": "Plan-Execute (a switch decision, a subgoal and an action per turn)",
    "flat": "flat (an action per turn)",
}

NOT_RECORDED = "not recorded in the runs' configs"

# Settings the methods section reports: dotted config key -> what it is.
SETTINGS: dict[str, str] = {
    "rollout.episodes": "episodes per iteration",
    "run.iterations": "training iterations",
    "run.eval_episodes": "evaluation episodes per point",
    "run.eval_every": "evaluation every N iterations",
    "rollout.temperature": "training and primary evaluation temperature",
    "rollout.eval_temperature": "secondary evaluation temperature (0: greedy)",
    "run.secondary_eval": "secondary evaluation on",
    "run.eval_seed": "evaluation noise seed (common random numbers)",
    "rollout.max_turns": "turn cap per episode (0: the environment's step limit)",
    "rollout.max_turns_expert_ratio": "turn cap as a multiple of the expert's path (0: off)",
    "method.gamma": "discount gamma",
    "method.lam": "flat GAE lambda",
    "method.lam_low": "HAE low-level lambda",
    "method.lam_high": "HAE high-level lambda",
    "method.lam_boundary": "HAE boundary lambda",
    "method.switch_form": "switch-advantage form",
    "shaping.success_reward": "success reward",
    "shaping.invalid_penalty": "invalid-reply penalty",
    "shaping.invalid_penalty_on": "which invalid replies pay it",
    "shaping.progress_coef": "potential-based progress shaping coefficient",
    "shaping.keep_penalty": "KEEP penalty",
    "shaping.keep_consistency_penalty": "KEEP-consistency penalty",
    "model.critic": "critic features",
    "model.lora_rank": "LoRA rank (0: all weights trained)",
    "ppo.lr": "actor learning rate",
    "ppo.critic_lr": "critic learning rate",
    "ppo.critic_warmup_iterations": "critic-only warm-up iterations",
    "ppo.value_epochs": "extra value-only passes after each update",
    "ppo.epochs": "PPO epochs",
    "ppo.minibatch_turns": "turns per minibatch",
    "ppo.clip": "PPO clip",
    "ppo.kl_coef": "KL coefficient (to the starting policy)",
    "ppo.entropy_coef": "entropy coefficient",
    "ppo.whiten": "advantages whitened",
    "ppo.whiten_scale": "whitening scale",
    "ppo.skip_zero_reward_batches": "updates skipped when every reward is zero",
}


def run_configs(tree: xr.DataTree) -> dict[str, list[dict]]:
    """Method -> the resolved configs of its runs (from the merged root coordinate ``config``)."""
    root = tree.to_dataset()
    if "config" not in root.coords and "config" not in root:
        raise ValueError("merged traces have no per-run 'config' coordinate (provenance)")
    out: dict[str, list[dict]] = {}
    for method in root["method_name"].values:
        texts = np.ravel(root["config"].sel(method_name=method).values)
        out[str(method)] = [json.loads(str(t)) for t in texts if str(t)]
    return out


def lookup(config: dict, dotted: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``; None where a key is missing (an older config)."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def setting_values(configs: dict[str, list[dict]], dotted: str) -> dict[str, list]:
    """Method -> the distinct values its runs used for ``dotted`` (sorted, missing keys left out)."""
    out = {}
    for method, runs in configs.items():
        seen = {json.dumps(lookup(c, dotted)) for c in runs if lookup(c, dotted) is not None}
        if seen:
            out[method] = sorted((json.loads(v) for v in seen), key=str)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setting_text(values: dict[str, list]) -> str:
    """One value for all methods ("0.1"), else "0.1 (hiper), 0 (ppo)"."""
    distinct = {json.dumps(v) for v in values.values()}
    if len(distinct) == 1:
        return " or ".join(_fmt(v) for v in next(iter(values.values())))
    return ", ".join(f"{' or '.join(_fmt(v) for v in vs)} ({m})" for m, vs in values.items())


def method_formats(tree: xr.DataTree) -> dict[str, str]:
    """Method -> "plan_execute" when its runs SWITCH on some real turn (turn 0 always does), else "flat"."""
    turns = group(tree, "turns")
    switched = (turns["switch"].fillna(False).astype(bool) & turns["mask"].fillna(False).astype(bool)).any(
        [d for d in turns["switch"].dims if d != "method_name"]
    )
    return {
        str(m): "plan_execute" if bool(switched.sel(method_name=m)) else "flat"
        for m in turns["method_name"].values
    }


def count_parameters(path: Path) -> int:
    """Parameters in a safetensors file, from its JSON header (no tensor is read)."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def describe_model(model_id: str) -> dict[str, Any]:
    """Name, architecture and size of the model a run started from, never its path.

    ``model_id`` is a folder (as the pipeline records it) or a bare name. From a folder: the base model's
    name as the warm start recorded it (``warmstart_eval.json``), the architecture (``config.json``) and
    the parameter count (``model.safetensors``); the warm start's demonstrations and steps. A folder that
    does not exist here leaves only ``found: False``."""
    folder = Path(model_id)
    if "/" not in model_id and not folder.is_dir():
        return {"name": model_id, "found": False}
    if not folder.is_dir():
        return {"name": "unknown (model folder not found where the statistics ran)", "found": False}
    out: dict[str, Any] = {"found": True, "name": "unnamed model"}
    warm = folder / "warmstart_eval.json"
    if warm.is_file():
        cfg = json.loads(warm.read_text()).get("config", {})
        out["name"] = Path(str(cfg.get("model", "unnamed model"))).name  # a local folder: its name only
        out |= {
            "warm_start_demos": cfg.get("n_demos"),
            "warm_start_steps": cfg.get("steps"),
            "warm_start_noise": cfg.get("noise"),
        }
    arch = folder / "config.json"
    if arch.is_file():
        c = json.loads(arch.read_text())
        out |= {
            "architecture": c.get("model_type"),
            "layers": c.get("num_hidden_layers"),
            "hidden": c.get("hidden_size"),
            "vocab": c.get("vocab_size"),
        }
    weights = folder / "model.safetensors"
    if weights.is_file():
        out["parameters"] = count_parameters(weights)
    return out


def model_text(d: dict[str, Any]) -> str:
    """ "tiny-s (llama, 2 layers, hidden 128, 0.41M parameters; warm start: 1200 demonstrations, 1500
    steps)" from :func:`describe_model`."""
    size = []
    if d.get("architecture"):
        size.append(str(d["architecture"]))
    if d.get("layers"):
        size.append(f"{d['layers']} layers, hidden {d['hidden']}")
    if d.get("parameters"):
        p = d["parameters"]
        size.append(f"{p / 1e9:.2f}B parameters" if p >= 1e9 else f"{p / 1e6:.2f}M parameters")
    text = d["name"] + (f" ({', '.join(size)})" if size else "")
    if d.get("warm_start_demos"):
        noise = d.get("warm_start_noise")
        noisy = f" ({100 * noise:.0f}% of their actions random)" if noise else ""
        text += (
            f", warm-started on {d['warm_start_demos']} expert demonstrations{noisy} for "
            f"{d['warm_start_steps']} supervised steps"
        )
    return text


def shaping_of(config: dict) -> str:
    """The rewards one resolved config trained on, in words (``shaping.*``)."""
    sh = config.get("shaping", {})
    parts = [f"success pays {_fmt(float(sh.get('success_reward', 1.0)))}"]
    penalty = float(sh.get("invalid_penalty", 0.0))
    if penalty > 0:
        which = (
            "a reply that broke the format costs {p} (a well-formed but inadmissible action costs nothing)"
            if sh.get("invalid_penalty_on", "format") == "format"
            else "any invalid reply, unparseable or inadmissible, costs {p}"
        )
        parts.append(which.format(p=_fmt(penalty)))
    else:
        parts.append("invalid replies cost nothing")
    coef = float(sh.get("progress_coef", 0.0))
    parts.append(
        f"potential-based progress shaping with coefficient {_fmt(coef)}: F_t = c (gamma Phi(s_t+1) - Phi(s_t)), "
        "Phi the share of subtasks done and 0 after the last turn, which moves every episode's shaped return by "
        "the same constant and so leaves the ranking of policies unchanged (Ng, Harada and Russell 1999)"
        if coef
        else "no progress shaping (the optional potential-based term `shaping.progress_coef` was off)"
    )
    keep, consistency = float(sh.get("keep_penalty", 0.0)), float(sh.get("keep_consistency_penalty", 0.0))
    floor, floor_coef = float(sh.get("switch_rate_floor", 0.0)), float(sh.get("switch_rate_floor_coef", 0.0))
    if keep or consistency:
        per_keep = (
            f"an episode with k KEEP turns among its n decision turns pays {_fmt(keep)} k / n, spread evenly over "
            "its KEEP turns"
            if sh.get("keep_penalty_mode", "fixed") == "normalized"
            else f"a KEEP turn costs {_fmt(keep)}"
        )
        parts.append(f"{per_keep}, and a KEEP turn that changes its subgoal text {_fmt(consistency)} more")
    else:
        parts.append("no KEEP penalties")
    if floor and floor_coef:
        parts.append(
            f"an episode whose switch rate falls below {_fmt(floor)} pays {_fmt(floor_coef)} times the shortfall, "
            "spread over its KEEP turns"
        )
    return "; ".join(parts)


def shaping_text(configs: dict[str, list[dict]]) -> str:
    """:func:`shaping_of` for the study: one sentence when every run shaped alike, else one per method."""
    if not any("shaping" in c for runs in configs.values() for c in runs):
        return NOT_RECORDED
    per_method = {m: sorted({shaping_of(c) for c in runs}) for m, runs in configs.items() if runs}
    distinct = {t for texts in per_method.values() for t in texts}
    if len(distinct) == 1:
        return distinct.pop()
    return "; ".join(f"{m}: {' or '.join(texts)}" for m, texts in per_method.items())


def evaluation_text(configs: dict[str, list[dict]]) -> str:
    """How the runs evaluated their policies, from their configs (run.*, rollout.*temperature)."""

    def value(key: str) -> str:
        return setting_text(setting_values(configs, key))

    if not setting_values(configs, "run.eval_episodes"):
        return "The runs' stored configs do not record how they were evaluated."

    every = value("run.eval_every")
    when = "before the first update and at the end" + (
        ""
        if every in ("0", "")
        else ", and after every iteration"
        if every == "1"
        else f", and every {every} iterations"
    )
    text = (
        f"Every run evaluated its policy {when} (an evaluation is labelled by the updates completed: 0 at the "
        f"start, the number of iterations at the end), on the first {value('run.eval_episodes')} tasks of a fixed "
        f"evaluation split that no training seed changes, sampling at the training temperature "
        f"{value('rollout.temperature')} with common random numbers: evaluation seed "
        f"{value('run.eval_seed')} and the task fix each episode's sampling noise, the same for every method, "
        "seed and iteration, so a run's change from its start is a paired comparison."
    )
    secondary = setting_values(configs, "run.secondary_eval")
    if any(v for vs in secondary.values() for v in vs):
        text += (
            f" A secondary evaluation at temperature {value('rollout.eval_temperature')} (0: greedy) was played "
            f"before the first update and at the end (run.secondary_eval: {value('run.secondary_eval')})."
        )
    else:
        text += " No secondary evaluation was played."
    return text


def study_facts(tree: xr.DataTree) -> dict[str, Any]:
    """Flat ``study.*`` keys: formats and models per method, and every :data:`SETTINGS` value as text."""
    root = tree.to_dataset()
    configs = run_configs(tree)
    formats = method_formats(tree)
    out: dict[str, Any] = {}
    models: dict[str, str] = {}
    for method in configs:
        ids = sorted({str(m) for m in np.ravel(root["model_id"].sel(method_name=method).values) if str(m)})
        described = [model_text(describe_model(m)) for m in ids]
        models[method] = "; ".join(described)
        out[f"study.format.{method}"] = formats.get(method, "unknown")
        out[f"study.model.{method}"] = models[method]
    by_text: dict[str, list[str]] = {}
    for method, text in models.items():
        by_text.setdefault(text, []).append(method)
    out["study.models"] = "; ".join(
        f"{text} ({', '.join(ms)})" if len(by_text) > 1 else text for text, ms in by_text.items()
    )
    out["study.shaping"] = shaping_text(configs)
    out["study.evaluation"] = evaluation_text(configs)
    envs = [str(e) for e in root["env"].values]
    out["study.environments"] = "; ".join(ENVIRONMENTS.get(e, e) for e in envs)
    out["study.formats"] = "; ".join(f"{m} {FORMATS.get(f, f)}" for m, f in formats.items())
    for key in SETTINGS:  # every key, so a paper quoting one builds for any study
        values = setting_values(configs, key)
        out[f"study.setting.{key}"] = setting_text(values) if values else NOT_RECORDED
    return out


def settings_table(facts: dict[str, Any]) -> pd.DataFrame:
    """The ``study.setting.*`` facts as rows: setting (dotted config key), meaning, value."""
    prefix = "study.setting."
    rows = [
        {"setting": key, "meaning": SETTINGS[key], "value": facts[prefix + key]}
        for key in SETTINGS
        if facts.get(prefix + key, NOT_RECORDED) != NOT_RECORDED
    ]
    return pd.DataFrame(rows, columns=["setting", "meaning", "value"])
