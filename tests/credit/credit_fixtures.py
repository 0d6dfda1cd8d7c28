"""Fixtures and hypothesis strategies shared by the credit tests."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

VECTORS = pathlib.Path(__file__).resolve().parent / "data"

UNIT = st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.95, 1.0]), st.floats(0.0, 1.0))


@pytest.fixture(scope="session")
def worked_example() -> dict:
    """data/hae_worked_example.json: one 7-turn episode with expected outputs (docs/METHOD.md section 3)."""
    return json.loads((VECTORS / "hae_worked_example.json").read_text())


@st.composite
def padded_batches(draw, max_batch: int = 5, max_turns: int = 7) -> dict:
    """A random padded batch as numpy arrays (float64, NaN on padding) plus the estimator parameters."""
    batch = draw(st.integers(1, max_batch))
    turns = draw(st.integers(1, max_turns))
    lengths = np.array(draw(st.lists(st.integers(0, turns), min_size=batch, max_size=batch)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = np.arange(turns)[None, :] < lengths[:, None]
    last = np.arange(turns)[None, :] == (lengths - 1)[:, None]
    ended = rng.random(batch) < 0.5
    arrays = {name: rng.normal(size=(batch, turns)) for name in ("r", "vl", "vh", "vt", "vp", "beta")}
    arrays = {name: np.where(mask, x, np.nan) for name, x in arrays.items()}
    return {
        **arrays,
        "mask": mask,
        "switch": rng.random((batch, turns)) < draw(st.sampled_from([0.0, 0.3, 1.0])),
        "terminated": last & ended[:, None] & mask,
        "lengths": lengths,
        "boot_low": rng.normal(size=batch) if draw(st.booleans()) else None,
        "boot_high": rng.normal(size=batch) if draw(st.booleans()) else None,
        "gamma": draw(UNIT),
        "lam_low": draw(UNIT),
        "lam_high": draw(UNIT),
    }


def as_torch(data: dict, dtype: torch.dtype = torch.float64) -> dict:
    """The numpy batch as tensors: float arrays in `dtype`, bool arrays as bool."""
    out = {}
    for name, x in data.items():
        if isinstance(x, np.ndarray) and x.dtype == bool:
            out[name] = torch.from_numpy(x.copy())
        elif isinstance(x, np.ndarray):
            out[name] = torch.tensor(x, dtype=dtype)
        else:
            out[name] = x
    return out


def episode(data: dict, b: int, name: str) -> list:
    """Row b of array `name`, real turns only, as a Python list."""
    return data[name][b, : data["lengths"][b]].tolist()


def row_value(data: dict, name: str, b: int):
    """Per-row bootstrap value or None."""
    return None if data[name] is None else float(data[name][b])
