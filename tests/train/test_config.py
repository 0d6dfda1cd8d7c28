"""Config tree: training recipes, YAML, overrides, rejection of unknown keys and bad values."""

from pathlib import Path

import pytest
import yaml

from hiper_repro.train.config import (
    TrainConfig,
    build_config,
    config_from_dict,
    load_config,
    recipe_names,
    save_config,
)


def test_recipes_exist_and_load():
    assert {"cpu-tiny", "smollm2", "gpu-1.5b", "gpu-7b"} <= set(recipe_names())
    for name in recipe_names():
        cfg = build_config({"recipe": name})
        assert cfg.run.iterations >= 1
    gpu = build_config({"recipe": "gpu-1.5b"})
    assert (gpu.ppo.lr, gpu.ppo.critic_lr, gpu.rollout.episodes, gpu.run.iterations) == (1e-6, 1e-5, 128, 150)
    assert gpu.run.mixed_precision == "bf16"


def test_old_preset_key_is_refused_naming_recipe(tmp_path):
    """A training config's `preset:` (the key's old name) is an error naming `recipe`, in a dict and in a
    file, never a silent default; an unknown recipe or a path in its place is named too."""
    with pytest.raises(
        ValueError, match=r"config key preset='cpu-tiny' was renamed recipe: write `recipe: cpu-tiny`"
    ):
        build_config({"preset": "cpu-tiny"})
    path = tmp_path / "c.yaml"
    path.write_text("preset: smollm2\nmethod: {name: ppo}\n")
    with pytest.raises(ValueError, match="renamed recipe"):
        load_config(path)
    for bad in ("cpu-huge", "../recipes/cpu-tiny"):
        with pytest.raises(ValueError, match=rf"config recipe={bad!r}: unknown training recipe; known: \["):
            build_config({"recipe": bad})


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"recipe": "cpu-tiny", "method": {"name": "ppo"}, "run": {"seed": 3}}))
    cfg = load_config(path, ["ppo.lr=1e-5", "run.seed=4", "method.switch_form=code"])
    assert cfg.method.name == "ppo" and cfg.fmt == "flat"
    assert cfg.ppo.lr == 1e-5 and cfg.run.seed == 4 and cfg.method.switch_form == "code"
    assert cfg.rollout.episodes == 32 and cfg.model.critic == "detached"  # from the recipe


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


def test_method_names_come_from_the_registry():
    from hiper_repro import methods_registry

    for name in methods_registry.names():
        cfg = build_config({"model": {"path": "m"}, "method": {"name": name}})
        assert cfg.fmt == methods_registry.get(name).fmt
        assert cfg.has_critic == (methods_registry.get(name).family != "group")
    with pytest.raises(ValueError, match=r"method.name='hipr': expected one of \('hiper'"):
        build_config({"model": {"path": "m"}, "method": {"name": "hipr"}})


def test_variant_overrides_win_and_survive_a_reload(tmp_path, monkeypatch):
    """hiper-keep's KEEP penalties beat the file's and a --set; the saved config reloads unchanged."""
    monkeypatch.chdir(tmp_path)  # the config file's folder: its relative model path reads back as written
    data = {"model": {"path": "m"}, "method": {"name": "hiper-keep"}, "shaping": {"keep_penalty": 0.1}}
    cfg = build_config(data, ["shaping.keep_consistency_penalty=0.05"])
    assert (cfg.shaping.keep_penalty, cfg.shaping.keep_consistency_penalty) == (0.3, 0.3)
    save_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again.to_dict() == cfg.to_dict() and again.method.name == "hiper-keep"
    paper = build_config({"recipe": "cpu-tiny", "model": {"path": "m"}, "method": {"name": "hiper-paper"}})
    assert paper.method.lam_boundary == 0.0  # the recipe's 1.0 is overridden


def test_recipe_model_paths_follow_the_results_layout():
    """A training recipe's default model under results/ is the warm start a pipeline preset that trains with
    it writes: results/<pipeline preset>/models/{env}/{format}/warmstart (docs/ARCHITECTURE.md), never the
    old layout without the preset's folder (results/models/...)."""
    pipeline = Path(__file__).parents[2] / "config" / "presets"
    users = {}  # training recipe -> the pipeline presets that train with it
    for path in pipeline.glob("*.yaml"):
        users.setdefault(yaml.safe_load(path.read_text())["train"]["recipe"], set()).add(path.stem)
    checked = 0
    for name in recipe_names():
        model_path = build_config({"recipe": name}).model.path
        assert not model_path.startswith("results/models/"), f"recipe {name}: stale model.path {model_path}"
        if not model_path.startswith("results/"):
            continue  # a local folder of downloaded weights (the GPU recipes)
        expected = {f"results/{p}/models/{{env}}/{{format}}/warmstart" for p in users.get(name, ())}
        assert model_path in expected, (
            f"training recipe {name}: model.path {model_path}, expected one of {expected}"
        )
        checked += 1
    assert checked >= 2, "no recipe's model.path lies under results/"


def test_paths_in_a_config_file_are_relative_to_the_file(tmp_path, monkeypatch):
    """A file's relative paths resolve from its folder, whatever the working directory and however the
    file's own path was spelled; --set paths stay relative to the working directory; absolute paths and
    recipes are untouched."""
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
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"recipe": "gpu-1.5b"}))
    assert load_config(folder / "recipe.yaml").model.path == build_config({"recipe": "gpu-1.5b"}).model.path


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
