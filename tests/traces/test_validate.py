"""validate names exactly what is wrong, and everything that is wrong at once."""

import json

import pytest

from hiper_repro.traces.schema import SCHEMA_VERSION, TraceSchemaError
from hiper_repro.traces.synthetic import synthetic_merged, synthetic_writer
from hiper_repro.traces.validate import schema_problems, validate


@pytest.fixture
def tree():
    return synthetic_writer("hiper", 2, 0, iterations=2, episodes=4).tree()


def problems_after(tree, group, edit):
    ds = tree[group].to_dataset(inherit=False)
    tree[group] = type(tree)(edit(ds))
    return schema_problems(tree)


def test_valid_run_and_merged_pass(tree, run_dirs):
    validate(tree)
    validate(run_dirs[0])  # a path works too
    validate(synthetic_merged(methods=("hiper", "ppo"), horizons=(1,), seeds=(0,), iterations=2, episodes=4))


@pytest.mark.parametrize(
    ("group", "edit", "expected"),
    [
        ("turns", lambda ds: ds.drop_vars("adv_low"), "/turns: variable 'adv_low' missing"),
        ("turns", lambda ds: ds.assign(extra=ds["reward"]), "/turns: unexpected variable 'extra'"),
        (
            "turns",
            lambda ds: ds.assign(reward=ds["reward"].astype(str)),
            "/turns: reward: dtype <U32, expected float",
        ),
        (
            "turns",
            lambda ds: ds.assign(turn_=ds["reward"]).rename_vars(turn_="segment"),
            "variable 'segment' is named like a dim",
        ),
        (
            "episodes",
            lambda ds: ds.assign(success=ds["success"].T),
            "/episodes: success: dims ('episode', 'iteration')",
        ),
        ("segments", lambda ds: ds.drop_vars("segment"), "/segments: dim 'segment' has no coordinate"),
        (
            "segments",
            lambda ds: ds.assign_coords(segment=ds["segment"] + 1),
            "coordinate 'segment' should be 0..",
        ),
        (
            "episodes",
            lambda ds: ds.assign_coords(iteration=[0, 0]),
            "coordinate 'iteration' has repeated values",
        ),
        (
            "evaluation",
            lambda ds: ds.assign(score=ds["score"].assign_attrs(long_name="")),
            "/evaluation: score: attr 'long_name' missing",
        ),
        ("turns", lambda ds: ds.assign(logprob=ds["logprob"].fillna(0.0)), "/turns: logprob: "),
    ],
    ids=[
        "missing",
        "extra",
        "dtype",
        "dim-name",
        "dim-order",
        "no-coord",
        "coord-range",
        "coord-repeat",
        "long-name",
        "padding",
    ],
)
def test_each_violation_is_named(tree, group, edit, expected):
    problems = problems_after(tree, group, edit)
    assert any(expected in p for p in problems), problems


def test_padding_violation_counts_cells(tree):
    n_pad = int((~tree["turns"]["mask"]).sum())
    problems = problems_after(tree, "turns", lambda ds: ds.assign(logprob=ds["logprob"].fillna(0.0)))
    assert problems == [f"/turns: logprob: {n_pad} padded cells (where mask marks none) are not NaN"]


def test_root_attrs_are_checked(tree):
    tree.attrs["config"] = json.dumps({"lr": 2e-6})  # hash no longer matches
    del tree.attrs["device"]
    tree.attrs["seed"] = "0"
    tree.attrs["created"] = "yesterday"
    problems = schema_problems(tree)
    assert "root attr 'device' missing" in problems
    assert "root attr 'seed' should be int, got '0'" in problems
    assert "root attr 'config_hash' does not match the sha256 of 'config'" in problems
    assert "root attr 'created' is not ISO 8601: 'yesterday'" in problems


def test_groups_are_checked_and_every_problem_reported(tree):
    tree = tree.copy()
    del tree["evaluation"]
    tree["notes"] = type(tree)()
    tree.attrs["schema_version"] = "0"
    with pytest.raises(TraceSchemaError) as info:
        validate(tree, where="run A")
    assert info.value.problems == [
        f"schema_version is '0', this code reads '{SCHEMA_VERSION}'",
        "group /evaluation missing",
        "unexpected group /notes (schema groups: ['turns', 'segments', 'episodes', 'evaluation',"
        " 'evaluation_secondary', 'iterations'])",
    ]
    assert str(info.value).startswith("run A break the trace schema (3 problems)")


def test_merged_needs_provenance_coords():
    merged = synthetic_merged(methods=("ppo",), horizons=(1,), seeds=(0,), iterations=1, episodes=2)
    root = merged.to_dataset(inherit=False).drop_vars("git_commit")
    merged.dataset = root
    assert schema_problems(merged) == ["root coordinate 'git_commit' missing (per-run provenance)"]


def test_validate_rejects_other_types():
    with pytest.raises(ValueError, match="expected a DataTree or a path, got int"):
        validate(3)
