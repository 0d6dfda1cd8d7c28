"""Verdicts on the paper's claims at our scale, each decided by one confidence interval.

A claim is a signed effect whose CI decides it (``null`` is the no-effect value, 0 for differences and 1
for ratios; ``better`` says which side supports the claim)::

    supported       the CI lies entirely on the claim's side of null
    not supported   the CI lies entirely on the other side
    inconclusive    the CI contains null (or the data cannot decide: too few runs, no such method)

Claims (keys of :data:`CLAIMS`): ``higher_final_success``, ``larger_gains_at_longer_horizons``,
``sample_efficiency``, ``switching_settles``, ``hae_lower_variance``. :func:`verdict` applies the rule;
the statistics come from :mod:`hiper_repro.stats.report`.
"""

from __future__ import annotations

import math

CLAIMS: dict[str, str] = {
    "higher_final_success": "HiPER reaches a higher final success rate than every baseline.",
    "larger_gains_at_longer_horizons": "HiPER's gain over the strongest baseline grows with the task horizon.",
    "sample_efficiency": "HiPER reaches the success threshold in fewer iterations (paper: about 2.5x).",
    "switching_settles": "Switching is frequent early in training and settles later.",
    "hae_lower_variance": "HAE's low-level advantages have lower variance than flat GAE on the same turns.",
}


def verdict(ci_low: float, ci_high: float, null: float = 0.0, better: str = "above") -> str:
    """``"supported"``, ``"not supported"`` or ``"inconclusive"`` for a CI against its null value."""
    if better not in ("above", "below"):
        raise ValueError(f"better must be 'above' or 'below', saw {better!r}")
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > ci_high:
        raise ValueError(f"ci_low must not exceed ci_high, saw {ci_low} > {ci_high}")
    above, below = ci_low > null, ci_high < null
    if not (above or below):
        return "inconclusive"
    return "supported" if above == (better == "above") else "not supported"


def claim(
    name: str, estimate: float, ci_low: float, ci_high: float, *, null: float, better: str, **details: object
) -> dict[str, object]:
    """One claim entry of ``numbers.json``: statement, deciding estimate and CI, verdict, details."""
    if name not in CLAIMS:
        raise ValueError(f"unknown claim {name!r}; known: {sorted(CLAIMS)}")
    return {
        "statement": CLAIMS[name],
        "verdict": verdict(ci_low, ci_high, null, better),
        "estimate": estimate,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "null": null,
        **details,
    }


def undecided(name: str, reason: str) -> dict[str, object]:
    """A claim the data cannot address (a method or a second horizon is missing), with the reason."""
    nan = float("nan")
    return claim(name, nan, nan, nan, null=nan, better="above", reason=reason)
