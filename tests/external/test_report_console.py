"""analyse-verl's console: each verdict printed beside its estimate and CI, or the reason it is undecided."""

from hiper_repro.external.report import PUBLISHED_CLAIMS, verdict_line
from hiper_repro.stats.claims import claim, undecided


def test_verdict_line_shows_the_estimate_and_ci():
    row = {"claim": "higher_final_success"} | claim(
        "higher_final_success", 0.188, 0.12, 0.25, null=0.0, better="above", measure="HiPER minus PPO"
    )
    assert verdict_line(row) == (
        f"claim higher_final_success: {row['verdict']}, estimate 0.188 [0.120, 0.250] (HiPER minus PPO)"
    )
    row = {"claim": "hae_lower_variance"} | undecided("hae_lower_variance", "no variances in the logs")
    assert verdict_line(row) == f"claim hae_lower_variance: {row['verdict']}; no variances in the logs"


def test_published_claim_in_the_estimates_unit():
    """The claims table puts the published figure beside the logs' estimate, a fraction of episodes."""
    assert "%" not in PUBLISHED_CLAIMS["higher_final_success"]
    assert "0.953" in PUBLISHED_CLAIMS["higher_final_success"]
