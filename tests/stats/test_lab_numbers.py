"""The lab's numbers: paired HAE / flat GAE variance ratios and their trend with K."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hiper_repro.stats.lab import crossover_points, horizon_trend, lab_crossover, lab_ratios


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


def _sweep(ratio_by_level: dict[int, list[float]], ev_levels=(0.3, 0.1, -0.1)) -> xr.Dataset:
    """A hand-made critic-quality sweep: GAE's error 1 at every level (bias 0, variance = batch), HAE's
    error the given ratio per K and level (all bias), the same in both replicates; measured EV per level."""
    ks = sorted(ratio_by_level)
    n_c, reps = len(ev_levels), 2
    bias = np.zeros((2, len(ks), 1, n_c, reps))
    var = np.zeros_like(bias)
    var[0] = 24.0  # gae: 24 / 24 = 1
    for i, k in enumerate(ks):
        bias[1, i, 0] = np.asarray(ratio_by_level[k])[:, None]
    ev = np.broadcast_to(np.asarray(ev_levels)[None, :, None, None], (len(ks), n_c, reps, 3)).copy()
    dims = ("sweep_estimator", "K", "lam_boundary", "critic_ev", "replicate")
    coords = {"sweep_estimator": ["gae", "hae"], "K": ks, "lam_boundary": [0.0], "critic_ev": [1.0, 0.8, 0.6][:n_c],
              "replicate": np.arange(reps), "head": ["low", "high", "flat"]}  # fmt: skip
    return xr.Dataset(
        {
            "sweep_bias_sq": (dims, bias),
            "sweep_variance": (dims, var),
            "sweep_explained_variance": (("K", "critic_ev", "replicate", "head"), ev),
        },
        coords=coords,
    )


def test_crossover_interpolates_the_log_ratio_in_explained_variance():
    """K=1: ratio 0.5 at EV 0.3, 2 at EV 0.1 -> log ratio 0 halfway: EV 0.2. K=2 never crosses, K=3 is
    worse from the start, K=4 better only with a poorer critic."""
    table = lab_crossover(
        _sweep({1: [0.5, 2.0, 4.0], 2: [0.2, 0.5, 0.9], 3: [1.5, 2.0, 3.0], 4: [2.0, 0.5, 0.5]})
    )
    row = table[(table["K"] == 1) & (table["critic_ev"] == 0.8)].iloc[0]
    assert row["ratio"] == pytest.approx(2.0) and row["explained_variance"] == pytest.approx(0.1)
    assert row["error_gae"] == pytest.approx(1.0) and row["batch"] == 24
    points = crossover_points(table).set_index("K")
    assert points.loc[1, "status"] == "crosses" and points.loc[1, "crossover_ev"] == pytest.approx(0.2)
    assert points.loc[2, "status"] == "hae_better_throughout" and np.isnan(points.loc[2, "crossover_ev"])
    assert points.loc[3, "status"] == "gae_better_throughout"
    assert points.loc[4, "status"] == "reversed" and points.loc[4, "crossover_ev"] == pytest.approx(0.2)
    assert (points.loc[1, "ev_low"], points.loc[1, "ev_high"]) == pytest.approx((-0.1, 0.3))


def test_crossover_error_counts_the_batch():
    """HAE all bias (1 = GAE's error at batch 24); at batch 12 GAE's error doubles and HAE's ratio halves."""
    ds = _sweep({1: [1.0, 1.0, 1.0]})
    assert lab_crossover(ds, batch=12)["ratio"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="no critic-quality sweep"):
        lab_crossover(ds.drop_vars("sweep_bias_sq"))
    with pytest.raises(ValueError, match="head"):
        lab_crossover(ds, head="term")
