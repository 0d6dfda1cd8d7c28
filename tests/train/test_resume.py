"""Run-folder decisions (train/resume.py) on hand-built folders: which run may be continued and from which
checkpoint. The end-to-end cases with the real loop are in test_resume_loop.py."""

import json
import os
import time

import pytest

from hiper_repro.traces.synthetic import synthetic_writer
from hiper_repro.train.config import build_config, save_config
from hiper_repro.train.metrics import MetricsLog
from hiper_repro.train.resume import ResumeError, config_changes, prepare_run, resume_point


def _cfg(root, *overrides):
    data = {"model": {"path": str(root / "model")}, "run": {"iterations": 6, "checkpoint_every": 2}}
    return build_config(data, list(overrides))


def _run_folder(root, cfg, checkpoints=(1, 3), traced=4, logged=4, started=None):
    """A folder as a run killed after iteration `traced - 1` leaves it (checkpoints hold only state.json)."""
    out = root / "run"
    out.mkdir()
    save_config(cfg, out / "config.yaml")
    started = time.time() if started is None else started
    (out / "run.json").write_text(json.dumps({"starts": [{"iteration": 0, "time": started}]}))
    for it in checkpoints:
        (out / "checkpoints" / f"iter_{it:06d}").mkdir(parents=True)
        (out / "checkpoints" / f"iter_{it:06d}" / "state.json").write_text("{}")
    if traced:
        synthetic_writer("hiper", 2, 0, path=out, iterations=traced, episodes=2).flush()
    log = MetricsLog(out / "metrics.csv")
    for it in range(logged):
        log.log({"iteration": it})
    return out


@pytest.fixture
def root(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    past = time.time() - 3600
    os.utime(model, (past, past))
    return tmp_path


def test_changes_are_listed_by_dotted_key():
    assert config_changes({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": 4}}) == {
        "a.c": (2, 3),
        "a.d": ("<absent>", 4),
    }


def test_an_interrupted_run_resumes_and_a_finished_one_is_left_alone(root):
    cfg = _cfg(root)
    out = _run_folder(root, cfg)
    assert prepare_run(out, cfg, force=False, restart_stale=False) == "resume"
    (out / "done").write_text("{}")
    assert prepare_run(out, cfg, force=False, restart_stale=False) == "finished"
    assert prepare_run(out, cfg, force=True, restart_stale=False) == "resume"


def test_another_config_is_refused_naming_every_key(root):
    out = _run_folder(root, _cfg(root))
    changed = _cfg(root, "run.seed=7", "ppo.lr=0.5", "method.name=ppo-pe")
    with pytest.raises(ResumeError) as err:
        prepare_run(out, changed, force=True, restart_stale=False)
    message = str(err.value)
    assert "\n" not in message and "--restart-stale" in message
    for part in ("method.name 'hiper' -> 'ppo-pe'", "ppo.lr 1e-06 -> 0.5", "run.seed 0 -> 7"):
        assert part in message
    with pytest.raises(ResumeError, match="trained under another config"):  # the loop refuses as well
        resume_point(out, changed)


def test_safe_keys_change_only_with_force(root):
    out = _run_folder(root, _cfg(root))
    (out / "done").write_text("{}")
    longer = _cfg(root, "run.iterations=10")
    with pytest.raises(ResumeError, match=r"run.iterations 6 -> 10; these keys are safe .* pass --force"):
        prepare_run(out, longer, force=False, restart_stale=False)
    assert prepare_run(out, longer, force=True, restart_stale=False) == "resume"
    record = json.loads((out / "run.json").read_text())["config_changes"]
    assert record[0]["changes"] == {"run.iterations": [6, 10]} and record[0]["after_iteration"] == 3
    assert not (out / "done").exists()  # unfinished again until it ends
    with pytest.raises(ResumeError, match=r"run.iterations=3 but the run has trained 4 iterations"):
        prepare_run(out, _cfg(root, "run.iterations=3"), force=True, restart_stale=False)


def test_the_pipeline_keeps_a_run_only_under_exactly_its_config(root):
    out = _run_folder(root, _cfg(root))
    assert prepare_run(out, _cfg(root, "run.iterations=10"), force=False, restart_stale=True) == "fresh"
    assert not (out / "checkpoints").exists()


def test_a_run_older_than_its_inputs_is_stale(root):
    cfg = _cfg(root)
    out = _run_folder(root, cfg, started=time.time() - 60)
    (root / "model" / "weights.safetensors").write_text("rebuilt")
    with pytest.raises(ResumeError, match=r"model/weights.safetensors changed after the run started"):
        prepare_run(out, cfg, force=False, restart_stale=False)


def test_restart_stale_removes_only_the_run(root):
    out = _run_folder(root, _cfg(root))
    (out / "notes.txt").write_text("mine")
    changed = _cfg(root, "ppo.lr=0.5")
    assert prepare_run(out, changed, force=False, restart_stale=True, rank=1) == "fresh"
    assert (out / "checkpoints").is_dir()  # only rank 0 deletes
    assert prepare_run(out, changed, force=False, restart_stale=True) == "fresh"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert prepare_run(out, changed, force=False, restart_stale=True) == "fresh"  # same answer after


def test_a_folder_without_checkpoints_starts_fresh(root):
    out = _run_folder(root, _cfg(root), checkpoints=())
    assert prepare_run(out, _cfg(root, "ppo.lr=0.5"), force=False, restart_stale=False) == "fresh"
    assert resume_point(out, _cfg(root, "ppo.lr=0.5")) is None


def test_resume_from_the_newest_checkpoint_the_records_cover(root):
    cfg = _cfg(root)
    out = _run_folder(root, cfg, checkpoints=(1, 3), traced=4, logged=4)
    assert resume_point(out, cfg).name == "iter_000003"
    # traces and metrics end at iteration 2 (an older traces.nc put back): iteration 3 must be trained again
    (out / "traces.nc").unlink()
    synthetic_writer("hiper", 2, 0, path=out, iterations=3, episodes=2).flush()
    assert resume_point(out, cfg, prune=False).name == "iter_000001"
    assert (out / "checkpoints" / "iter_000003").is_dir()
    assert resume_point(out, cfg, prune=True).name == "iter_000001"
    assert not (out / "checkpoints" / "iter_000003").exists()


def test_lost_traces_stop_with_what_is_lost(root):
    cfg = _cfg(root)
    out = _run_folder(root, cfg)
    good = (out / "traces.nc").read_bytes()
    (out / "traces.nc").write_bytes(good[: len(good) // 3])
    with pytest.raises(
        ResumeError, match=r"traces.nc: not a readable netCDF4 trace file .*iterations 0-3 are lost"
    ):
        resume_point(out, cfg)
    (out / "traces.nc").unlink()
    with pytest.raises(ResumeError) as err:
        resume_point(out, cfg)
    assert "traces.nc is missing, but checkpoints reach iteration 3" in str(err.value)
    assert f"remove {out} and rerun" in str(err.value)


def test_lost_metrics_rows_stop_too(root):
    cfg = _cfg(root)
    out = _run_folder(root, cfg, logged=1)
    with pytest.raises(
        ResumeError, match=r"metrics.csv lacks iterations 1, which even the oldest checkpoint"
    ):
        resume_point(out, cfg)
