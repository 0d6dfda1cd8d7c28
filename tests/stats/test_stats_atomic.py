"""`stats` replaces its folder whole: a killed or failed run leaves the old folder as it was, never new
CSVs beside an old numbers.json (the QA's case: SIGKILL while it replaced its CSVs left 4-7 new ones)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from hiper_repro.cli import main
from hiper_repro.stats import cli
from hiper_repro.stats.report import Options
from hiper_repro.traces.store import write_tree

OLD, NEW = Options(reps=20, variance_reps=10, seed=0), Options(reps=20, variance_reps=10, seed=1)


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def old(merged, tmp_path):
    """A finished stats folder, and its files' digests."""
    out = tmp_path / "stats"
    cli.run(merged, out, OLD)
    return out, digest(out)


def test_an_error_while_writing_leaves_the_old_folder(merged, old, monkeypatch):
    out, before = old
    calls = []
    real = pd.DataFrame.to_csv

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as a kill would stop it, after three new tables
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(KeyboardInterrupt):
        cli.run(merged, out, NEW)
    assert digest(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["stats"]  # the temporary folder is gone


def test_sigkill_while_writing_leaves_the_old_or_the_new_folder(merged, old, tmp_path):
    out, before = old
    merged_file = tmp_path / "merged.nc"
    write_tree(merged, merged_file)
    marker = tmp_path / "writing"
    script = textwrap.dedent(f"""
        import time
        import pandas as pd
        from hiper_repro.stats import cli
        from hiper_repro.stats.report import Options
        from hiper_repro.traces.merge import open_merged
        real, calls = pd.DataFrame.to_csv, []
        def slow(self, *a, **k):
            calls.append(1)
            if len(calls) == 4:
                open({str(marker)!r}, "w").close()
                time.sleep(60)
            return real(self, *a, **k)
        pd.DataFrame.to_csv = slow
        cli.run(open_merged({str(merged_file)!r}), cli.Path({str(out)!r}), Options(reps=20, variance_reps=10, seed=1))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script],
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    try:
        deadline = time.time() + 300
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the stats process never reached its fourth table"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert digest(out) == before  # no new CSV beside the old numbers.json


def test_a_folder_holding_other_files_is_not_replaced(merged, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    merged_file = tmp_path / "merged.nc"
    write_tree(merged, merged_file)
    argv = ["stats", "--merged", str(merged_file), "--out", str(out), "--reps", "20", "--variance-reps", "10"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out} holds notes.txt, which this command does not write" in err
    assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1
