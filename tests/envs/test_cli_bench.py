"""`hiper-repro tasks` and `hiper-repro bench envs` entry points."""

import pytest

from hiper_repro.envs import load_tasks, make_tasks
from hiper_repro.envs.bench import bench_env
from hiper_repro.envs.cli import main


def test_tasks_command_writes_the_split(tmp_path, capsys):
    out = tmp_path / "h2" / "eval.jsonl"
    argv = [
        "--env",
        "household",
        "--horizon",
        "2",
        "--split",
        "eval",
        "--n",
        "12",
        "--seed",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert load_tasks(out) == make_tasks("household", 2, "eval", 12, seed=0)
    assert "wrote 12" in capsys.readouterr().out


def test_tasks_command_rejects_bad_input(tmp_path):
    with pytest.raises(SystemExit):
        main(
            [
                "--env",
                "household",
                "--horizon",
                "0",
                "--split",
                "eval",
                "--n",
                "1",
                "--out",
                str(tmp_path / "x"),
            ]
        )
    with pytest.raises(SystemExit):
        main(
            [
                "--env",
                "household",
                "--horizon",
                "1",
                "--split",
                "eval",
                "--n",
                "1",
                "--out",
                "x",
                "--challenge",
                "c",
            ]
        )


def test_bench_counts_steps():
    # steps per second: a count over a timed window, positive and finite (its size depends on the machine's load)
    rate = bench_env("household", make_tasks("household", 1, "train", 5), seconds=0.2)
    assert 0 < rate < float("inf")
