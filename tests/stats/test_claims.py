"""Claim verdicts from confidence intervals."""

import math

import pytest

from hiper_repro.stats.claims import CLAIMS, claim, undecided, verdict


@pytest.mark.parametrize(
    ("lo", "hi", "null", "better", "expected"),
    [
        (0.1, 0.3, 0.0, "above", "supported"),
        (-0.3, -0.1, 0.0, "above", "not supported"),
        (-0.1, 0.3, 0.0, "above", "inconclusive"),
        (0.4, 0.9, 1.0, "below", "supported"),
        (1.1, 1.5, 1.0, "below", "not supported"),
        (float("nan"), 1.0, 1.0, "below", "inconclusive"),
    ],
    ids=["above", "against", "straddles", "ratio-below", "ratio-against", "nan"],
)
def test_verdict(lo, hi, null, better, expected):
    assert verdict(lo, hi, null, better) == expected


def test_claim_entries():
    c = claim("hae_lower_variance", 0.5, 0.4, 0.6, null=1.0, better="below", measure="m")
    assert (
        c["verdict"] == "supported" and c["statement"] == CLAIMS["hae_lower_variance"] and c["measure"] == "m"
    )
    u = undecided("switching_settles", "no switches")
    assert u["verdict"] == "inconclusive" and math.isnan(u["ci_low"])
    with pytest.raises(ValueError, match="unknown claim"):
        claim("faster", 1, 0, 2, null=0, better="above")
    with pytest.raises(ValueError, match="better"):
        verdict(0, 1, better="left")


def test_claim_against_several_baselines_is_decided_by_the_least_favourable():
    from hiper_repro.stats.claims import least_favourable as _decide

    def r(lo, hi):
        return {"estimate": (lo + hi) / 2, "ci_low": lo, "ci_high": hi}

    name = "higher_final_success"
    all_better = _decide(name, {"ppo": r(0.1, 0.3), "grpo": r(0.05, 0.2)}, 0.0, "above")
    assert all_better["verdict"] == "supported" and all_better["deciding"] == "grpo"
    one_unclear = _decide(name, {"ppo": r(0.1, 0.3), "grpo": r(-0.05, 0.2)}, 0.0, "above")
    assert one_unclear["verdict"] == "inconclusive" and one_unclear["deciding"] == "grpo"
    one_worse = _decide(name, {"ppo": r(-0.3, -0.1), "grpo": r(-0.05, 0.2)}, 0.0, "above")
    assert one_worse["verdict"] == "not supported" and one_worse["deciding"] == "ppo"


class TestDegenerateIntervals:
    """An interval that excludes no effect without measuring anything decides nothing."""

    def test_zero_width_interval_is_inconclusive_whatever_its_side(self):
        c = claim(
            "higher_final_success", 0.25, 0.25, 0.25, null=0.0, better="above", n="n = 3 a and 3 b runs"
        )
        assert c["ci_verdict"] == "supported" and c["verdict"] == "inconclusive"
        assert "zero width" in c["reason"] and c["n"] == "n = 3 a and 3 b runs"
        wide = claim("higher_final_success", 0.25, 0.2, 0.3, null=0.0, better="above")
        assert wide["verdict"] == "supported" and wide["reason"] is None

    def test_blockers_make_a_claim_inconclusive_and_say_why(self):
        c = claim(
            "sample_efficiency",
            1.6,
            1.5,
            1.7,
            null=1.0,
            better="above",
            blockers=["runs were there at the start"],
        )
        assert c["verdict"] == "inconclusive" and c["ci_verdict"] == "supported"
        assert c["reason"] == "runs were there at the start"

    def test_efficiency_blockers_count_runs_at_the_start_and_censored_ones(self):
        from hiper_repro.stats.claims import efficiency_blockers

        ok = {
            "hiper": {"runs": 3, "reached": 3, "at_first": 0},
            "ppo": {"runs": 3, "reached": 2, "at_first": 0},
        }
        blockers, censored = efficiency_blockers(ok, 0.8, has_start=True)
        assert blockers == [] and "0 of 3 hiper, 1 of 3 ppo runs never reached 80%" in censored
        there = {
            "hiper": {"runs": 3, "reached": 3, "at_first": 3},
            "ppo": {"runs": 3, "reached": 2, "at_first": 0},
        }
        (blocker,), _ = efficiency_blockers(there, 0.8, has_start=True)
        assert "3 of 6 runs (3 hiper) were already at or above 80% at their first evaluation" in blocker
        assert "before the first update" in blocker
        censored_runs = {
            "hiper": {"runs": 3, "reached": 1, "at_first": 0},
            "ppo": {"runs": 3, "reached": 0, "at_first": 0},
        }
        (blocker,), _ = efficiency_blockers(censored_runs, 0.8, has_start=True)
        assert blocker.startswith("5 of 6 runs never reached 80%")


@pytest.fixture(scope="module")
def small_tree():
    from hiper_repro.traces.merge import merge_runs
    from hiper_repro.traces.synthetic import synthetic_writer

    trees = [
        synthetic_writer(m, h, s, iterations=4, episodes=8, eval_episodes=8).tree()
        for m in ("hiper", "ppo")
        for h in (1, 3)
        for s in (0, 1, 2)
    ]
    return merge_runs(trees)


def _decide(tree, threshold):
    from hiper_repro.stats.claims import decide
    from hiper_repro.stats.estimates import Options, estimate

    opts = Options(reps=50, curve_reps=20, variance_reps=20, threshold=threshold)
    return decide(estimate(tree, opts), threshold)


def test_already_above_the_threshold_at_the_start_is_inconclusive(small_tree):
    c = _decide(small_tree, threshold=0.0)["sample_efficiency"]  # every run is there before any update
    assert c["verdict"] == "inconclusive"
    assert (
        "12 of 12 runs (6 hiper, 6 ppo) were already at or above 0% at their first evaluation" in c["reason"]
    )
    assert c["n_at_first"] == {"hiper": 6, "ppo": 6} and c["n"].startswith("n = 6 hiper and 6 ppo runs")


def test_all_censored_is_inconclusive(small_tree):
    c = _decide(small_tree, threshold=1.01)["sample_efficiency"]  # no run can reach it
    assert c["verdict"] == "inconclusive" and "12 of 12 runs never reached 101%" in c["reason"]
    assert "zero width" in c["reason"]  # every run counted at the same budget
    assert "6 of 6 hiper, 6 of 6 ppo runs never reached 101%" in c["censored"]


def test_ties_are_inconclusive(small_tree):
    tree = small_tree.copy()
    ev = tree["evaluation"].to_dataset()
    tree["evaluation"] = ev.assign(success=ev["success"].where(ev["success"].isnull(), 1.0))
    verdicts = _decide(tree, threshold=0.8)
    c = verdicts["higher_final_success"]
    assert (c["estimate"], c["ci_low"], c["ci_high"]) == (0.0, 0.0, 0.0)
    assert c["verdict"] == "inconclusive" and "zero width" in c["reason"]
    assert "before any update the difference in evaluation success was already +0.000" in c["note"]
