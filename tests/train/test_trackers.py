"""run.trackers: tensorboard by default, wandb through accelerate (offline), a clear error when missing."""

from __future__ import annotations

import importlib.util

import pytest

from hiper_repro.train.cli import main as train_main
from hiper_repro.train.config import save_config
from hiper_repro.train.setup import check_trackers

from .conftest import tiny_config

HAS_WANDB = importlib.util.find_spec("wandb") is not None


@pytest.mark.skipif(HAS_WANDB, reason="wandb is installed")
def test_missing_wandb_stops_the_run_before_it_starts(tiny_models, tmp_path, capsys):
    cfg = tiny_config(tiny_models, "hiper", run={"trackers": ["tensorboard", "wandb"]})
    with pytest.raises(ImportError, match=r"run.trackers=\['tensorboard', 'wandb'\]: wandb is not installed"):
        check_trackers(cfg)
    save_config(cfg, tmp_path / "c.yaml")
    assert train_main(["--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "pip install -e '.[wandb]'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.skipif(not HAS_WANDB, reason="wandb is an optional extra: pip install -e '.[wandb]'")
def test_wandb_offline_run(tiny_models, tmp_path, monkeypatch):
    """WANDB_MODE=offline: no network, the run's records under the run folder's wandb/."""
    from hiper_repro.train import train

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny_config(tiny_models, "grpo", run={"iterations": 1, "eval_every": 0, "trackers": ["wandb"]})
    out = train(cfg, tmp_path / "run")
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), runs
    assert not (out / "tensorboard").exists()


def test_no_tracker_writes_metrics_only(tiny_models, tmp_path):
    from hiper_repro.train import train

    cfg = tiny_config(tiny_models, "ppo", run={"iterations": 1, "eval_every": 0, "trackers": []})
    out = train(cfg, tmp_path / "run")
    assert (out / "metrics.csv").is_file() and not (out / "tensorboard").exists()
