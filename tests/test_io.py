"""hiper_repro.io: atomic writes and the results lookup shared by notebooks and commands."""

import os

import pytest

from hiper_repro.io import atomic_dir, atomic_target, find_results, write_atomic


def test_write_atomic_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "deep" / "file.txt"
    write_atomic(target, "first")
    write_atomic(target, b"second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["file.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_target(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["file.txt"]


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path):
    target = tmp_path / "deep" / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists()  # nothing visible until the block succeeds
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(os.listdir(target)) == ["b.txt"]
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("half")
        raise RuntimeError("killed")
    assert sorted(os.listdir(target)) == ["b.txt"] and os.listdir(target.parent) == ["model"]


def test_atomic_dir_without_replace_keeps_what_another_writer_finished(tmp_path):
    target = tmp_path / "game"
    with atomic_dir(target, replace=False) as tmp:
        (tmp / "mine.z8").write_text("mine")
        target.mkdir()
        (target / "theirs.z8").write_text("theirs")
    assert os.listdir(target) == ["theirs.z8"] and os.listdir(tmp_path) == ["game"]


def test_find_results_from_env_and_from_repo_root(tmp_path, monkeypatch):
    results = tmp_path / "elsewhere"
    (results / "merged").mkdir(parents=True)
    (results / "merged" / "traces.nc").write_bytes(b"")
    monkeypatch.setenv("HIPER_REPRO_RESULTS", str(results))
    assert find_results() == results.resolve()
    monkeypatch.delenv("HIPER_REPRO_RESULTS")
    repo = tmp_path / "repo"
    (repo / "analysis").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    monkeypatch.chdir(repo / "analysis")
    monkeypatch.delenv("HIPER_REPRO_PRESET", raising=False)
    assert find_results(required=None) == (repo / "results" / "quick").resolve()
    with pytest.raises(FileNotFoundError, match="snakemake --cores 2 --config preset=quick"):
        find_results()


def test_find_results_of_a_preset(tmp_path, monkeypatch):
    """Each preset's outputs lie in results/{preset}: by argument, by $HIPER_REPRO_PRESET, else the preset
    a bare `snakemake` runs (config/config.yaml)."""
    monkeypatch.delenv("HIPER_REPRO_RESULTS", raising=False)
    monkeypatch.delenv("HIPER_REPRO_PRESET", raising=False)
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    (repo / "config" / "config.yaml").write_text("preset: full\n")
    monkeypatch.chdir(repo)
    assert find_results(required=None) == (repo / "results" / "full").resolve()
    assert find_results(required=None, preset="smoke") == (repo / "results" / "smoke").resolve()
    monkeypatch.setenv("HIPER_REPRO_PRESET", "gpu")
    assert find_results(required=None) == (repo / "results" / "gpu").resolve()
