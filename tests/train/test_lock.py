"""One process per run folder: a second training into a held folder stops at once, naming the folder and
the holder's process id; a lock left by a killed process is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from hiper_repro.cli import main
from hiper_repro.train.lock import LOCK_FILE, RunFolderInUse, run_lock

from .conftest import tiny_config

HOLD = textwrap.dedent("""
    import sys, time
    from hiper_repro.train.lock import run_lock
    with run_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path/run; killed (SIGKILL) at the end if still alive."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_held_folder_is_refused_naming_it_and_the_holder(holder):
    out, proc = holder
    message = rf"{out} is in use by .* \(process {proc.pid}, see .*\.lock\)"
    with pytest.raises(RunFolderInUse, match=message), run_lock(out):
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(holder):
    out, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / LOCK_FILE).read_text().strip() == str(proc.pid)  # the killed holder's pid is still there
    with run_lock(out) as stale:
        assert stale == str(proc.pid)
        assert (out / LOCK_FILE).read_text().strip() == str(os.getpid())
    with run_lock(out) as stale:  # released cleanly: nothing stale
        assert stale is None


def test_one_process_holds_it_at_a_time(tmp_path):
    with run_lock(tmp_path / "r") as stale:
        assert stale is None
        with pytest.raises(RunFolderInUse, match=f"process {os.getpid()}"), run_lock(tmp_path / "r"):
            pass


def test_a_second_train_into_the_folder_stops_at_once(holder, tiny_models, tmp_path, capsys):
    """The QA's case: two `train --out R` a second apart mixed seed 0's traces with seed 1's config."""
    out, proc = holder
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_models).to_dict()))
    assert main(["train", "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out} is in use" in err and f"process {proc.pid}" in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written beside the holder's lock
