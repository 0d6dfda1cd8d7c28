"""Verdicts on the paper's claims at our scale, each decided by one confidence interval.

A claim is a signed effect whose CI decides it (``null`` is the no-effect value, 0 for differences and 1
for ratios; ``better`` says which side supports the claim)::

    supported       the CI lies entirely on the claim's side of null
    not supported   the CI lies entirely on the other side
    inconclusive    the CI contains null, or the data cannot decide (too few runs, no such method), or the
                    interval is degenerate (below)

An interval can exclude null without measuring anything. The verdict is then inconclusive, with the
reason, whatever side the interval lies on (``ci_verdict`` keeps what the interval alone would say):

- zero width: every bootstrap replicate gave the same value, from ties (every run scored the same) or
  censoring (every run counted at the same budget): there is no uncertainty estimate to decide with;
- sample efficiency only: a run reached the threshold at its first evaluation (its starting policy was
  already there, so its time measures the warm start, not learning), or most runs never reached it
  (their times are censored lower bounds, not measurements).

Every entry states ``n`` (how many runs, and of which methods, the CI rests on); sample efficiency also
states what was censored and why (``censored``).

Claims (keys of :data:`CLAIMS`): ``higher_final_success``, ``larger_gains_at_longer_horizons``,
``sample_efficiency``, ``switching_settles``, ``hae_lower_variance``. :func:`verdict` applies the CI rule,
:func:`claim` the degeneracy rules; :func:`decide` applies both to the effects of
:func:`hiper_repro.stats.estimates.estimate`. A claim made against several baselines is decided by the
least favourable comparison: the one whose CI lies on the wrong side of null by the most, else the one
whose CI comes closest to null. ``larger_gains_at_longer_horizons`` is such a claim: one comparison per
baseline and environment, each the least-squares slope over the horizons of the reference's change from the
start minus the baseline's (:mod:`hiper_repro.stats.trend`), null 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hiper_repro.stats.estimates import Estimates

ZERO_WIDTH = 1e-12  # relative width below which an interval is taken as a single value
ZERO_WIDTH_REASON = (
    "its interval has zero width: every bootstrap replicate gave the same value (ties or censoring), so it "
    "measures no uncertainty"
)

CLAIMS: dict[str, str] = {
    "higher_final_success": "HiPER reaches a higher final success rate than every baseline.",
    "larger_gains_at_longer_horizons": "HiPER's gain over the baselines grows with the task horizon.",
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
    name: str,
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    null: float,
    better: str,
    n: str = "",
    blockers: Sequence[str] = (),
    **details: object,
) -> dict[str, object]:
    """One claim entry of ``numbers.json``: statement, deciding estimate and CI, verdict, ``n``, details.

    The verdict is the CI's (:func:`verdict`) unless the interval has zero width or ``blockers`` name a
    reason the data cannot decide; then it is inconclusive and ``reason`` says why."""
    if name not in CLAIMS:
        raise ValueError(f"unknown claim {name!r}; known: {sorted(CLAIMS)}")
    ci_verdict = verdict(ci_low, ci_high, null, better)
    reasons = [str(details.pop("reason"))] if details.get("reason") else []
    finite = math.isfinite(ci_low) and math.isfinite(ci_high)
    if finite and ci_high - ci_low <= ZERO_WIDTH * max(1.0, abs(estimate)):
        reasons.append(ZERO_WIDTH_REASON)
    reasons += list(blockers)
    return {
        "statement": CLAIMS[name],
        "verdict": "inconclusive" if reasons else ci_verdict,
        "ci_verdict": ci_verdict,
        "estimate": estimate,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "null": null,
        "n": n,
        "reason": "; ".join(reasons) if reasons else None,
        **details,
    }


def undecided(name: str, reason: str) -> dict[str, object]:
    """A claim the data cannot address (a method or a second horizon is missing), with the reason."""
    nan = float("nan")
    return claim(name, nan, nan, nan, null=nan, better="above", reason=reason)


def least_favourable(
    name: str,
    results: dict[str, dict[str, float]],
    null: float,
    better: str,
    n_for: Callable[[str], str] = lambda _: "",
    **details: object,
) -> dict[str, object]:
    """Claim decided by the least favourable of several comparisons (one per baseline); `deciding` names it,
    ``n_for(baseline)`` says what its CI rests on."""
    ok = {b: r for b, r in results.items() if np.isfinite(r["ci_low"])}
    if not results:
        return undecided(name, "no comparison could be computed")
    # computed but undefined (e.g. 0 / 0 iterations: every run there at its start): the details say why
    if not ok:
        first, nan = next(iter(results)), float("nan")
        return claim(name, nan, nan, nan, null=null, better=better, deciding=first, n=n_for(first),
                     reason="no comparison could be computed", **details)  # fmt: skip
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
        name, r["estimate"], r["ci_low"], r["ci_high"], null=null, better=better, deciding=pick,
        n=n_for(pick), **details,
    )  # fmt: skip


def _decided(name: str, effect: Mapping | None, why_not: str, **rule: object) -> dict[str, object]:
    """`claim` on an effect's estimate and CI (`rule`: null, better, details), or `undecided` with the reason
    `why_not` where the data gave no effect."""
    if effect is None:
        return undecided(name, why_not)
    estimate, ci_low, ci_high = (float(effect[k]) for k in ("estimate", "ci_low", "ci_high"))
    return claim(name, estimate, ci_low, ci_high, **rule)


def runs_text(counts: Mapping[str, int], where: str = "") -> str:
    """ "n = 6 hiper and 6 ppo runs over 2 cells" from {method: runs}."""
    parts = [f"{c} {m}" for m, c in counts.items()]
    joined = " and ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + f" and {parts[-1]}"
    return f"n = {joined} runs{f' {where}' if where else ''}"


def efficiency_blockers(
    counts: Mapping[str, Mapping[str, int]], threshold: float, has_start: bool
) -> tuple[list[str], str]:
    """Reasons sample efficiency cannot be decided, and the censoring statement, from per-method counts
    ``{method: {"runs", "reached", "at_first"}}`` of the compared methods."""
    n = sum(c["runs"] for c in counts.values())
    censored = sum(c["runs"] - c["reached"] for c in counts.values())
    at_first = sum(c["at_first"] for c in counts.values())
    pct = f"{100 * threshold:.0f}%"
    per = ", ".join(f"{c['runs'] - c['reached']} of {c['runs']} {m}" for m, c in counts.items())
    statement = (
        f"censored: {per} runs never reached {pct} and count at their last evaluation (a lower bound on "
        "their time)"
    )
    blockers = []
    if at_first:
        first = ", ".join(f"{c['at_first']} {m}" for m, c in counts.items() if c["at_first"])
        when = "before the first update" if has_start else "after one update"
        blockers.append(
            f"{at_first} of {n} runs ({first}) were already at or above {pct} at their first evaluation "
            f"({when}): their time measures the starting policy, not learning speed"
        )
    if n and censored > n / 2:
        blockers.append(
            f"{censored} of {n} runs never reached {pct}: most times are censored lower bounds, not "
            "measurements"
        )
    return blockers, statement


def start_gap_note(est: Estimates, baseline: str) -> str:
    """How far apart the reference and ``baseline`` were before any update, over the cells both ran: a final
    difference that was already there at the start is the warm starts', not RL's."""
    start = est.change["start"]
    gap = (start.sel(method_name=est.reference) - start.sel(method_name=baseline)).values
    gap = gap[np.isfinite(gap)]
    if not gap.size:
        return f"no cell has starting evaluations of both {est.reference} and {baseline}"
    return (
        f"before any update the difference in evaluation success was already {gap.mean():+.3f} (mean over "
        f"{gap.size} cells of the starting policies, same tasks and noise): the change from the start says what "
        "RL added"
    )


def critic_note(method: str, critic: Mapping[str, Mapping[str, float]]) -> str:
    """What the variance claim rests on: each value head's explained variance of the observed returns."""
    heads = {"low": "V_low", "high": "V_high", "term": "V_term"}
    parts = [
        f"{heads.get(h, h)} explains {c['estimate']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}]"
        for h, c in critic.items()
        if math.isfinite(c["estimate"])
    ]
    if not parts:
        return f"no explained variance of {method}'s critics was logged"
    return (
        f"the critics it rests on: {', '.join(parts)} of the variance of the observed returns (mean over "
        f"iterations and {method} runs; 1 is a perfect critic, 0 no better than a constant)"
    )


def decide(est: Estimates, threshold: float) -> dict[str, dict[str, object]]:
    """Every claim's entry (see :func:`claim`) from a report's estimates; `threshold` is the success rate
    its sample efficiency was measured at."""
    ref, sp = est.reference, est.speedup
    final = est.scores["final"]
    runs = {m: int(final.sel(method_name=m).notnull().sum()) for m in est.methods}

    def pair(b: str) -> str:
        return runs_text({ref: runs[ref], b: runs[b]}, "(final success, cells both methods ran)")

    ttt = est.time_to_threshold
    counts = {
        m: {
            "runs": int(ttt["exists"].sel(method_name=m).sum()),
            "reached": int(ttt["reached"].sel(method_name=m).sum()),
            "at_first": int(ttt["at_first"].sel(method_name=m).sum()),
        }
        for m in [ref, *sp]
    }
    blockers, censored = efficiency_blockers(counts, threshold, est.change is not None)
    out = {
        "higher_final_success": least_favourable(
            "higher_final_success",
            est.final_difference,
            0.0,
            "above",
            n_for=pair,
            measure="difference in mean final success, pooled over cells",
        ),
        "sample_efficiency": least_favourable(
            "sample_efficiency",
            sp,
            1.0,
            "above",
            n_for=lambda b: runs_text({m: counts[m]["runs"] for m in (ref, b)}, "(evaluation curves)"),
            blockers=blockers,
            censored=censored,
            threshold=threshold,
            measure="restricted mean iterations to threshold, baseline / reference",
            n_censored={m: c["runs"] - c["reached"] for m, c in counts.items()},
            n_at_first={m: c["at_first"] for m, c in counts.items()},
            consistent_with_2_5x=bool(sp) and any(r["ci_low"] <= 2.5 <= r["ci_high"] for r in sp.values()),
        ),
    }
    final_claim = out["higher_final_success"]
    if est.change is not None and final_claim.get("deciding"):
        final_claim["note"] = start_gap_note(est, str(final_claim["deciding"]))
    if not sp:  # least_favourable passed blockers through only when it decided
        out["sample_efficiency"]["censored"] = censored
    out["larger_gains_at_longer_horizons"] = _horizon_claim(est)
    settle_n = runs_text({ref: int(est.settling["n_runs"])}, "with switch decisions") if est.settling else ""
    out["switching_settles"] = _decided(
        "switching_settles",
        est.settling,
        f"{ref!r} has no switch decisions over two or more iterations",
        null=0.0,
        better="above",
        n=settle_n,
        measure="switch rate, first quarter minus last quarter of training",
    )
    ratio = est.variance_ratio or {}
    critic = (est.critic or {}).get(ref, {})
    out["hae_lower_variance"] = _decided(
        "hae_lower_variance",
        est.variance_ratio,
        f"{ref!r} runs lack adv_low or adv_flat",
        null=1.0,
        better="below",
        n=runs_text({ref: int(ratio["n_runs"])}, "(all their turns)") if ratio else "",
        measure="Var(A_low) / Var(flat GAE) on the same turns, all turns pooled",
        note=critic_note(ref, critic),
    )
    return {name: out[name] for name in CLAIMS}


def _horizon_claim(est: Estimates) -> dict[str, object]:
    """Larger gains at longer horizons, decided by the least favourable horizon trend
    (:mod:`hiper_repro.stats.trend`: slope of the paired change difference per unit of horizon) of the
    reference against each baseline in each env. Variants of the reference (``{ref}-...``) are not
    baselines."""
    ref, final = est.reference, est.scores["final"]
    results: dict[str, dict[str, float]] = {}
    counts: dict[str, str] = {}
    for (a, b), trend in est.horizon_trend.items():
        if a != ref or b.startswith(f"{ref}-"):
            continue
        for env in trend["env"].values:
            t = trend.sel(env=env)
            if not np.isfinite(float(t["estimate"])):
                continue
            label = b if trend.sizes["env"] == 1 else f"{b} ({env})"
            results[label] = {k: float(t[k]) for k in ("estimate", "ci_low", "ci_high")}
            lo, hi = int(t["h_min"]), int(t["h_max"])
            cells = final.sel(env=env, horizon=slice(lo, hi))
            runs = {m: int(cells.sel(method_name=m).notnull().sum()) for m in (a, b)}
            counts[label] = runs_text(runs, f"over {int(t['n_horizons'])} horizons {lo}-{hi}")
    if not results:
        return undecided(
            "larger_gains_at_longer_horizons",
            "needs two horizons at which the reference and a baseline both evaluated their start and end",
        )
    return least_favourable(
        "larger_gains_at_longer_horizons",
        results,
        0.0,
        "above",
        n_for=lambda label: counts[label],
        measure="least-squares slope over horizons of (change of ref - change of baseline), per unit of horizon",
        trends=results,
    )
