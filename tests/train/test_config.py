"""Config tree: presets, YAML, overrides, rejection of unknown keys and bad values."""

from pathlib import Path

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


def test_method_names_come_from_the_registry():
    from hiper_repro import methods_registry

    for name in methods_registry.names():
        cfg = build_config({"model": {"path": "m"}, "method": {"name": name}})
        assert cfg.fmt == methods_registry.get(name).fmt
        assert cfg.has_critic == (methods_registry.get(name).family != "group")
    with pytest.raises(ValueError, match=r"method.name='hipr': expected one of \('hiper'"):
        build_config({"model": {"path": "m"}, "method": {"name": "hipr"}})


def test_variant_overrides_win_and_survive_a_reload(tmp_path):
    """hiper-keep's KEEP penalties beat the file's and a --set; the saved config reloads unchanged."""
    data = {"model": {"path": "m"}, "method": {"name": "hiper-keep"}, "shaping": {"keep_penalty": 0.1}}
    cfg = build_config(data, ["shaping.keep_consistency_penalty=0.05"])
    assert (cfg.shaping.keep_penalty, cfg.shaping.keep_consistency_penalty) == (0.3, 0.3)
    save_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again.to_dict() == cfg.to_dict() and again.method.name == "hiper-keep"
    paper = build_config({"preset": "cpu-tiny", "model": {"path": "m"}, "method": {"name": "hiper-paper"}})
    assert paper.method.lam_boundary == 0.0  # the preset's 1.0 is overridden


def test_preset_model_paths_follow_the_results_layout():
    """A training preset's default model under results/ is the warm start a pipeline preset that trains with
    it writes: results/<pipeline preset>/models/{env}/{format}/warmstart (docs/ARCHITECTURE.md)."""
    pipeline = Path(__file__).parents[2] / "config" / "presets"
    users = {}  # training preset -> the pipeline presets that train with it
    for path in pipeline.glob("*.yaml"):
        users.setdefault(yaml.safe_load(path.read_text())["train"]["preset"], set()).add(path.stem)
    checked = 0
    for name in preset_names():
        model_path = build_config({"preset": name}).model.path
        if not model_path.startswith("results/"):
            continue  # a local folder of downloaded weights (the GPU presets)
        expected = {f"results/{p}/models/{{env}}/{{format}}/warmstart" for p in users.get(name, ())}
        assert model_path in expected, (
            f"train preset {name}: model.path {model_path}, expected one of {expected}"
        )
        checked += 1
    assert checked >= 2, "no preset's model.path lies under results/"
