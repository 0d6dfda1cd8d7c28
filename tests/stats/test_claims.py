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
