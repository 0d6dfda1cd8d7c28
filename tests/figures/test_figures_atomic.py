"""`figures` replaces its folders whole: a failed run leaves the previous figures and tables as they
were, and a folder holding other files is refused, never emptied."""

import pytest

from hiper_repro.cli import main
from hiper_repro.figures import cli
from hiper_repro.io import write_atomic
from hiper_repro.traces.store import write_tree


@pytest.fixture
def inputs(merged, stats, tmp_path):
    write_tree(merged, tmp_path / "merged.nc")
    for name, df in stats.items():
        write_atomic(tmp_path / "stats" / f"{name}.csv", df.to_csv(index=False))
    return tmp_path


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_failure_midway_leaves_the_old_folders(inputs, monkeypatch):
    argv = ["--merged", str(inputs / "merged.nc"), "--stats", str(inputs / "stats"), "--out", str(inputs / "fig"),
            "--tables", str(inputs / "tab")]  # fmt: skip
    assert cli.main(argv) == 0
    figs, tabs = _files(inputs / "fig"), _files(inputs / "tab")
    real, calls = cli.save_figure, []

    def failing(fig, out_dir, name):
        calls.append(name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(fig, out_dir, name)

    monkeypatch.setattr(cli, "save_figure", failing)
    with pytest.raises(OSError, match="the disk filled"):
        cli.main(argv)
    assert _files(inputs / "fig") == figs and _files(inputs / "tab") == tabs
    assert sorted(p.name for p in inputs.iterdir()) == ["fig", "merged.nc", "stats", "tab"]


def test_a_folder_holding_other_files_is_refused(inputs, capsys):
    (inputs / "fig").mkdir()
    (inputs / "fig" / "draft.docx").write_text("mine")
    argv = ["figures", "--merged", str(inputs / "merged.nc"), "--stats", str(inputs / "stats"),
            "--out", str(inputs / "fig")]  # fmt: skip
    assert main(argv) == 2
    assert "holds draft.docx, which this command does not write" in capsys.readouterr().err
    assert (inputs / "fig" / "draft.docx").read_text() == "mine"
