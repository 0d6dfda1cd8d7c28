"""`hiper-repro train` on a killed run with the real loop: a changed config is refused naming the keys,
lost traces stop the run saying what is lost, a safe key continues with --force."""

import json
import shutil

import pytest

from hiper_repro.traces.store import read_tree
from hiper_repro.train.cli import main
from hiper_repro.train.config import save_config
from hiper_repro.train.loop import FAIL_ENV, InjectedFailure

from .conftest import tiny_config


@pytest.mark.slow
def test_a_killed_run_resumes_only_as_itself(tiny_models, tmp_path, monkeypatch, capsys):
    save_config(tiny_config(tiny_models, "hiper"), tmp_path / "c.yaml")
    out = tmp_path / "run"
    args = ["--config", str(tmp_path / "c.yaml"), "--out", str(out)]
    monkeypatch.setenv(FAIL_ENV, "1:update")  # killed in iteration 1, after the checkpoint of iteration 0
    with pytest.raises(InjectedFailure):
        main(args)
    monkeypatch.delenv(FAIL_ENV)
    capsys.readouterr()

    assert main([*args, "--set", "run.seed=7", "--set", "ppo.lr=0.5", "--set", "method.name=ppo-pe"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained under another config" in err
    assert all(
        k in err for k in ("method.name 'hiper' -> 'ppo-pe'", "ppo.lr 0.001 -> 0.5", "run.seed 0 -> 7")
    )

    shutil.move(out / "traces.nc", tmp_path / "traces.nc")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "traces.nc is missing, but checkpoints reach iteration 0" in err and "remove" in err
    shutil.move(tmp_path / "traces.nc", out / "traces.nc")

    assert main(args) == 0  # the interrupted run itself resumes
    assert list(read_tree(out / "traces.nc")["episodes"]["iteration"].values) == [0, 1]

    assert main([*args, "--set", "run.iterations=3"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main([*args, "--set", "run.iterations=3", "--force"]) == 0
    tree = read_tree(out / "traces.nc")
    assert list(tree["episodes"]["iteration"].values) == [0, 1, 2]
    assert json.loads(tree.attrs["config"])["run"]["iterations"] == 3  # labelled with what it ran under
    assert json.loads((out / "done").read_text())["iterations"] == 3
    changes = json.loads((out / "run.json").read_text())["config_changes"]
    assert changes[0]["changes"] == {"run.iterations": [2, 3]}
