"""The ALFWorld adapter: PDDL writing always; playing only when alfworld is installed."""

import importlib.util
import json
import re

import pytest

from hiper_repro.envs import expert_episode, make_env, make_tasks
from hiper_repro.envs.alfworld_env import ALFRED_TASK_TYPES, problem_pddl, write_problem

HAS_ALFWORLD = importlib.util.find_spec("alfworld") is not None


def test_pddl_is_balanced_and_names_every_thing(tmp_path):
    tasks = make_tasks("alfworld", 1, "eval", 30)
    assert {t.task_type for t in tasks} == set(ALFRED_TASK_TYPES)
    for task in tasks:
        text = problem_pddl(task)
        assert text.count("(") == text.count(")")
        declared = set(re.findall(r"^(\S+) - (?:object|receptacle|location)$", text, flags=re.M))
        init = text.split("(:init", 1)[1].split("(:goal", 1)[0]
        used = set(
            re.findall(r"\((?:inReceptacle|objectAtLocation|receptacleAtLocation) (\S+) (\S+)\)", init)
        )
        assert {x for pair in used for x in pair} <= declared
        folder = write_problem(task, tmp_path)
        traj = json.loads((folder / "traj_data.json").read_text())
        assert traj["task_type"] == ALFRED_TASK_TYPES[task.task_type]
        assert (folder / "initial_state.pddl").read_text() == text


def test_goal_matches_task_type():
    for task in make_tasks("alfworld", 1, "eval", 30):
        goal = problem_pddl(task).split("(:goal", 1)[1]
        expected = {
            "clean": "isClean",
            "heat": "isHot",
            "cool": "isCool",
            "look": "isToggled",
            "pick2": "?o2",
        }
        if task.task_type in expected:
            assert expected[task.task_type] in goal


def test_only_horizon_one():
    with pytest.raises(ValueError, match="horizon must be 1"):
        make_tasks("alfworld", 2, "eval", 1)


@pytest.mark.skipif(HAS_ALFWORLD, reason="alfworld is installed")
def test_clear_message_without_alfworld():
    with pytest.raises(ImportError, match=r"pip install 'hiper-repro\[alfworld\]'"):
        make_env("alfworld")


@pytest.mark.skipif(
    not HAS_ALFWORLD, reason="alfworld not installed (optional extra: pip install 'hiper-repro[alfworld]')"
)
def test_expert_wins_a_generated_problem(tmp_path):
    env = make_env("alfworld", work_dir=tmp_path)
    tasks = make_tasks("alfworld", 1, "eval", 12)
    for kind in ("pick", "look"):  # about 2 s each: ALFWorld's expert solves the problem once, then plays it
        task = next(t for t in tasks if t.task_type == kind)
        records, info = expert_episode(env, task)
        assert info["won"] and all(r.action in r.admissible for r in records)
        assert (tmp_path / "pick_and_place_simple").is_dir() or kind == "look"


@pytest.mark.skipif(
    not HAS_ALFWORLD, reason="alfworld not installed (optional extra: pip install 'hiper-repro[alfworld]')"
)
def test_garbled_actions_do_nothing(tmp_path):
    env = make_env("alfworld", work_dir=tmp_path)
    task = make_tasks("alfworld", 1, "eval", 1)[0]
    obs = env.reset(task)
    assert obs.task.startswith("Your task is to:") and obs.admissible
    for action in ["", "ünïcødé ☃", "go to nowhere 99", "\x00"]:
        obs2, reward, term, trunc, info = env.step(action)
        assert obs2.text == "Nothing happens." and not info["valid"] and obs2.admissible == obs.admissible
