"""Task files are checked on load and against the run that reads them: a bad row names its file, line
and field; a split of another env, horizon or split, repeated ids, or eval tasks in training are refused."""

import json

import pytest

from hiper_repro.envs import Task, load_tasks, make_tasks, save_tasks
from hiper_repro.envs.tasks import check_disjoint, check_tasks


@pytest.fixture
def rows():
    return [t.to_dict() for t in make_tasks("household", 2, "train", 3, 0)]


def _write(path, rows, prefix=""):
    path.write_text(prefix + "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_byte_order_mark_is_skipped(tmp_path, rows):
    assert load_tasks(_write(tmp_path / "bom.jsonl", rows, "\ufeff")) == [Task.from_dict(r) for r in rows]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            lambda r: r.update(horizon="2"), r"bad.jsonl:2: task.horizon='2': expected int", id="str-horizon"
        ),
        pytest.param(lambda r: r.update(horizon=True), r"task.horizon=True: expected int", id="bool-horizon"),
        pytest.param(lambda r: r.update(env="kitchen"), r"task.env='kitchen'", id="unknown-env"),
        pytest.param(lambda r: r.update(split="test"), r"task.split='test'", id="unknown-split"),
        pytest.param(
            lambda r: r["spec"].pop("subtasks"), r"spec lacks field\(s\) \['subtasks'\]", id="spec-field"
        ),
        pytest.param(
            lambda r: r["spec"]["receptacles"].append("oven 1"),
            r"unknown receptacle\(s\) \['oven 1'\]",
            id="receptacle",
        ),
        pytest.param(
            lambda r: r.update(horizon=3), r"holds 2 subtasks but the task's horizon is 3", id="horizon-spec"
        ),
        pytest.param(lambda r: r.update(task_id=""), r"task_id is empty", id="empty-id"),
    ],
)
def test_a_bad_row_names_file_line_and_field(tmp_path, rows, edit, message):
    edit(rows[1])
    with pytest.raises(ValueError, match=message) as err:
        load_tasks(_write(tmp_path / "bad.jsonl", rows))
    assert "bad.jsonl:2:" in str(err.value)


def test_bad_json_and_bad_bytes(tmp_path, rows):
    path = _write(tmp_path / "t.jsonl", rows)
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"t.jsonl:4: not valid JSON"):
        load_tasks(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=r"t.jsonl: not UTF-8 text"):
        load_tasks(path)


def test_repeated_task_ids_are_refused(tmp_path, rows):
    rows[2]["task_id"] = rows[0]["task_id"]
    with pytest.raises(ValueError, match=r"t.jsonl:3: task id .* repeats line 1"):
        load_tasks(_write(tmp_path / "t.jsonl", rows))


def test_split_must_match_the_run():
    train = make_tasks("household", 2, "train", 4, 0)
    check_tasks(train, "household", 2, "train", "train.jsonl")
    with pytest.raises(
        ValueError, match=r"train.jsonl: 4 of 4 tasks have horizon \[2\], the run expects horizon=1"
    ):
        check_tasks(train, "household", 1, "train", "train.jsonl")
    with pytest.raises(ValueError, match=r"have env \['household'\], the run expects env='shop'"):
        check_tasks(train, "shop", 2, "train", "train.jsonl")
    evals = make_tasks("household", 2, "eval", 2, 0)
    with pytest.raises(ValueError, match=r"2 of 6 tasks have split \['eval'\]"):
        check_tasks(train + evals, "household", 2, "train", "train.jsonl")


def test_eval_worlds_relabelled_as_train_are_found(tmp_path):
    train = make_tasks("household", 2, "train", 4, 0)
    evals = make_tasks("household", 2, "eval", 2, 0)
    check_disjoint(train, evals, "train.jsonl")
    leaked = Task(
        "renamed-0", "household", 2, "train", evals[0].task_type, evals[0].instruction, evals[0].spec
    )
    save_tasks(tmp_path / "t.jsonl", [*train, leaked])
    with pytest.raises(
        ValueError, match=r"1 training task\(s\) are evaluation tasks too \(first: renamed-0\)"
    ):
        check_disjoint(load_tasks(tmp_path / "t.jsonl"), evals, "train.jsonl")


def test_every_generated_spec_passes_its_check():
    from hiper_repro.envs.tasks import env_module

    for env, horizons in (("household", (1, 3, 6)), ("shop", (1, 4)), ("alfworld", (1,))):
        for h in horizons:
            for task in make_tasks(env, h, "eval", 20, 1):
                env_module(env).check_spec(task.spec, h)


def test_a_run_is_labelled_with_its_tasks_horizon():
    from hiper_repro.envs.tasks import task_horizon

    assert task_horizon(make_tasks("household", 2, "train", 3, 0)) == 2
    mixed = make_tasks("household", 1, "train", 2, 0) + make_tasks("household", 2, "train", 2, 0)
    with pytest.raises(ValueError, match=r"must share a horizon, got \[1, 2\]"):
        task_horizon(mixed)
