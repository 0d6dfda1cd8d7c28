"""Config values and the files a run points to are checked before any model loads: non-finite numbers in
any float field, out-of-range sizes, malformed YAML, a missing model folder, task files of another env,
horizon or split."""

import dataclasses

import pytest
import yaml

from hiper_repro.envs import make_tasks, save_tasks
from hiper_repro.train.config import TrainConfig, build_config, load_config
from hiper_repro.train.setup import check_inputs, load_splits

BASE = {"model": {"path": "m"}}


def _float_fields():
    cfg = TrainConfig()
    for section in dataclasses.fields(cfg):
        for f in dataclasses.fields(getattr(cfg, section.name)):
            if isinstance(getattr(getattr(cfg, section.name), f.name), float):
                yield f"{section.name}.{f.name}"


@pytest.mark.parametrize("key", list(_float_fields()))
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_every_float_field_rejects_non_finite_numbers(key, value):
    with pytest.raises(ValueError, match=rf"config {key}=(nan|inf|-inf): expected a finite number"):
        build_config(BASE, [f"{key}={value}"])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("rollout.max_new_tokens=0", "rollout.max_new_tokens=0: expected >= 1"),
        ("rollout.max_turns=-1", "rollout.max_turns=-1: expected >= 0"),
        ("rollout.temperature=-0.5", "rollout.temperature=-0.5: expected > 0"),
        ("rollout.eval_temperature=-1", "rollout.eval_temperature=-1.0: expected >= 0"),
        ("env.history_length=-2", "env.history_length=-2: expected >= 0"),
        ("run.eval_episodes=0", "run.eval_episodes=0: expected >= 1"),
        ("env.n_train_tasks=0", "env.n_train_tasks=0: expected >= 1"),
        ("env.name=kitchen", "env.name='kitchen': expected one of"),
    ],
)
def test_bad_values_are_named(override, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        build_config(BASE, [override])


def test_malformed_yaml_names_the_file_or_the_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("ppo: {lr: [1e-5\n")
    with pytest.raises(ValueError, match=r"config file .*c.yaml: not valid YAML \(.* at line 2, column 1\)"):
        load_config(path)
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match=r"c.yaml: not UTF-8 text"):
        load_config(path)
    path.write_text(yaml.safe_dump(BASE))
    with pytest.raises(ValueError, match=r"--set 'ppo.lr=\[1': the value is not valid YAML"):
        load_config(path, ["ppo.lr=[1"])
    with pytest.raises(ValueError, match=r"--set 'ppo.lr.x=1': lr was already given a value"):
        load_config(path, ["ppo.lr=1", "ppo.lr.x=1"])


@pytest.fixture
def splits(tmp_path):
    (tmp_path / "model").mkdir()
    files = {}
    for name, h, split in (("h1_train", 1, "train"), ("h1_eval", 1, "eval"), ("h2_train", 2, "train")):
        files[name] = tmp_path / f"{name}.jsonl"
        save_tasks(files[name], make_tasks("household", h, split, 8, 0))
    return tmp_path, files


def _cfg(root, train, evals, **env):
    data = {
        "model": {"path": str(root / "model")},
        "env": {
            "name": "household",
            "horizon": 1,
            "train_tasks": str(train),
            "eval_tasks": str(evals),
            **env,
        },
        "run": {"eval_episodes": 4},
    }
    return build_config(data)


def test_task_files_must_match_the_config(splits):
    root, f = splits
    check_inputs(_cfg(root, f["h1_train"], f["h1_eval"]))
    with pytest.raises(
        ValueError, match=r"h2_train.jsonl: 8 of 8 tasks have horizon \[2\], the run expects horizon=1"
    ):
        load_splits(_cfg(root, f["h2_train"], f["h1_eval"]))
    with pytest.raises(ValueError, match=r"h1_eval.jsonl: 8 of 8 tasks have split \['eval'\]"):
        load_splits(_cfg(root, f["h1_eval"], f["h1_eval"]))
    with pytest.raises(ValueError, match=r"env='shop'"):
        load_splits(_cfg(root, f["h1_train"], f["h1_eval"], name="shop"))


def test_a_missing_model_folder_is_named_before_anything_loads(splits):
    root, f = splits
    cfg = _cfg(root, f["h1_train"], f["h1_eval"])
    cfg.model.path = str(root / "nowhere" / "{format}")
    with pytest.raises(
        ValueError, match=r"model.path resolves to .*nowhere/plan_execute', which is not a folder"
    ):
        check_inputs(cfg)
    cfg.model.path = str(root / "{fmt}")
    with pytest.raises(ValueError, match=r"only \{env\}, \{format\} and \{horizon\} are filled in"):
        check_inputs(cfg)
