"""Thread counts are decided before numpy and torch load: --threads, then OMP_NUM_THREADS, then the idle
cores per process of a launch; the Snakemake rules pass their job's threads; the benchmark runs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hiper_repro.cli import split_global_options
from hiper_repro.threads import resolve_threads

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("explicit", "environ", "cores", "busy", "expected"),
    [
        pytest.param(3, {"OMP_NUM_THREADS": "1"}, 2, 0, 3, id="explicit-wins"),
        pytest.param(8, {"LOCAL_WORLD_SIZE": "4"}, 16, 0, 2, id="explicit-over-processes"),
        pytest.param(1, {"LOCAL_WORLD_SIZE": "4"}, 16, 0, 1, id="at-least-one"),
        pytest.param(None, {"OMP_NUM_THREADS": "2"}, 16, 9, 2, id="environment"),
        pytest.param(None, {}, 2, 0, 2, id="quiet-machine"),
        pytest.param(None, {}, 2, 1, 1, id="one-core-busy"),
        pytest.param(None, {}, 2, 5, 1, id="overloaded"),
        pytest.param(None, {"LOCAL_WORLD_SIZE": "2"}, 16, 2, 7, id="launch-shares-idle-cores"),
    ],
)
def test_resolution_order(explicit, environ, cores, busy, expected):
    assert resolve_threads(explicit, environ, cores, busy)[0] == expected


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="--threads must be >= 1"):
        resolve_threads(0, {}, 2, 0)
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='many'"):
        resolve_threads(None, {"OMP_NUM_THREADS": "many"}, 2, 0)


def test_global_options_stand_anywhere():
    assert split_global_options(["train", "--config", "c.yaml", "--threads", "2", "--debug"]) == (
        2,
        True,
        ["train", "--config", "c.yaml"],
    )
    assert split_global_options(["--threads=4", "stats"]) == (4, False, ["stats"])
    with pytest.raises(ValueError, match="--threads expects a whole number"):
        split_global_options(["stats", "--threads", "x"])


def test_the_count_is_set_before_torch_loads():
    """A command that imports torch gets the count given, not torch's default of one thread per core
    (torch reads OMP_NUM_THREADS once, when it loads, and never goes above the core count)."""
    script = (
        "import sys\n"
        "from hiper_repro import cli\n"
        "assert 'numpy' not in sys.modules and 'torch' not in sys.modules, 'cli must import nothing heavy'\n"
        "try:\n"
        "    cli.main(['--threads', '1', 'bench', 'credit', '--batch', '0'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "import os, torch\n"
        "print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'], torch.get_num_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "1"]


def test_every_rule_passes_its_threads():
    for rules in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for command in re.findall(r'"(\{params\.launcher\}|hiper-repro) ([\w-]+)([^"]*)"', rules.read_text()):
            assert command[2].startswith(" --threads {threads} "), f"{rules.name}: {command[:2]}"


def test_bench_threads_reports_each_setting(tmp_path, capsys):
    from hiper_repro.threads_bench import main

    out = tmp_path / "threads.json"
    assert main(["--batch", "64", "--horizon", "8", "--repeat", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["threads"]["one"] == 1 and result["threads"]["per-core"] == result["cores"]
    assert 1 <= result["threads"]["default"] <= result["cores"]
    assert (
        set(result["ratio_to_one"]) == {"one", "default", "per-core"} and result["ratio_to_one"]["one"] == 1
    )
    assert "ratio to one" in capsys.readouterr().out
