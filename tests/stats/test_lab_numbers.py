"""The lab's numbers: paired HAE / flat GAE variance ratios and their trend with K."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hiper_repro.stats.lab import horizon_trend, lab_ratios


def _lab(hae: np.ndarray) -> xr.Dataset:
    """variance (estimator, K, lam, gamma, critic_noise, replicate): gae 1 everywhere, hae as given (K, rep)."""
    k, reps = hae.shape
    v = np.ones((2, k, 1, 2, 2, reps))
    v[1, :, 0, 1, 0] = hae  # gamma 1 and noise 0: the cell the summary reads
    v[1, :, 0, 0, :] = 9.0  # every other cell would give another answer
    v[1, :, 0, 1, 1] = 9.0
    coords = {"estimator": ["gae", "hae"], "K": np.arange(1, k + 1), "lam": [1.0], "gamma": [0.9, 1.0],
              "critic_noise": [0.0, 0.1], "replicate": np.arange(reps)}  # fmt: skip
    return xr.Dataset({"variance": (tuple(coords), v)}, coords=coords)


def test_ratios_are_paired_quantiles_at_the_unbiased_cell():
    hae = np.array([[0.2, 0.3, 0.4, 0.5], [0.6, 0.7, 0.8, 0.9]])
    r = lab_ratios(_lab(hae))
    first = r[r["K"] == 1].iloc[0]
    assert first["median"] == pytest.approx(0.35) and first["q25"] == pytest.approx(0.275)
    assert (first["gamma"], first["critic_noise"], first["n"]) == (1.0, 0.0, 4)
    with pytest.raises(ValueError, match="estimator 'hae_code'"):
        lab_ratios(_lab(hae), numerator="hae_code")


@pytest.mark.parametrize(
    ("last", "direction"),
    [((0.6, 0.7, 0.8), "rises"), ((0.1, 0.15, 0.2), "falls"), ((0.35, 0.4, 0.5), "level")],
    ids=["rises", "falls", "overlap"],
)
def test_trend_needs_interquartile_ranges_apart(last, direction):
    ratios = pd.DataFrame(
        [{"lam": 1.0, "K": 1, "q25": 0.3, "median": 0.35, "q75": 0.4},
         {"lam": 1.0, "K": 4, "q25": last[0], "median": last[1], "q75": last[2]}]
    )  # fmt: skip
    t = horizon_trend(ratios, 1.0)
    assert t["direction"] == direction and (t["k_first"], t["k_last"]) == (1, 4)
    assert t["first"] == 0.35 and t["last"] == last[1]
