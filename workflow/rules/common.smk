"""Config resolution, validation and the few helpers the rules share.

Precedence, lowest first: schema defaults <- config/presets/PRESET.yaml <- config/config.yaml <-
`--configfile` files <- `--config` values. The user's keys are validated before the preset is merged (a typo
is reported as typed), then the merged config is validated again, which also fills schema defaults.
"""

import functools
import os
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from hiper_repro.agent.weights import check_weights
from hiper_repro.train import build_config as build_train_config
from hiper_repro.train.config import relative_paths
from hiper_repro.yamlfile import safe_load as safe_yaml

# Offline by design: a hub lookup would stall each job for ~50 s before failing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

SCHEMA = "../schemas/config.schema.yaml"
SCHEMA_DATA = yaml.safe_load((Path(workflow.current_basedir) / SCHEMA).read_text())
PRESET_DIR = Path(workflow.basedir) / "config" / "presets"


def deep_merge(base: dict, top: dict) -> dict:
    """`top` over `base`, recursively for mappings; lists and scalars in `top` replace."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_preset(name: str) -> dict:
    """The preset file's mapping; ValueError naming `preset` when it does not exist."""
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
        raise ValueError(f"config preset={name!r}: no {path}; known presets: {known}")
    try:
        data = safe_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise WorkflowError(f"preset file {path}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"preset file {path}: expected a YAML mapping at the top level")
    return data


NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")


def retype(value, schema: dict):
    """Undo `--config`'s string parsing of nested values (YAML BaseLoader: every scalar a string).

    Strings become integers, numbers or booleans where the schema asks for one; inside free-form mappings
    (train.overrides) only unambiguous numbers and true/false are converted. Anything else is left as it
    is, for validation to report.
    """
    if isinstance(value, dict):
        props = schema.get("properties")
        return {k: retype(v, {} if props is None else props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [retype(v, schema.get("items", {})) for v in value]
    if not isinstance(value, str):
        return value
    wanted = schema.get("type")
    if wanted is None:
        wanted = "boolean" if value in ("true", "false") else "number" if NUMBER.fullmatch(value) else None
    if wanted == "boolean" and value in ("true", "false"):
        return value == "true"
    if wanted in ("integer", "number"):
        for kind in (int, float) if wanted == "number" else (int,):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def validate_config(data: dict, set_default: bool) -> None:
    """Snakemake's `validate`, with the error cut to one line naming the dotted key and the problem."""
    try:
        validate(data, schema=SCHEMA, set_default=set_default)
    except WorkflowError as error:
        cause = error.__context__  # snakemake raises inside `except ValidationError`
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        where = ".".join(map(str, cause.absolute_path)) or "<top level>"
        raise WorkflowError(f"invalid config at {where}: {cause.message}") from None


def check_config_files(paths) -> None:
    """Snakemake's YAML loader keeps the last of two equal keys: refuse a config file that repeats one."""
    for path in map(Path, paths):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            try:
                safe_yaml(path.read_text())
            except yaml.YAMLError as err:
                raise WorkflowError(f"config file {path}: {getattr(err, 'problem', None) or err}") from None


check_config_files(getattr(workflow, "configfiles", ()))
_user = retype(dict(config), SCHEMA_DATA)
config.clear()
config.update(_user)
if isinstance(config.get("train"), dict) and "preset" in config["train"]:  # the key's old name: refused naming the new one
    raise WorkflowError(
        f"invalid config at train.preset: renamed train.recipe (the training recipe, a file in"
        f" hiper_repro/train/recipes/): write train: {{recipe: {config['train']['preset']}}}"
    )
validate_config(config, set_default=False)
_resolved = deep_merge(load_preset(config.get("preset", "quick")), config)
config.clear()
config.update(_resolved)
validate_config(config, set_default=True)

ENVS, HORIZONS, METHODS, SEEDS = config["envs"], config["horizons"], config["methods"], config["seeds"]
METHOD_HORIZONS = config["method_horizons"]  # method -> its horizons; others train at every horizon
for _method, _horizons in METHOD_HORIZONS.items():
    if _method not in METHODS or not set(_horizons) <= set(HORIZONS):
        raise WorkflowError(
            f"invalid config at method_horizons.{_method}: {_horizons} must name one of methods {METHODS}"
            f" and horizons among {HORIZONS}"
        )
# Horizons of the warm start's demonstrations; the base model's tokenizer reads the tasks of these and the study's.
DEMO_HORIZONS = config["warmstart"].get("horizons") or HORIZONS
MODEL_HORIZONS = sorted(set(HORIZONS) | set(DEMO_HORIZONS))
SPLITS = ["train", "eval"]
PRESET = config["preset"]


def results(path: str) -> str:
    """`results/{preset}/{path}`: every output, log and benchmark of a preset lies in a folder of its own,
    so switching presets never redoes or overwrites another preset's tasks, models, runs or paper.
    `path` may hold wildcards; `hiper_repro.io.find_results` looks results up the same way."""
    return f"results/{PRESET}/{path}"


@functools.cache
def method_format(method: str) -> str:
    """Prompt format of a method as the trainer decides it (`TrainConfig.fmt`: ppo flat, others
    plan_execute); it picks the warm start a run starts from."""
    return build_train_config({"method": {"name": method}, "model": {"path": "-"}}).fmt


FORMATS = sorted({method_format(m) for m in METHODS})

wildcard_constraints:
    env="|".join(["household", "shop", "textworld", "alfworld"]),
    format="flat|plan_execute",
    split="train|eval",
    horizon=r"\d+",
    seed=r"\d+",
    method="[a-z-]+",


def run_dir(env: str, horizon: int, method: str, seed: int) -> str:
    """Folder of one training run (docs/ARCHITECTURE.md, results layout)."""
    return results(f"runs/{env}/h{horizon}/{method}/seed{seed}")


def all_runs() -> list[str]:
    """Every run folder of the study, in (env, horizon, method, seed) order; a method of
    `method_horizons` only at its horizons."""
    return [
        run_dir(e, h, m, s)
        for e in ENVS
        for h in HORIZONS
        for m in METHODS
        if h in METHOD_HORIZONS.get(m, HORIZONS)
        for s in SEEDS
    ]


def train_config(wildcards) -> dict:
    """The run's resolved training config: training recipe <- train.overrides <- the run's cell.

    The cell (environment, horizon, method, seed, task files, starting model) comes from the wildcards and
    wins over `train.overrides`, so a run's folder always names what it trained. Resolved with the
    trainer's own loader (`hiper_repro.train.build_config`: defaults, recipe file, checks), so a change of
    any effective value, a recipe file's included, changes this rule's params and reruns the run.
    """
    env, horizon = wildcards.env, int(wildcards.horizon)
    cell = {
        "model": {"path": results(f"models/{env}/{method_format(wildcards.method)}/warmstart")},
        "env": {
            "name": env,
            "horizon": horizon,
            "train_tasks": results(f"tasks/{env}/h{horizon}/train.jsonl"),
            "eval_tasks": results(f"tasks/{env}/h{horizon}/eval.jsonl"),
            "task_seed": config["tasks"]["seed"],
        },
        "method": {"name": wildcards.method},
        "run": {"seed": int(wildcards.seed)},
    }
    data = {"recipe": config["train"]["recipe"], **deep_merge(config["train"]["overrides"], cell)}
    return build_train_config(data).to_dict()


def check_train_configs() -> None:
    """Resolve one run config per (env, method) now, so a bad `train.overrides` key stops the workflow at
    load with the trainer's message naming it, and check the eval split is large enough."""
    for env in ENVS:
        for method in METHODS:
            cell = SimpleNamespace(env=env, horizon=HORIZONS[0], method=method, seed=SEEDS[0])
            try:
                resolved = train_config(cell)
            except ValueError as error:
                raise WorkflowError(f"invalid config at train.overrides: {error}") from None
            if resolved["run"]["eval_episodes"] > config["tasks"]["n_eval"]:
                raise WorkflowError(
                    f"invalid config: run.eval_episodes={resolved['run']['eval_episodes']} (training recipe"
                    f" {config['train']['recipe']!r} / train.overrides) exceeds tasks.n_eval="
                    f"{config['tasks']['n_eval']}, the size of the fixed eval split"
                )


check_train_configs()


def check_model_weights() -> None:
    """Pre-flight: pretrained weights named by `model.name` (a local folder, or a hub id in the local
    cache) exist before any job runs, so a dry run already says so; checked only while a base model
    folder is still to be built from them."""
    to_build = [results(f"models/{e}/{f}/base") for e in ENVS for f in FORMATS]
    if any(not Path(p).is_dir() for p in to_build):
        try:
            check_weights(config["model"]["name"], key="model.name")
        except ValueError as error:
            raise WorkflowError(f"invalid config at {error}") from None


check_model_weights()


def warmstart_config(wildcards) -> dict:
    """The warm-start config file (WarmStartConfig fields): `warmstart.overrides`, then this job's cell.

    Demonstrations come from the study's horizons; the warm start's own evaluation uses the same fixed
    eval split as everything else (same seed and size as the preset's tasks/*/eval.jsonl).
    """
    cell = {
        "env": wildcards.env,
        "fmt": wildcards.format,
        "base_dir": results(f"models/{wildcards.env}/{wildcards.format}/base"),
        "horizons": list(DEMO_HORIZONS),
        "eval_horizons": list(HORIZONS),
        "n_eval": config["tasks"]["n_eval"],
        "eval_seed": config["tasks"]["seed"],
        "threads": config["warmstart"]["threads"],
    }
    return deep_merge(config["warmstart"]["overrides"], cell)


def launcher(wildcards, resources) -> str:
    """Command prefix: `hiper-repro`, or `accelerate launch` with one process per GPU of the job."""
    if config["train"]["launcher"] == "direct":
        return "hiper-repro"
    gpus = int(resources.gpu)
    if gpus == 0:
        return "accelerate launch --cpu --num_processes 1 -m hiper_repro.cli"
    multi = " --multi_gpu" if gpus > 1 else ""
    return f"accelerate launch --num_processes {gpus}{multi} -m hiper_repro.cli"


def write_config(path: str, data: dict, log: str) -> None:
    """Write a job's config file atomically (temp file in the same folder, then os.replace) and log it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=True))
    os.replace(tmp, target)
    Path(log).write_text(f"wrote {path}\n")
