"""The annotated configs in examples/: valid as shipped, one per method family, and each trains.

Each is trained for one iteration by the command a reader would type, with `--set` overrides for the test's
tiny models and sizes (the only changes: the starting model, and how much is played)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from hiper_repro import methods_registry
from hiper_repro.train.cli import main as train_main
from hiper_repro.train.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_one_example_per_method_family():
    families = [methods_registry.get(load_config(f).method.name).family for f in FILES]
    assert sorted(families) == sorted(methods_registry.FAMILIES), families


def test_example_paths_are_relative_to_the_file(monkeypatch, tmp_path):
    """Resolved from the examples' folder: the quick pipeline's warm starts, whatever the working directory."""
    monkeypatch.chdir(EXAMPLES.parent)
    cfg = load_config("examples/hiper.yaml")
    assert cfg.model.path == "results/quick/models/{env}/{format}/warmstart"
    monkeypatch.chdir(tmp_path)
    assert load_config(EXAMPLES / "hiper.yaml").model.path == str(
        EXAMPLES.parent / "results/quick/models/{env}/{format}/warmstart"
    )


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_example_trains_one_iteration(path, tiny_models, tmp_path, capsys):
    sizes = [
        f"model.path={tiny_models['base'].parent / '{format}'}",  # --set: relative to the working directory
        "env.n_train_tasks=8",
        "rollout.episodes=4",
        "rollout.max_new_tokens=24",
        "rollout.max_turns=3",
        "ppo.value_epochs=2",
        "run.iterations=1",
        "run.eval_every=0",
        "run.eval_episodes=4",
        "run.progress=false",
    ]
    if load_config(path).is_group:
        sizes.append("method.group_size=2")
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train_main(["--config", str(path), "--out", str(out), *(f"--set={s}" for s in sizes)]) == 0
    assert (out / "done").is_file() and (out / "tensorboard").is_dir()
    assert "eval success" in capsys.readouterr().out
    said = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught]
    assert not said, said  # a normal run warns about nothing (torch's float() of a grad tensor included)
