"""Fixtures for the figure tests: the statistics tables of the shared synthetic merged tree."""

import pandas as pd
import pytest

from hiper_repro.stats.report import Options, compute


@pytest.fixture(scope="session")
def stats(merged) -> dict[str, pd.DataFrame]:
    tables, _ = compute(merged, Options(reps=100, variance_reps=50, threshold=0.5))
    return tables
