"""The config is validated when the workflow loads: a wrong key or type stops it with a message naming it."""

from __future__ import annotations

import pytest
import yaml
from snakemake_runner import REPO, copy_workflow, snakemake

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("wf"))


def _objects(schema: dict, path: str = "<root>"):
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object":
            yield from _objects(sub, f"{path}.{key}")


def test_schema_documents_every_key():
    """Every key has type, description and default; every fixed object rejects unknown keys.

    Keys below train.overrides name their trainer default in the description instead: a schema default
    would be filled in and override the training recipe's value (hiper_repro/train/config_schema.py).
    """
    for where, obj in _objects(SCHEMA):
        if "properties" in obj:
            assert obj.get("additionalProperties") is False, f"{where}: additionalProperties must be false"
        for key, sub in obj.get("properties", {}).items():
            overridden = where.startswith("<root>.train.overrides")
            for field in ("type", "description") if overridden else ("type", "description", "default"):
                assert field in sub, f"{where}.{key}: missing {field}"
            if overridden and sub["type"] != "object":
                assert "(trainer default: " in sub["description"], f"{where}.{key}: no trainer default"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        pytest.param("seedz=[1]", "'seedz' was unexpected", id="unknown-top-level"),
        pytest.param(
            "train={threadz: 2}",
            "invalid config at train: Additional properties are not allowed ('threadz'",
            id="unknown-nested",
        ),
        pytest.param(
            "stats={reps: many}",
            "invalid config at stats.reps: 'many' is not of type 'integer'",
            id="wrong-type",
        ),
        pytest.param("preset=huge", "invalid config at preset: 'huge' is not one of", id="unknown-preset"),
        pytest.param(
            "train={preset: cpu-tiny}",
            "invalid config at train.preset: renamed train.recipe",
            id="old-train-preset-key",
        ),
        pytest.param(
            "train={recipe: cpu-huge}",
            "invalid config at train.recipe: 'cpu-huge' is not one of",
            id="unknown-recipe",
        ),
        pytest.param(
            "methods=[hiper, a2c]", "invalid config at methods.1: 'a2c' is not one of", id="unknown-method"
        ),
        pytest.param(
            "train={overrides: {ppo: {lrr: 1}}}",
            "invalid config at train.overrides.ppo: Additional properties are not allowed ('lrr'",
            id="unknown-train-key",
        ),
        pytest.param(
            "train={overrides: {method: {gamma: high}}}",
            "invalid config at train.overrides.method.gamma: 'high' is not of type 'number'",
            id="wrong-train-type",
        ),
        pytest.param("tasks={n_eval: 4}", "exceeds tasks.n_eval=4", id="eval-split-too-small"),
        pytest.param(
            "authors={claim_threshold: 0.9}",
            "invalid config at authors.claim_threshold: 0.9 is not one of authors.thresholds",
            id="claim-threshold-not-a-threshold",
        ),
    ],
)
def test_invalid_config_fails_naming_the_key(workflow_copy, override, named):
    result = snakemake(workflow_copy, "-n", "--config", override)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr


def test_nested_command_line_values_are_retyped(workflow_copy):
    """`--config` hands nested values over as strings; numbers where the schema wants them still validate."""
    result = snakemake(
        workflow_copy, "-n", "--config", "preset=smoke", "seeds=[3, 4]", "stats={reps: 50, ci: 0.9}"
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_a_config_file_that_repeats_a_key_is_refused(workflow_copy):
    """Snakemake's YAML loader keeps the last of two equal keys; the workflow refuses the file instead."""
    extra = workflow_copy / "twice.yaml"
    extra.write_text("stats:\n  reps: 50\nseeds: [1]\nstats:\n  ci: 0.9\n")
    result = snakemake(workflow_copy, "-n", "--configfile", str(extra))
    assert result.returncode != 0
    assert (
        f"config file {extra}: key 'stats' is given twice, on lines 1 and 4" in result.stdout + result.stderr
    )
