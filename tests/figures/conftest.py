"""Fixtures for the figure tests: a small synthetic merged tree and its statistics tables."""

import pandas as pd
import pytest
import xarray as xr

from hiper_repro.stats.report import Options, compute
from hiper_repro.traces.merge import merge_runs
from hiper_repro.traces.synthetic import synthetic_writer


@pytest.fixture(scope="session")
def merged() -> xr.DataTree:
    """3 methods x 2 envs x 2 horizons x 3 seeds, 6 iterations."""
    trees = [
        synthetic_writer(m, h, s, env=e, iterations=6, episodes=8, eval_episodes=8).tree()
        for m in ("hiper", "ppo", "grpo")
        for e in ("household", "shop")
        for h in (1, 3)
        for s in (0, 1, 2)
    ]
    return merge_runs(trees)


@pytest.fixture(scope="session")
def stats(merged) -> dict[str, pd.DataFrame]:
    tables, _ = compute(merged, Options(reps=100, variance_reps=50, threshold=0.5))
    return tables
