"""make_provenance: every root attr, stable config hash, clear errors."""

import datetime as dt
import json
from pathlib import Path

import pytest

from hiper_repro.traces.provenance import canonical_json, config_hash, make_provenance
from hiper_repro.traces.schema import ROOT_ATTRS


def prov(**kw):
    args = dict(
        config={"b": 1, "a": [1, 2]},
        method="hiper",
        env="shop",
        horizon=3,
        seed=1,
        model_id="tiny",
        device="cpu",
    )
    return make_provenance(**(args | kw))


def test_has_every_root_attr_but_keep_every():
    attrs = prov()
    assert set(attrs) == set(ROOT_ATTRS) - {"keep_every"}
    assert attrs["method"] == "hiper" and attrs["horizon"] == 3 and attrs["seed"] == 1
    assert dt.datetime.fromisoformat(attrs["created"]).utcoffset() == dt.timedelta(0)
    assert json.loads(attrs["library_versions"])["xarray"]
    assert json.loads(attrs["config"]) == {"a": [1, 2], "b": 1}
    assert attrs["git_commit"]


def test_config_hash_ignores_key_order_and_sees_values():
    assert prov(config={"a": 1, "b": 2})["config_hash"] == prov(config={"b": 2, "a": 1})["config_hash"]
    assert prov(config={"a": 1})["config_hash"] != prov(config={"a": 2})["config_hash"]
    assert config_hash(canonical_json({"x": 1})) == config_hash('{"x":1}')
    assert json.loads(canonical_json({"p": Path("/tmp/x")})) == {"p": "/tmp/x"}


def test_created_can_be_fixed():
    assert prov(created="2026-01-01T00:00:00+00:00")["created"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"config": {"f": object()}}, "not JSON-serialisable"),
        ({"config": [1]}, "expected a dict"),
        ({"method": ""}, "method must be a non-empty string"),
        ({"horizon": 0}, "need horizon >= 1"),
        ({"seed": 1.0}, "seed must be an int"),
    ],
)
def test_bad_arguments(kw, message):
    with pytest.raises(ValueError, match=message):
        prov(**kw)
