"""Pre-flight check of pretrained weights: a local checkpoint folder or a hub id in the local cache."""

from __future__ import annotations

import pytest

from hiper_repro.agent.weights import check_weights, missing_weights


@pytest.mark.parametrize("name", ["tiny-s", "smollm2-135m"])
def test_presets_name_no_weights(name):
    assert missing_weights(name) is None


def test_local_folder_needs_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "no model folder 'models/q'" in missing_weights("models/q")
    (tmp_path / "models" / "q").mkdir(parents=True)
    assert "without config.json" in missing_weights("models/q")
    (tmp_path / "models" / "q" / "config.json").write_text("{}")
    assert missing_weights("models/q") is None and missing_weights(str(tmp_path / "models" / "q")) is None


def test_hub_id_found_in_the_local_cache(tmp_path, monkeypatch):
    """The cache layout huggingface_hub writes: refs/main names the snapshot holding config.json."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert "no Hugging Face cache entry" in missing_weights("owner/model")
    repo = tmp_path / "models--owner--model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc")
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "config.json").write_text("{}")
    assert missing_weights("owner/model") is None


def test_error_names_the_key_and_the_guide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"model.name=w/q: no model folder .*docs/CLUSTER.md"):
        check_weights("w/q", key="model.name")
