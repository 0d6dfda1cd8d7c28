"""Official ALFWorld games from `hiper-repro tasks --env alfworld --data-path DIR`: listing them needs only
the game files; playing them needs the alfworld extra."""

import importlib.util
import json

import pytest

from hiper_repro.envs import load_tasks
from hiper_repro.envs.cli import main

HAS_ALFWORLD = importlib.util.find_spec("alfworld") is not None


def _game(root, name, task_type, solvable=True, desc="put a clean mug in the cabinet."):
    folder = root / task_type / name
    folder.mkdir(parents=True)
    (folder / "game.tw-pddl").write_text(json.dumps({"solvable": solvable}))
    traj = {"task_type": task_type, "turk_annotations": {"anns": [{"task_desc": desc}]}}
    (folder / "traj_data.json").write_text(json.dumps(traj))


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "json_2.1.1" / "valid_unseen"
    _game(root, "trial_1", "pick_clean_then_place_in_recep-Mug-None-Cabinet-10")
    _game(root, "trial_2", "pick_and_place_simple-Mug-None-Cabinet-10", solvable=False)
    _game(root, "trial_3", "pick_heat_then_place_in_recep-Apple-None-Fridge-2", desc="heat an apple.")
    _game(root, "trial_4", "pick_and_place_simple-Sliced-None-Cabinet-10")
    for folder in root.glob("*/trial_*"):  # traj_data holds the bare ALFRED task type
        traj = json.loads((folder / "traj_data.json").read_text())
        traj["task_type"] = traj["task_type"].split("-")[0]
        (folder / "traj_data.json").write_text(json.dumps(traj))
    return root


def test_tasks_command_lists_the_solvable_official_games(data, tmp_path, capsys):
    out = tmp_path / "eval.jsonl"
    args = ["--env", "alfworld", "--horizon", "1", "--split", "eval", "--n", "2", "--data-path", str(data)]
    assert main([*args, "--out", str(out)]) == 0
    tasks = load_tasks(out)
    assert [t.task_type for t in tasks] == ["clean", "heat"]
    assert [t.instruction for t in tasks] == ["put a clean mug in the cabinet.", "heat an apple."]
    assert all(t.spec["data_path"] == str(data.resolve()) for t in tasks)
    assert (data / tasks[0].spec["game"]).is_file()
    with pytest.raises(SystemExit):  # only two solvable games
        main([*args[:-4], "--n", "3", "--data-path", str(data), "--out", str(out)])
    assert "2 solvable games" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--env", "household", *args[2:], "--out", str(out)])
    assert "--data-path applies to --env alfworld only" in capsys.readouterr().err


@pytest.mark.skipif(
    not HAS_ALFWORLD, reason="alfworld not installed (optional extra: pip install 'hiper-repro[alfworld]')"
)
def test_an_official_game_is_found_from_its_task(data, tmp_path):
    from hiper_repro.envs.alfworld_env import AlfWorldEnv, official_tasks

    task = official_tasks(data, "eval", 1)[0]
    assert AlfWorldEnv().game_file(task) == data.resolve() / task.spec["game"]


def test_describe_reads_an_official_games_own_description(data):
    """describe() of an official spec raised KeyError 'subtasks' (it read it as a generated world)."""
    from hiper_repro.envs.alfworld_env import describe, official_tasks

    for task in official_tasks(data, "eval", 2):
        assert describe(task.spec) == (task.task_type, task.instruction)
    with pytest.raises(ValueError, match=r"ALFWorld game data .*traj_data\.json: unreadable"):
        describe({"game": "nowhere/game.tw-pddl", "data_path": str(data)})
    with pytest.raises(ValueError, match="data_path"):
        describe({"game": "x"})
