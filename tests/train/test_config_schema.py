"""The pipeline schema's train.overrides block is the TrainConfig tree; training recipes set the discounting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hiper_repro.train import config_schema
from hiper_repro.train.config import RECIPE_DIR, TrainConfig, build_config, recipe_names

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def test_schema_block_is_generated_from_the_dataclasses():
    stored = yaml.safe_load(SCHEMA.read_text())["properties"]["train"]["properties"]["overrides"]
    assert stored == config_schema.overrides_schema(), (
        "workflow/schemas/config.schema.yaml drifted from hiper_repro/train/config.py; run "
        "`python -m hiper_repro.train.config_schema --write workflow/schemas/config.schema.yaml`"
    )


def test_every_field_is_typed_and_described_with_its_default():
    sections = config_schema.overrides_schema()["properties"]
    defaults = TrainConfig().to_dict()
    assert set(sections) == set(defaults)
    gamma = sections["method"]["properties"]["gamma"]
    assert gamma["type"] == "number" and gamma["description"].endswith("(trainer default: 1.0)")
    assert sections["ppo"]["properties"]["whiten"]["type"] == "boolean"
    for name, section in sections.items():
        assert set(section["properties"]) == set(defaults[name]), name
        for key, entry in section["properties"].items():
            assert "default" not in entry, f"{name}.{key}: a schema default would override the recipe"


def test_writing_replaces_only_the_block():
    text = SCHEMA.read_text()
    assert config_schema.replace_block(text, config_schema.overrides_schema()) == text
    changed = config_schema.replace_block(text, {"type": "object", "default": {}})
    data = yaml.safe_load(changed)
    assert data["properties"]["train"]["properties"]["overrides"] == {"type": "object", "default": {}}
    assert data["properties"]["train"]["properties"]["launcher"]["enum"] == ["direct", "accelerate"]
    assert yaml.safe_load(text)["properties"]["warmstart"] == data["properties"]["warmstart"]


def test_a_field_without_a_docstring_or_a_json_type_is_an_error():
    @dataclass
    class Undocumented:
        lr: float = 1.0

    @dataclass
    class Untyped:
        pair: complex = 1j
        """a value JSON has no type for"""

    with pytest.raises(ValueError, match="x.lr: the field has no docstring"):
        config_schema.section_schema(Undocumented, "x")
    with pytest.raises(ValueError, match="x.pair: no JSON type"):
        config_schema.section_schema(Untyped, "x")


@pytest.mark.parametrize("recipe", recipe_names())
def test_recipes_set_the_discounting_and_leave_the_horizon_to_the_pipeline(recipe):
    data = yaml.safe_load((RECIPE_DIR / f"{recipe}.yaml").read_text())
    assert {"gamma", "lam", "lam_low", "lam_high"} <= set(data["method"]), recipe
    assert "horizon" not in data.get("env", {}), f"{recipe}: the pipeline sets env.horizon per run"
    assert build_config({"recipe": recipe, "model": {"path": "m"}}).env.horizon == TrainConfig().env.horizon


def test_methods_axis_is_the_registry():
    from hiper_repro import methods_registry

    text = SCHEMA.read_text()
    stored = yaml.safe_load(text)["properties"]["methods"]["items"]
    assert stored == {"type": "string", "enum": list(methods_registry.names())}, (
        "the schema's methods axis drifted from hiper_repro/methods_registry.py; run "
        "`python -m hiper_repro.train.config_schema --write workflow/schemas/config.schema.yaml`"
    )
    assert config_schema.replace_methods(text, config_schema.methods_items()) == text
    changed = yaml.safe_load(config_schema.replace_methods(text, {"type": "string", "enum": ["a"]}))
    assert changed["properties"]["methods"]["items"]["enum"] == ["a"]
    assert changed["properties"]["methods"]["default"] == ["hiper", "ppo"]
