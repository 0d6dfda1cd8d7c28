"""Shared fixtures for the trace tests: small synthetic runs, written to disk once per session."""

import pytest

from hiper_repro.traces.synthetic import synthetic_runs

CREATED = "2026-01-01T00:00:00+00:00"


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory):
    """hiper at horizons 1 and 2, ppo at horizon 1 (seed 0, 3 iterations): three run folders on disk."""
    out = tmp_path_factory.mktemp("runs")
    dirs = synthetic_runs(out, methods=("hiper",), horizons=(1, 2), seeds=(0,), iterations=3, episodes=4)
    dirs += synthetic_runs(out, methods=("ppo",), horizons=(1,), seeds=(0,), iterations=3, episodes=4)
    return dirs
