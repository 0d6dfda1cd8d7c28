"""Synthetic traces: valid, reproducible, and shaped like real training (for stats and figure tests)."""

import numpy as np
import pytest
import xarray as xr
from xarray.testing import assert_identical

from hiper_repro.traces.synthetic import (
    CREDIT,
    METHODS,
    success_probability,
    synthetic_merged,
    synthetic_writer,
)
from hiper_repro.traces.validate import schema_problems
from hiper_repro.train.config import MethodConfig


@pytest.fixture(scope="module")
def merged():
    return synthetic_merged(methods=("hiper", "ppo", "grpo"), horizons=(1, 3), seeds=(0, 1, 2), iterations=8)


def test_merged_is_valid_and_has_the_run_dims(merged):
    assert schema_problems(merged) == []
    assert list(merged["method_name"].values) == ["grpo", "hiper", "ppo"]
    assert list(merged["horizon"].values) == [1, 3] and list(merged["seed"].values) == [0, 1, 2]
    assert merged["turns"]["reward"].dims[:4] == ("method_name", "env", "horizon", "seed")


def test_same_arguments_same_data():
    a = synthetic_writer("hiper", 2, 0, iterations=3, episodes=4).tree()
    b = synthetic_writer("hiper", 2, 0, iterations=3, episodes=4).tree()
    c = synthetic_writer("hiper", 2, 1, iterations=3, episodes=4).tree()
    assert_identical(a, b)
    assert not c["episodes"].to_dataset().identical(a["episodes"].to_dataset())


def test_selecting_a_method_by_keyword_selects_it_and_nothing_else(merged):
    # The dim was named `method`, so `.sel(method="hiper")` went to xarray's fill-method argument and
    # returned every method; `method_name` is an ordinary indexer.
    assert "method" not in merged.dims and "method" not in merged["turns"].dims
    adv = merged["turns"]["adv_low"].sel(method_name="hiper")
    assert "method_name" not in adv.dims and adv["method_name"].item() == "hiper"
    assert adv.shape == merged["turns"]["adv_low"].shape[1:]
    both = merged["turns"].to_dataset().sel(method_name=["hiper", "ppo"], horizon=3)
    assert list(both["method_name"].values) == ["hiper", "ppo"]
    xr.testing.assert_identical(
        adv, merged["turns"]["adv_low"].isel(method_name=list(merged["method_name"].values).index("hiper"))
    )


def test_hierarchical_methods_have_every_quantity_flat_ones_do_not(merged):
    turns = merged["turns"].to_dataset().isel(env=0)
    mask = turns["mask"]
    hiper, ppo, grpo = (turns.sel(method_name=m) for m in ("hiper", "ppo", "grpo"))
    real = mask.sel(method_name="hiper")
    for name in ("value_low", "value_high", "value_term", "adv_low", "adv_switch", "adv_flat", "adv_action"):
        assert hiper[name].where(real).notnull().sum() == real.sum(), name
    # ppo (flat GAE): critic quantities only.
    real_ppo = mask.sel(method_name="ppo")
    assert ppo["value_low"].where(real_ppo).notnull().sum() == real_ppo.sum()
    assert ppo["adv_flat"].where(real_ppo).notnull().sum() == real_ppo.sum()
    for name in ("value_high", "value_term", "adv_low", "adv_high", "adv_switch"):
        assert ppo[name].isnull().all(), name
    assert not ppo["switch"].any() and (ppo["segment_id"] == -1).all()
    # grpo: no critic at all, but action advantages.
    assert grpo["value_low"].isnull().all() and grpo["adv_flat"].isnull().all()
    assert (
        grpo["adv_action"].where(mask.sel(method_name="grpo")).notnull().sum()
        == mask.sel(method_name="grpo").sum()
    )
    segments = merged["segments"].to_dataset()
    assert (segments["start_turn"].sel(method_name="hiper") >= 0).any()
    assert (segments["start_turn"].sel({"method_name": ["ppo", "grpo"]}) == -1).all()


def test_advantages_follow_the_recursions(merged):
    # gamma = lam = 1 and a terminal bootstrap of 0: flat GAE equals reward-to-go minus V (Sutton & Barto).
    t = merged["turns"].to_dataset().sel(method_name="ppo")
    np.testing.assert_allclose(t["adv_flat"], t["returns"] - t["value_low"], atol=1e-5)
    h = merged["turns"].to_dataset().sel(method_name="hiper")
    np.testing.assert_allclose(h["ret_low"], h["adv_low"] + h["value_low"], atol=1e-5)
    # adv_high on a turn is the adv_high of the segment starting there, and only there.
    assert (h["adv_high"].notnull() == h["switch"]).all()


def test_estimator_parameters_are_the_trainers_defaults():
    defaults = MethodConfig()
    assert {name: getattr(defaults, name) for name in CREDIT} == CREDIT


def test_segments_tile_each_episode(merged):
    seg = merged["segments"].to_dataset().sel(method_name="hiper")
    ep = merged["episodes"].to_dataset().sel(method_name="hiper")
    turns = merged["turns"].to_dataset().sel(method_name="hiper")
    np.testing.assert_array_equal(seg["length"].sum("segment"), ep["length"].fillna(0))
    np.testing.assert_array_equal((seg["start_turn"] >= 0).sum("segment"), turns["switch"].sum("turn"))
    assert (turns["switch"].isel(turn=0) == (ep["task_id"] != "")).all()


def test_success_grows_and_depends_on_method_and_horizon(merged):
    success = merged["episodes"]["success"].mean(["env", "seed", "episode"])
    first, last = (
        success.isel(iteration=slice(0, 2)).mean("iteration"),
        success.isel(iteration=slice(-3, None)).mean("iteration"),
    )
    assert (last > first).all()
    assert last.sel({"method_name": "hiper", "horizon": 3}) > last.sel({"method_name": "ppo", "horizon": 3})
    assert last.sel({"method_name": "ppo", "horizon": 1}) > last.sel({"method_name": "ppo", "horizon": 3})
    curve = success_probability("hiper", 3, np.arange(8), 8)
    assert (np.diff(curve) > 0).all() and success_probability("hiper", 3, 7, 8) > success_probability(
        "ppo", 3, 7, 8
    )


def test_evaluation_every_two_iterations_on_a_fixed_split(merged):
    ev = merged["evaluation"].to_dataset()
    # labelled by the updates completed: 0 the starting policy, then after iterations 0, 2, 4, 6 and 7
    assert list(ev["eval_iteration"].values) == [0, 1, 3, 5, 7, 8]
    start = ev["success"].sel(eval_iteration=0)
    assert (start == start.isel(seed=0)).all()  # same warm start and noise for every seed
    ids = ev["task_id"].values.reshape(-1, ev.sizes["eval_episode"])
    by_horizon = ev["task_id"].sel(horizon=3).values.reshape(-1, ev.sizes["eval_episode"])
    assert (by_horizon == by_horizon[0]).all() and ids.shape[0] > 1
    assert ev["switch_rate"].sel(method_name="ppo").isnull().all()
    assert ev["switch_rate"].sel(method_name="hiper").notnull().all()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown synthetic method 'sac'"):
        synthetic_writer("sac", 1, 0)
    with pytest.raises(ValueError, match="episodes must be"):
        synthetic_writer("hiper", 1, 0, episodes=0)
    with pytest.raises(ValueError, match="multiple of the group size 4"):
        synthetic_writer("grpo", 1, 0, episodes=6)
    assert set(METHODS) >= {"hiper", "ppo", "grpo", "rloo", "gigpo"}


def test_every_registered_method_has_synthetic_traces():
    """Base methods have traits of their own; a variant behaves as its base (its own random draws)."""
    from hiper_repro import methods_registry

    for spec in methods_registry.specs():
        assert spec.base in METHODS, spec.name
        np.testing.assert_array_equal(
            success_probability(spec.name, 2, np.arange(5), 10),
            success_probability(spec.base, 2, np.arange(5), 10),
        )
    tree = synthetic_writer("hgigpo", 1, 0, iterations=2, episodes=8).tree()
    assert not schema_problems(tree)
    adv = tree["turns"]["adv_action"].values
    within = np.nanstd(adv, axis=-1)  # step-level anchors: advantages vary within an episode
    assert np.nanmax(within) > 0
