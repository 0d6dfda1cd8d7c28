"""What ran: settings from the runs' stored configs, prompt formats from the turns, models by name and size."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from hiper_repro.stats.study import (
    count_parameters,
    describe_model,
    evaluation_text,
    model_text,
    setting_text,
    setting_values,
    shaping_of,
    study_facts,
)


def _config(**shaping) -> dict:
    return {
        "shaping": {"success_reward": 1.0, "invalid_penalty": 0.1, "invalid_penalty_on": "format",
                    "progress_coef": 0.0, "keep_penalty": 0.0, "keep_consistency_penalty": 0.0} | shaping,
        "run": {"eval_every": 5, "eval_episodes": 64, "eval_seed": 0, "secondary_eval": True},
        "rollout": {"temperature": 1.0, "eval_temperature": 0.4},
    }  # fmt: skip


def test_settings_name_each_value_with_its_methods():
    configs = {"hiper": [_config(), _config()], "ppo": [_config(invalid_penalty=0.0)]}
    assert setting_text(setting_values(configs, "shaping.success_reward")) == "1"
    assert setting_text(setting_values(configs, "shaping.invalid_penalty")) == "0.1 (hiper), 0 (ppo)"
    assert setting_values(configs, "no.such.key") == {}


def test_shaping_in_words_as_configured():
    assert shaping_of(_config()) == (
        "success pays 1; a reply that broke the format costs 0.1 (a well-formed but inadmissible action costs "
        "nothing); no progress shaping (the optional potential-based term `shaping.progress_coef` was off); "
        "no KEEP penalties"
    )
    authors = shaping_of(_config(success_reward=10.0, invalid_penalty_on="any", keep_penalty=0.3,
                                 keep_consistency_penalty=0.3, progress_coef=0.5))  # fmt: skip
    assert (
        "success pays 10" in authors
        and "any invalid reply, unparseable or inadmissible, costs 0.1" in authors
    )
    assert "progress shaping with coefficient 0.5" in authors and "a KEEP turn costs 0.3" in authors
    normalized = shaping_of(_config(keep_penalty=0.3, keep_penalty_mode="normalized", keep_consistency_penalty=0.3,
                                    switch_rate_floor=0.25, switch_rate_floor_coef=5.0))  # fmt: skip
    assert "an episode with k KEEP turns among its n decision turns pays 0.3 k / n" in normalized
    assert "switch rate falls below 0.25 pays 5 times the shortfall" in normalized
    assert "switch rate" not in authors  # no floor configured


def test_evaluation_protocol_from_the_configs():
    text = evaluation_text({"hiper": [_config()]})
    assert "before the first update and at the end, and every 5 iterations" in text
    assert "first 64 tasks" in text and "training temperature 1 " in text
    assert "secondary evaluation at temperature 0.4" in text
    assert evaluation_text({"hiper": [{"synthetic": True}]}) == (
        "The runs' stored configs do not record how they were evaluated."
    )


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "results" / "quick" / "models" / "household" / "plan_execute" / "warmstart"
    folder.mkdir(parents=True)
    save_file(
        {"embed": np.zeros((10, 4), np.float32), "layer": np.zeros((4, 4), np.float32)},
        folder / "model.safetensors",
    )
    (folder / "config.json").write_text(
        json.dumps({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 4, "vocab_size": 10})
    )
    (folder / "warmstart_eval.json").write_text(
        json.dumps(
            {
                "config": {
                    "model": "/models/Qwen2.5-1.5B-Instruct",
                    "n_demos": 1200,
                    "steps": 1500,
                    "noise": 0.2,
                }
            }
        )
    )
    return folder


def test_models_are_described_by_name_and_size_never_by_path(model_folder):
    assert count_parameters(model_folder / "model.safetensors") == 56
    d = describe_model(str(model_folder))
    assert d["name"] == "Qwen2.5-1.5B-Instruct" and d["parameters"] == 56 and d["found"]
    text = model_text(d)
    assert text == (
        "Qwen2.5-1.5B-Instruct (llama, 2 layers, hidden 4, 0.00M parameters), warm-started on 1200 expert "
        "demonstrations (20% of their actions random) for 1500 supervised steps"
    )
    assert "/" not in text and "results" not in text
    missing = describe_model("results/no-such-preset/models/household/flat/warmstart")  # not on any disk
    assert not missing["found"] and "results" not in missing["name"]
    assert describe_model("tiny-s") == {"name": "tiny-s", "found": False}


def test_study_facts_of_the_merged_traces(merged):
    facts = study_facts(merged)
    assert facts["study.format.hiper"] == "plan_execute" and facts["study.format.ppo"] == "flat"
    assert facts["study.models"] == "synthetic"
    assert (
        facts["study.shaping"] == "not recorded in the runs' configs"
    )  # synthetic runs store no training config
    assert facts["study.environments"].startswith("household, an ALFWorld-like world")
