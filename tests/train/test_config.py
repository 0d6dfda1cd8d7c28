"""Config tree: presets, YAML, overrides, rejection of unknown keys and bad values."""

import pytest
import yaml

from hiper_repro.train.config import (
    TrainConfig,
    build_config,
    config_from_dict,
    load_config,
    preset_names,
    save_config,
)


def test_presets_exist_and_load():
    assert {"cpu-tiny", "smollm2", "gpu-1.5b", "gpu-7b"} <= set(preset_names())
    for name in preset_names():
        cfg = build_config({"preset": name})
        assert cfg.run.iterations >= 1
    gpu = build_config({"preset": "gpu-1.5b"})
    assert (gpu.ppo.lr, gpu.ppo.critic_lr, gpu.rollout.episodes, gpu.run.iterations) == (1e-6, 1e-5, 128, 150)
    assert gpu.run.mixed_precision == "bf16"


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"preset": "cpu-tiny", "method": {"name": "ppo"}, "run": {"seed": 3}}))
    cfg = load_config(path, ["ppo.lr=1e-5", "run.seed=4", "method.switch_form=code"])
    assert cfg.method.name == "ppo" and cfg.fmt == "flat"
    assert cfg.ppo.lr == 1e-5 and cfg.run.seed == 4 and cfg.method.switch_form == "code"
    assert cfg.rollout.episodes == 32 and cfg.model.critic == "detached"  # from the preset


def test_unknown_key_named():
    with pytest.raises(ValueError, match="'ppo.cliip'"):
        build_config({"model": {"path": "m"}, "ppo": {"cliip": 0.1}})
    with pytest.raises(ValueError, match="'nope'"):
        build_config({"model": {"path": "m"}}, ["nope=1"])


def test_bad_values_named():
    with pytest.raises(ValueError, match="method.name='a2c'"):
        build_config({"model": {"path": "m"}, "method": {"name": "a2c"}})
    with pytest.raises(ValueError, match="ppo.epochs"):
        build_config({"model": {"path": "m"}, "ppo": {"epochs": "two"}})
    with pytest.raises(ValueError, match="group_size"):
        build_config(
            {"model": {"path": "m"}, "method": {"name": "grpo", "group_size": 3}, "rollout": {"episodes": 16}}
        )
    with pytest.raises(ValueError, match="model.path"):
        build_config({})


def test_derived_sizes_and_roundtrip(tmp_path):
    cfg = build_config(
        {"model": {"path": "m"}, "method": {"name": "grpo", "group_size": 4}, "rollout": {"episodes": 16}}
    )
    assert cfg.derived(world_size=2) == {
        "group_size": 4,
        "tasks_per_iteration": 4,
        "episodes_per_process": 8,
        "tasks_per_process": 2,
    }
    save_config(cfg, tmp_path / "config.yaml")
    again = config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    assert again == cfg and again.hash() == cfg.hash()
    assert TrainConfig().hash() != cfg.hash()


def test_paths_in_a_config_file_are_relative_to_the_file(tmp_path, monkeypatch):
    """A file's relative paths resolve from its folder, whatever the working directory and however the
    file's own path was spelled; --set paths stay relative to the working directory; absolute paths and
    presets are untouched."""
    folder = tmp_path / "study" / "configs"
    folder.mkdir(parents=True)
    path = folder / "run.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": {"path": "../models/{format}"},
                "env": {"train_tasks": "train.jsonl", "eval_tasks": str(tmp_path / "abs.jsonl")},
            }
        )
    )
    monkeypatch.chdir(tmp_path)
    for spelled in (path, "study/configs/run.yaml", "study/../study/configs/run.yaml"):
        cfg = load_config(spelled)
        assert cfg.model.path == "study/models/{format}"
        assert cfg.env.train_tasks == "study/configs/train.jsonl"
        assert cfg.env.eval_tasks == str(tmp_path / "abs.jsonl")
    cfg = load_config(path, ["env.train_tasks=other/train.jsonl"])
    assert cfg.env.train_tasks == "other/train.jsonl"
    monkeypatch.chdir(folder)  # a path outside the working directory becomes absolute
    assert load_config("run.yaml").model.path == str(tmp_path / "study" / "models" / "{format}")
    monkeypatch.chdir(tmp_path)
    (folder / "preset.yaml").write_text(yaml.safe_dump({"preset": "gpu-1.5b"}))
    assert load_config(folder / "preset.yaml").model.path == build_config({"preset": "gpu-1.5b"}).model.path


def test_relative_paths_inverts_the_file_resolution(tmp_path, monkeypatch):
    """What a tool writes with `relative_paths` into a file in `folder` loads back as the same config."""
    from hiper_repro.train.config import relative_paths

    monkeypatch.chdir(tmp_path)
    data = {"model": {"path": "results/models/m"}, "env": {"train_tasks": "results/tasks/t.jsonl"}}
    folder = tmp_path / "results" / "configs" / "deep"
    folder.mkdir(parents=True)
    written = relative_paths(data, "results/configs/deep")
    assert written["model"]["path"] == "../../models/m" and data["model"]["path"] == "results/models/m"
    (folder / "c.yaml").write_text(yaml.safe_dump(written))
    assert load_config("results/configs/deep/c.yaml").to_dict() == build_config(data).to_dict()


def test_trackers_checked():
    assert build_config({"model": {"path": "m"}}).run.trackers == ["tensorboard"]
    assert build_config({"model": {"path": "m"}}, ["run.trackers=[]"]).run.trackers == []
    with pytest.raises(ValueError, match="run.trackers=\\['mlflow'\\]"):
        build_config({"model": {"path": "m"}}, ["run.trackers=[mlflow]"])
    with pytest.raises(ValueError, match="run.trackers"):
        build_config({"model": {"path": "m"}}, ["run.trackers=wandb"])
