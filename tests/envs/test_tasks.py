"""Task sets: deterministic, disjoint splits, JSONL round trip, clear errors."""

import json

import pytest

from hiper_repro.envs import Task, load_tasks, make_tasks, save_tasks
from hiper_repro.envs.tasks import spec_key, split_of


@pytest.mark.parametrize("env", ["household", "shop"])
def test_same_seed_same_tasks(env):
    assert make_tasks(env, 2, "train", 20, seed=3) == make_tasks(env, 2, "train", 20, seed=3)
    assert make_tasks(env, 2, "train", 20, seed=3) != make_tasks(env, 2, "train", 20, seed=4)


@pytest.mark.parametrize("env", ["household", "shop"])
def test_splits_disjoint_and_prefix_stable(env):
    train = make_tasks(env, 3, "train", 200)
    evals = make_tasks(env, 3, "eval", 100)
    train_keys = {spec_key(t.spec) for t in train}
    eval_keys = {spec_key(t.spec) for t in evals}
    assert not train_keys & eval_keys
    assert len(train_keys) == 200 and len(eval_keys) == 100  # unique within a split
    assert all(split_of(t.spec) == "eval" for t in evals)
    assert make_tasks(env, 3, "eval", 10) == evals[:10]
    assert len({t.task_id for t in train + evals}) == 300


def test_eval_split_ignores_training_seed_argument_of_other_splits():
    # the eval file is a function of (env, horizon, task seed) only: asking for train first changes nothing
    before = make_tasks("household", 2, "eval", 5)
    make_tasks("household", 2, "train", 50)
    assert make_tasks("household", 2, "eval", 5) == before


def test_jsonl_round_trip(tmp_path):
    tasks = make_tasks("household", 2, "eval", 7)
    path = tmp_path / "sub" / "eval.jsonl"
    save_tasks(path, tasks)
    assert load_tasks(path) == tasks
    assert len(path.read_text().splitlines()) == 7
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tasks(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_tasks(bad)
    bad.write_text(json.dumps({"task_id": "x"}) + "\n")
    with pytest.raises(ValueError, match="lacks field"):
        load_tasks(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"env": "nope"}, "env must be one of"),
        ({"horizon": 0}, "horizon must be"),
        ({"split": "test"}, "split must be one of"),
        ({"n": -1}, "n must be"),
        ({"seed": 1.5}, "seed must be"),
    ],
)
def test_make_tasks_errors(kwargs, match):
    args = {"env": "household", "horizon": 1, "split": "train", "n": 1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        make_tasks(**args)


def test_save_rejects_non_tasks(tmp_path):
    with pytest.raises(ValueError, match="Task objects"):
        save_tasks(tmp_path / "x.jsonl", [{"task_id": 1}])
    assert not list(tmp_path.iterdir())


def test_task_fields():
    task = make_tasks("household", 4, "train", 1)[0]
    assert isinstance(task, Task)
    assert (task.env, task.horizon, task.split) == ("household", 4, "train")
    assert task.instruction.count(", then ") == 3


def test_unknown_task_options_are_named():
    with pytest.raises(ValueError, match=r"takes task options \[\], got unknown \['challenge'\]"):
        make_tasks("household", 1, "train", 1, challenge="custom")
