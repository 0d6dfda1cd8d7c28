"""Helpers: run the Snakemake workflow from a private copy, so tests never touch the repository's results/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "profiles", "paper/manuscript.md", "data/authors-logs")
PRESETS = ("smoke", "quick", "full", "smollm2", "gpu", "horizons")
VENV_BIN = Path(sys.executable).parent  # snakemake and hiper-repro live beside the test interpreter


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow files (not results) into `dest` and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    return dest


def snakemake(
    workdir: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in `workdir`, offline, with `env` added to the environment; output captured."""
    env = {**os.environ, **(env or {})}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
    )
    return subprocess.run(
        [str(VENV_BIN / "snakemake"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """Parse the first 'Job stats' table of a Snakemake run into {rule: count} (without 'total')."""
    match = re.search(r"Job stats:\njob\s+count\n[- ]+\n(.*?)\ntotal\s+(\d+)", output, re.S)
    if match is None:
        raise AssertionError(f"no 'Job stats' table in snakemake output:\n{output[-3000:]}")
    counts = {}
    for line in match.group(1).splitlines():
        name, count = line.split()
        counts[name] = int(count)
    assert sum(counts.values()) == int(match.group(2)), "job table does not add up to its total"
    return counts


def load_preset(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / "presets" / f"{name}.yaml").read_text())
