"""Verdicts on the paper's claims at our scale, each decided by one confidence interval.

A claim is a signed effect whose CI decides it (``null`` is the no-effect value, 0 for differences and 1
for ratios; ``better`` says which side supports the claim)::

    supported       the CI lies entirely on the claim's side of null
    not supported   the CI lies entirely on the other side
    inconclusive    the CI contains null (or the data cannot decide: too few runs, no such method)

Claims (keys of :data:`CLAIMS`): ``higher_final_success``, ``larger_gains_at_longer_horizons``,
``sample_efficiency``, ``switching_settles``, ``hae_lower_variance``. :func:`verdict` applies the rule;
:func:`decide` applies it to the effects of :func:`hiper_repro.stats.estimates.estimate`. A claim made
against several baselines is decided by the least favourable comparison: the one whose CI lies on the
wrong side of null by the most, else the one whose CI comes closest to null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hiper_repro.stats.estimates import Estimates

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


def least_favourable(
    name: str, results: dict[str, dict[str, float]], null: float, better: str, **details: object
) -> dict[str, object]:
    """Claim decided by the least favourable of several comparisons (one per baseline); `deciding` names it."""
    ok = {b: r for b, r in results.items() if np.isfinite(r["ci_low"])}
    if not ok:
        return undecided(name, "no comparison could be computed")
    if better == "above":
        against = [b for b, r in ok.items() if r["ci_high"] < null]
        pick = (
            min(against, key=lambda b: ok[b]["ci_high"])
            if against
            else min(ok, key=lambda b: ok[b]["ci_low"])
        )
    else:
        against = [b for b, r in ok.items() if r["ci_low"] > null]
        pick = (
            max(against, key=lambda b: ok[b]["ci_low"])
            if against
            else max(ok, key=lambda b: ok[b]["ci_high"])
        )
    r = ok[pick]
    return claim(
        name, r["estimate"], r["ci_low"], r["ci_high"], null=null, better=better, deciding=pick, **details
    )


def _decided(name: str, effect: Mapping | None, why_not: str, **rule: object) -> dict[str, object]:
    """`claim` on an effect's estimate and CI (`rule`: null, better, details), or `undecided` with the reason
    `why_not` where the data gave no effect."""
    if effect is None:
        return undecided(name, why_not)
    estimate, ci_low, ci_high = (float(effect[k]) for k in ("estimate", "ci_low", "ci_high"))
    return claim(name, estimate, ci_low, ci_high, **rule)


def decide(est: Estimates, threshold: float) -> dict[str, dict[str, object]]:
    """Every claim's entry (see :func:`claim`) from a report's estimates; `threshold` is the success rate
    its sample efficiency was measured at."""
    ref, sp = est.reference, est.speedup
    unreached = est.reached["n_runs"] - est.reached["n_reached"]
    out = {
        "higher_final_success": least_favourable(
            "higher_final_success",
            est.final_difference,
            0.0,
            "above",
            measure="difference in mean final success, pooled over cells",
        ),
        "sample_efficiency": least_favourable(
            "sample_efficiency",
            sp,
            1.0,
            "above",
            threshold=threshold,
            measure="restricted mean iterations to threshold, baseline / reference",
            n_censored={m: int(unreached.sel({"method": m}).sum()) for m in [ref, *sp]},
            consistent_with_2_5x=bool(sp) and any(r["ci_low"] <= 2.5 <= r["ci_high"] for r in sp.values()),
        ),
    }
    gain = est.horizon_gain or {}  # its details count only where there is a gain (see `_decided`)
    out["larger_gains_at_longer_horizons"] = _decided(
        "larger_gains_at_longer_horizons",
        est.horizon_gain,
        "needs two horizons and a baseline",
        null=0.0,
        better="above",
        deciding=gain.get("strongest"),
        horizons=gain.get("horizons"),
        gain_short=gain.get("gain_short"),
        gain_long=gain.get("gain_long"),
        measure="(ref - strongest baseline) at the longest minus at the shortest horizon",
    )
    for name, effect, why_not, null, better, measure in (
        ("switching_settles", est.settling, f"{ref!r} has no switch decisions over two or more iterations",
         0.0, "above", "switch rate, first quarter minus last quarter of training"),
        ("hae_lower_variance", est.variance_ratio, f"{ref!r} runs lack adv_low or adv_flat",
         1.0, "below", "Var(A_low) / Var(flat GAE) on the same turns, all turns pooled"),
    ):  # fmt: skip
        out[name] = _decided(name, effect, why_not, null=null, better=better, measure=measure)
    return {name: out[name] for name in CLAIMS}
