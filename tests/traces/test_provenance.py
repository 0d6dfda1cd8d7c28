"""make_provenance: every root attr, stable config hash, clear errors."""

import datetime as dt
import json
from pathlib import Path

import pytest

from hiper_repro.traces.provenance import canonical_json, config_hash, make_provenance
from hiper_repro.traces.schema import ROOT_ATTRS


def prov(**kw):
    args = dict(
        config={"b": 1, "a": [1, 2]},
        method="hiper",
        env="shop",
        horizon=3,
        seed=1,
        model_id="tiny",
        device="cpu",
    )
    return make_provenance(**(args | kw))


def test_has_every_root_attr_but_keep_every():
    attrs = prov()
    assert set(attrs) == set(ROOT_ATTRS) - {"keep_every"}
    assert attrs["method_name"] == "hiper" and attrs["horizon"] == 3 and attrs["seed"] == 1
    assert dt.datetime.fromisoformat(attrs["created"]).utcoffset() == dt.timedelta(0)
    assert json.loads(attrs["library_versions"])["xarray"]
    assert json.loads(attrs["config"]) == {"a": [1, 2], "b": 1}
    assert attrs["git_commit"]


def test_config_hash_ignores_key_order_and_sees_values():
    assert prov(config={"a": 1, "b": 2})["config_hash"] == prov(config={"b": 2, "a": 1})["config_hash"]
    assert prov(config={"a": 1})["config_hash"] != prov(config={"a": 2})["config_hash"]
    assert config_hash(canonical_json({"x": 1})) == config_hash('{"x":1}')
    assert json.loads(canonical_json({"p": Path("/tmp/x")})) == {"p": "/tmp/x"}


def test_created_can_be_fixed():
    assert prov(created="2026-01-01T00:00:00+00:00")["created"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"config": {"f": object()}}, "not JSON-serialisable"),
        ({"config": [1]}, "expected a dict"),
        ({"method": ""}, "method must be a non-empty string"),
        ({"horizon": 0}, "need horizon >= 1"),
        ({"seed": 1.0}, "seed must be an int"),
    ],
)
def test_bad_arguments(kw, message):
    with pytest.raises(ValueError, match=message):
        prov(**kw)


def _git(cwd, *args):
    import subprocess

    command = ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_git_commit_read_from_the_repository_files(tmp_path, monkeypatch):
    """The commit comes from HEAD and the refs (loose, packed, a worktree's, detached), so it is recorded
    where git itself refuses the checkout or is missing; 'unknown' only outside a checkout."""
    import shutil

    from hiper_repro.traces.provenance import git_commit, read_head

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.txt").write_text("a")
    _git(repo, "add", "f.txt")
    _git(repo, "commit", "-qm", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert read_head(repo) == head
    git_commit.cache_clear()
    assert git_commit(repo / "f.txt") == head
    (repo / "f.txt").write_text("b")
    git_commit.cache_clear()
    assert git_commit(repo) == f"{head}-dirty"
    _git(repo, "pack-refs", "--all")
    assert read_head(repo) == head and not list((repo / ".git" / "refs" / "heads").iterdir())
    _git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "side")
    assert read_head(tmp_path / "wt") == head
    _git(repo, "checkout", "-q", "--detach")
    assert read_head(repo) == head
    monkeypatch.setenv("PATH", "")  # no git binary: the commit still, its state unchecked
    git_commit.cache_clear()
    assert git_commit(repo) == f"{head}-unchecked"
    git_commit.cache_clear()
    assert git_commit(tmp_path / "elsewhere") == "unknown"
    git_commit.cache_clear()
