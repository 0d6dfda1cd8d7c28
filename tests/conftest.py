"""Shared test setup: offline, deterministic, headless; the synthetic merged traces several folders use."""

import os

import pytest
import xarray as xr

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def merged() -> xr.DataTree:
    """Synthetic merged traces: 3 methods x 2 envs x 2 horizons x 3 seeds, 8 iterations of 12 episodes."""
    from hiper_repro.traces.merge import merge_runs
    from hiper_repro.traces.synthetic import synthetic_writer

    trees = [
        synthetic_writer(m, h, s, env=e, iterations=8, episodes=12, eval_episodes=12).tree()
        for m in ("hiper", "ppo", "grpo")
        for e in ("household", "shop")
        for h in (1, 3)
        for s in (0, 1, 2)
    ]
    return merge_runs(trees)
