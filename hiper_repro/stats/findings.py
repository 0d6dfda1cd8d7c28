"""The paper's sentences that state a result, decided from the numbers (never typed by hand).

:func:`findings` reads the flat ``numbers`` of :mod:`hiper_repro.stats.report` and returns ``text.*`` keys,
one sentence or short paragraph each, so the manuscript can say "RL moved nothing" or "HAE does not beat
flat GAE" only when the intervals say so:

    text.horizons         "horizon 1" or "horizons 1, 2 and 3", for sentences about the study
    text.headline         the strongest decided comparison of the reference with another method, in either
                          direction (final success pooled over cells, or the change from the start per cell)
    text.pooled           the reference's final success pooled over cells (interquartile mean), or, with one
                          cell, that cell's mean (pooling would repeat it)
    text.warm_start       evaluation success of each prompt format's starting policy, per cell
    text.change           which methods' changes from their start exclude 0 (``_detail``: every change)
    text.estimator        the reference (HAE) against ppo-pe (flat GAE, same format and warm start): the
                          comparison that separates the estimator from the format (``_detail``: per cell)
    text.improvement      P(reference run beats a baseline run), with what a zero-width interval means
    text.efficiency       how many runs reached the threshold, at their first evaluation, or never
    text.diagnostics      invalid-turn rate, critic quality, update size, switch signal
    text.lab              the lab's HAE / GAE variance ratio from the smallest to the largest K, and what it
                          implies for the horizon claim
    text.lab_crossover    by K, the critic explained variance below which the lab's flat GAE gradient is
                          more accurate than HAE's, beside the explained variance the runs' critics reached
    text.horizon_contrasts
                          each contrast of ``meta.contrasts`` (hiper vs ppo-pe, hgigpo vs gigpo, the KEEP and
                          paper-HAE ablations): its change difference by horizon and its slope over horizons
    text.keep_shaping     whether the KEEP shaping or the estimator carries a gain, from hiper-keep vs
                          ppo-pe-keep (estimator under the shaping) and hiper-keep vs hiper (the shaping)

A change "excludes 0" when its 95% interval lies entirely on one side of 0 (the claims' rule).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

ESTIMATOR_BASELINE = "ppo-pe"  # Plan-Execute format with flat GAE: differs from hiper only in the estimator
ESTIMATORS = {"hiper": "HAE"}  # the reference's estimator, named in the sentences on it
FORMAT_NAMES = {"plan_execute": "Plan-Execute", "flat": "flat"}


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def points(v: float, lo: float, hi: float) -> str:
    return f"{100 * v:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def side(lo: float, hi: float) -> int:
    """+1 when the interval lies above 0, -1 below, 0 when it contains 0."""
    return 1 if lo > 0 else -1 if hi < 0 else 0


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised and the rest untouched (method names stay as they are)."""
    return text[:1].upper() + text[1:]


def listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def grouped(pairs: list[tuple[str, str]]) -> str:
    """(method, cell) pairs in as few phrases as they allow: cells with the same methods share one,
    "hiper, ppo and ppo-pe at household h1" rather than "hiper at household h1, ppo at household h1 and
    ppo-pe at household h1"."""
    by_cell: dict[str, list[str]] = {}
    for method, where in pairs:
        by_cell.setdefault(where, []).append(method)
    by_methods: dict[tuple[str, ...], list[str]] = {}
    for where, methods in by_cell.items():
        by_methods.setdefault(tuple(methods), []).append(where)
    return "; ".join(f"{listing(list(ms))} at {listing(cells)}" for ms, cells in by_methods.items())


class Numbers:
    """Read access to ``numbers.json`` keys by parts, with the study's cells and methods."""

    def __init__(self, numbers: Mapping[str, Any]) -> None:
        self.n = numbers
        self.ref = str(numbers.get("meta.reference", "hiper"))
        self.methods = [str(m) for m in numbers.get("meta.methods") or []]
        self.envs = [str(e) for e in numbers.get("meta.envs") or []]
        self.horizons = [int(h) for h in numbers.get("meta.horizons") or []]

    def get(self, *parts: object) -> Any:
        return self.n.get(".".join(str(p) for p in parts))

    def cells(self) -> Iterator[tuple[str, int, str]]:
        """(env, horizon, "household h2") for every cell of the study."""
        for env in self.envs:
            for h in self.horizons:
                yield env, h, f"{env} h{h}"

    def interval(self, prefix: str, est: str = "estimate") -> tuple[float, float, float] | None:
        values = (
            self.n.get(f"{prefix}.{est}"),
            self.n.get(f"{prefix}.ci_low"),
            self.n.get(f"{prefix}.ci_high"),
        )
        return values if _finite(*values) else None  # type: ignore[return-value]


def warm_start(nb: Numbers) -> str:
    """Success of each format's starting policy per cell (runs of one format share their warm start)."""
    by_format: dict[str, list[str]] = {}
    for m in nb.methods:
        by_format.setdefault(str(nb.get("study.format", m) or "unknown"), []).append(m)
    parts = []
    for fmt, methods in sorted(by_format.items()):
        cells = []
        for env, h, where in nb.cells():
            starts = [nb.get("change", env, f"h{h}", m, "start") for m in methods]
            starts = [s for s in starts if _finite(s)]
            if starts:
                cells.append(f"{pct(sum(starts) / len(starts))}{'' if cells else ' of episodes'} at {where}")
        if cells:
            parts.append(
                f"the {FORMAT_NAMES.get(fmt, fmt)} warm start ({', '.join(methods)}) succeeds in {listing(cells)}"
            )
    if not parts:
        return (
            "These runs did not evaluate their starting policy, so no change from the start can be measured."
        )
    return (
        "Before the first update, on the evaluation tasks at the training temperature, "
        + "; ".join(parts)
        + "."
    )


MAX_LISTED = 12  # cells x methods spelt out in a sentence; larger studies point to the table


def change(nb: Numbers) -> tuple[str, str]:
    """The verdict over every method's change from its start, and each change spelt out."""
    lines, up, down, flat = [], [], [], 0
    for m in nb.methods:
        cells = []
        for env, h, where in nb.cells():
            iv = nb.interval(f"change.{env}.h{h}.{m}", "change")
            if iv is None:
                continue
            start, end = nb.get("change", env, f"h{h}", m, "start"), nb.get("change", env, f"h{h}", m, "end")
            cells.append(f"{where} {pct(start)} to {pct(end)} ({points(*iv)})")
            {1: up, -1: down}.get(side(iv[1], iv[2]), []).append((m, where))
            flat += iv[2] - iv[1] <= 1e-12 and iv[0] == 0
        if cells:
            lines.append((m, cells))
    if not lines:
        return (
            "No change from the start can be measured: the runs did not evaluate their starting policy.",
            "",
        )
    n_cells = sum(len(cells) for _, cells in lines)
    if not up and not down:
        verdict = "No method's success changed reliably from its start: every interval contains 0."
    else:
        said = []
        if up:
            said.append(f"success rose reliably for {grouped(up)}")
        if down:
            said.append(f"fell reliably for {grouped(down)}")
        rest = "; every other interval contains 0" if len(up) + len(down) < n_cells else ""
        verdict = sentence("; ".join(said) + rest + ".")
    if flat:
        verdict += (
            f" In {flat} of {n_cells} method-cells no run changed its outcome on any evaluation task (an "
            "interval of zero width at 0)."
        )
    if n_cells > MAX_LISTED:
        return verdict, "The table below gives every method and cell."
    detail = ". ".join(f"{m}: {'; '.join(cells)}" for m, cells in lines)
    return verdict, f"Start to end of training (change, 95% CI): {detail}."


def estimator(nb: Numbers) -> tuple[str, str]:
    """The reference against ppo-pe, change against change, the estimator with the format held fixed: the
    verdict, and the differences spelt out."""
    ref, base = nb.ref, ESTIMATOR_BASELINE
    hae = ESTIMATORS.get(ref, f"{ref}'s estimator")
    if base not in nb.methods:
        flat = [b for b in nb.methods if b != ref]
        other = ""
        if flat:
            cells = [
                f"{where} {points(*iv)}"
                for env, h, where in nb.cells()
                if (iv := nb.interval(f"change_vs.{env}.h{h}.{ref}_vs_{flat[0]}")) is not None
            ]
            if cells:
                other = (
                    f" Against {flat[0]}, which differs in format as well as estimator, the change of {ref} "
                    f"minus the change of {flat[0]} is {'; '.join(cells)}."
                )
        return (
            f"This study did not run {base} (the Plan-Execute format with flat GAE), so it cannot separate the "
            f"estimator from the format: whether {hae} beats flat GAE is not tested here.",
            other.strip(),
        )
    cells, better, worse = [], [], []
    for env, h, where in nb.cells():
        iv = nb.interval(f"change_vs.{env}.h{h}.{ref}_vs_{base}")
        if iv is None:
            continue
        cells.append(f"{where} {points(*iv)}")
        {1: better, -1: worse}.get(side(iv[1], iv[2]), []).append(where)
    if not cells:
        return f"No paired change of {ref} and {base} could be computed (no starting evaluations).", ""
    detail = (
        f"Change of {ref} minus change of {base} (same format, same warm start, same evaluation noise): "
        + "; ".join(cells)
        + "."
    )
    final = nb.interval(f"final_vs.{ref}_vs_{base}")
    if final is not None:
        detail += f" Final success of {ref} minus {base}, pooled over cells: {points(*final)}."
    if not better and not worse:
        if final is not None and side(final[1], final[2]):
            ahead = hae if side(final[1], final[2]) > 0 else "flat GAE"
            return (
                f"The change from the start does not separate {hae} from flat GAE (in every cell its interval "
                f"contains 0), but final success does: {ref} minus {base}, pooled over cells, is "
                f"{points(*final)}, in {ahead}'s favour.",
                detail,
            )
        return f"{hae} does not beat flat GAE at this scale: in every cell the interval contains 0.", detail
    said = []
    if better:
        said.append(f"{hae} beats flat GAE at {listing(better)}")
    if worse:
        said.append(f"flat GAE beats {hae} at {listing(worse)}")
    rest = len(cells) - len(better) - len(worse)
    tail = f"; in the other {rest} cell{'s' if rest != 1 else ''} the interval contains 0" if rest else ""
    return sentence("; ".join(said) + tail + "."), detail


def _same_format(nb: Numbers, a: str, b: str) -> bool:
    """Whether two methods share a prompt format (`study.format.*`; unknown counts as shared)."""
    fa, fb = nb.n.get(f"study.format.{a}"), nb.n.get(f"study.format.{b}")
    return fa is None or fb is None or fa == fb


def headline(nb: Numbers) -> str:
    """The strongest decided comparison of the reference with each other method, in either direction: of the
    differences in final success (pooled over cells) and in the change from the start (per cell), the one
    whose interval lies farthest from 0 (its nearer end); or that none is decided. Final success is compared
    only between methods of one prompt format: across formats it is mostly the two warm starts' gap, which
    the change from the start removes."""
    ref = nb.ref
    found: list[tuple[float, str, str]] = []  # (distance from 0, the winner, what was compared)
    n = 0
    final = "final success, pooled over cells" if len(list(nb.cells())) > 1 else "final success"
    for b in [m for m in nb.methods if m != ref]:
        compared = [(nb.interval(f"final_vs.{ref}_vs_{b}"), final)] if _same_format(nb, ref, b) else []
        compared += [
            (nb.interval(f"change_vs.{env}.h{h}.{ref}_vs_{b}"), f"change from the start at {where}")
            for env, h, where in nb.cells()
        ]
        for iv, what in compared:
            if iv is None:
                continue
            n += 1
            if s := side(iv[1], iv[2]):
                found.append(
                    (
                        min(abs(iv[1]), abs(iv[2])),
                        ref if s > 0 else b,
                        f"{ref} minus {b} in {what}, {points(*iv)}",
                    )
                )
    if not n:
        return f"No difference between {ref} and another method could be computed."
    if not found:
        return (
            f"No difference between {ref} and another method is decided: all {n} intervals (final success "
            "pooled over cells, change from the start per cell) contain 0."
        )
    _, winner, what = max(found)
    return (
        f"The strongest decided result favours {winner}: {what} ({len(found)} of {n} differences between {ref} "
        "and another method are decided)."
    )


def pct_ci(iv: tuple[float, float, float]) -> str:
    return f"{pct(iv[0])} [{pct(iv[1])}, {pct(iv[2])}]"


def pooled(nb: Numbers) -> str:
    """The reference's final success over the study: the interquartile mean pooled over cells, or, where the
    study has one cell, that cell's mean (pooling one cell would only repeat it)."""
    ref, reps = nb.ref, nb.n.get("meta.reps")
    cells = list(nb.cells())
    if len(cells) == 1:
        env, h, where = cells[0]
        iv = nb.interval(f"final_success.{env}.h{h}.{ref}", "mean")
        what, ci = f"In this study's one cell, {where}, the mean final success", "95% bootstrap CI"
    else:
        iv = nb.interval(f"aggregate.final.iqm.{ref}")
        what = "Pooled over every environment and horizon, the interquartile mean of final success"
        ci = "95% stratified bootstrap CI"
    if iv is None:
        return f"No final success of the reference method ({ref}) could be computed."
    return (
        f"{what} of the reference method ({ref}) is {pct_ci(iv)} ({ci}, {reps} replicates); the main results "
        "table gives every method."
    )


def improvement(nb: Numbers) -> str:
    """P(a reference run ends above a baseline run of the same cell), with what zero width means."""
    parts = []
    for b in [m for m in nb.methods if m != nb.ref]:
        iv = nb.interval(f"improvement.{nb.ref}_vs_{b}")
        if iv is None:
            continue
        text = f"{iv[0]:.2f} [{iv[1]:.2f}, {iv[2]:.2f}] against {b}"
        if iv[2] - iv[1] <= 1e-12:
            how = {
                1.0: f"every {nb.ref} run above every {b} run",
                0.0: f"every {b} run above every {nb.ref} run",
            }
            text += (
                " (zero width: in every bootstrap replicate each pair of runs compares the same way, "
                f"{how.get(iv[0], 'from ties')}, so the interval measures no uncertainty)"
            )
        parts.append(text)
    if not parts:
        return (
            "No probability of improvement could be computed (no baseline shares a cell with the reference)."
        )
    return (
        f"The probability that a {nb.ref} run ends with higher final success than a baseline run of the same "
        f"cell is {'; '.join(parts)}."
    )


def efficiency(nb: Numbers) -> str:
    """Runs that reached the threshold, at their first evaluation, or never, per method."""
    threshold = nb.n.get("meta.threshold")
    parts = []
    for m in nb.methods:
        counts = {"n_reached": 0, "n_at_first": 0, "n_runs": 0}
        for env, h, _ in nb.cells():
            for k in counts:
                counts[k] += int(nb.get("sample_efficiency", env, f"h{h}", m, k) or 0)
        if counts["n_runs"]:
            parts.append(
                f"{m} in {counts['n_reached']} of {counts['n_runs']} runs ({counts['n_at_first']} of them already "
                f"at their first evaluation; {counts['n_runs'] - counts['n_reached']} runs never did)"
            )
    if not parts or not _finite(threshold):
        return "No run has an evaluation curve."
    return f"The success threshold of {pct(threshold)} was reached by {'; '.join(parts)}."


def _extreme(nb: Numbers, name: str, phase: str, largest: bool = True) -> tuple[float, str] | None:
    found = []
    for m in nb.methods:
        for env, h, where in nb.cells():
            v = nb.get("diagnostics", env, f"h{h}", m, name, phase, "estimate")
            if _finite(v):
                found.append((v, f"{m} at {where}"))
    if not found:
        return None
    return max(found) if largest else min(found)


def diagnostics(nb: Numbers) -> str:
    """Invalid-turn rate, critic quality, update size and switch signal, late in training."""
    parts = []
    hi = _extreme(nb, "invalid_turn_rate", "late")
    lo = _extreme(nb, "invalid_turn_rate", "late", largest=False)
    if hi and lo and hi[0] - lo[0] < 5e-4:
        parts.append(
            f"Over the last quarter of training the invalid-turn rate is {pct(hi[0])} for every method and cell"
        )
    elif hi and lo:
        parts.append(
            f"Over the last quarter of training the invalid-turn rate ranges from {pct(lo[0])} ({lo[1]}) to "
            f"{pct(hi[0])} ({hi[1]})"
        )
    critics = []
    for m in nb.methods:
        heads = [
            f"{head} {iv[0]:.2f} [{iv[1]:.2f}, {iv[2]:.2f}]"
            for head in ("low", "high", "term")
            if (iv := nb.interval(f"critic.{m}.{head}")) is not None
        ]
        if heads:
            critics.append(f"{m} {', '.join(heads)}")
    if critics:
        parts.append(
            "averaged over training, the value heads explain this share of the variance of the observed "
            f"returns (1: a perfect critic, 0: a constant): {'; '.join(critics)}"
        )
    kl, clip = _extreme(nb, "approx_kl", "late"), _extreme(nb, "clip_fraction", "late")
    if kl and clip:
        parts.append(
            f"the largest late KL between the policies before and after an update is {kl[0]:.4f} nats ({kl[1]}) "
            f"and the largest clip fraction {clip[0]:.3f} ({clip[1]})"
        )
    switch = _extreme(nb, "adv_switch_abs", "late")
    if switch:
        parts.append(
            f"the switch decision's mean |A_switch| late in training is at most {switch[0]:.3f} ({switch[1]})"
        )
    if not parts:
        return "These traces hold no per-iteration diagnostics."
    return sentence("; ".join(parts) + ".")


def lab(nb: Numbers) -> str:
    """How the lab's HAE / flat GAE variance ratio moves with K, and what that implies for the horizon
    claim (stats.lab's trend rule)."""
    lams = nb.n.get("theory.lams")
    if not lams:
        return "No exact-gradient lab dataset was given to the statistics."
    implies = {
        "rises": "so HAE's variance advantage over flat GAE shrinks as the horizon grows: on variance grounds "
        "the lab predicts smaller, not larger, gains at longer horizons",
        "falls": "so HAE's variance advantage over flat GAE grows with the horizon, as the paper's horizon "
        "claim would need",
        "level": "so the lab shows no trend with the horizon (the interquartile ranges overlap) and gives no "
        "variance reason for gains to grow with it",
    }
    sentences = []
    for i, lam in enumerate(sorted(lams, reverse=True)):
        t = f"theory.trend.lam{lam:g}"
        direction, first, last = nb.n.get(f"{t}.direction"), nb.n.get(f"{t}.first"), nb.n.get(f"{t}.last")
        k1, k2 = nb.n.get(f"{t}.k_first"), nb.n.get(f"{t}.k_last")
        verb = {"rises": "rises", "falls": "falls", "level": "moves"}[direction]
        text = f"at lambda = {lam:g} it {verb} from {first:.2f} at K={k1} to {last:.2f} at K={k2}"
        sentences.append(text + (f", {implies[direction]}" if i == 0 else ""))
    setting = f"gamma {nb.n.get('theory.gamma'):g}, critic noise {nb.n.get('theory.critic_noise'):g}"
    return (
        f"In the lab ({setting}; medians over {nb.n.get('theory.replicates')} random MDPs per K), the variance "
        f"of HAE's gradient estimate relative to flat GAE's: {'; '.join(sentences)}."
    )


def lab_crossover(nb: Numbers) -> str:
    """Where the lab predicts HAE should win: per lam_boundary, the explained variance at which HAE's
    gradient error (squared bias + variance over a batch) crosses flat GAE's, by K; and the explained
    variance of the runs' critics (``critic.*``) to hold it against."""
    ks, lbs = nb.n.get("theory.crossover.ks"), nb.n.get("theory.crossover.lam_boundaries")
    if not ks or not lbs:
        return "The lab dataset has no critic-quality sweep, so it does not say where HAE should win."
    parts = []
    for lb in lbs:
        where = []
        for k in ks:
            key = f"theory.crossover.lb{lb:g}.K{k}"
            status, ev = nb.n.get(f"{key}.status"), nb.n.get(f"{key}.ev")
            low, high = nb.n.get(f"{key}.ev_low"), nb.n.get(f"{key}.ev_high")
            if status in ("crosses", "reversed") and _finite(ev):
                where.append(f"K={k}: {'above' if status == 'crosses' else 'below'} {ev:.2f}")
            elif status == "hae_better_throughout":
                where.append(f"K={k}: everywhere down to {low:.2f}")
            else:
                where.append(f"K={k}: nowhere in {low:.2f}..{high:.2f}")
        label = "the paper's HAE (lam_boundary 0)" if lb == 0 else f"HAE with lam_boundary {lb:g}"
        parts.append(f"{label} beats flat GAE while the critic's explained variance is {'; '.join(where)}")
    runs = []
    for m in nb.methods:
        for head in ("low", "high"):
            iv = nb.interval(f"critic.{m}.{head}")
            if iv:
                runs.append(f"{m} V_{head} {iv[0]:.2f} [{iv[1]:.2f}, {iv[2]:.2f}]")
    head = nb.n.get("theory.crossover.head")
    text = (
        f"In the lab (gradient error = squared bias + variance over a batch of "
        f"{nb.n.get('theory.crossover.batch')} episodes; explained variance of V_{head} against the "
        f"reward-to-go, as the runs measure it), {'; '.join(parts)}."
    )
    if runs:
        text += f" The runs' critics explained, pooled over training: {listing(runs)}."
    return text


def _difference(nb: Numbers, env: str, h: int, a: str, b: str) -> tuple[float, float, float] | None:
    """change_a - change_b at one cell, from ``change_vs`` (either direction stored)."""
    iv = nb.interval(f"change_vs.{env}.h{h}.{a}_vs_{b}")
    if iv is None and (flipped := nb.interval(f"change_vs.{env}.h{h}.{b}_vs_{a}")) is not None:
        iv = (-flipped[0], -flipped[2], -flipped[1])
    return iv


def _says(iv: tuple[float, float, float]) -> str:
    return {1: "lies above 0", -1: "lies below 0", 0: "contains 0"}[side(iv[1], iv[2])]


def horizon_contrasts(nb: Numbers) -> str:
    """Every configured contrast: change of a minus change of b by horizon, and its slope per unit of
    horizon where it ran at two or more (stats.trend)."""
    contrasts = [str(c).split(":") for c in nb.n.get("meta.contrasts") or []]
    parts = []
    for a, b in contrasts:
        for env in nb.envs:
            cells = [(h, iv) for h in nb.horizons if (iv := _difference(nb, env, h, a, b)) is not None]
            if not cells:
                continue
            by_h = "; ".join(f"h{h} {points(*iv)}" for h, iv in cells)
            text = f"{a} minus {b} ({env}): {by_h}"
            trend = nb.interval(f"horizon_trend.{env}.{a}_vs_{b}")
            if trend is not None:
                text += f"; slope {points(*trend)} per extra subtask, which {_says(trend)}"
            parts.append(text)
    if not parts:
        return "No configured contrast has two methods with paired changes in this study."
    return f"Change from the start of one method minus another's (95% CI): {'. '.join(parts)}."


def keep_shaping(nb: Numbers) -> str:
    """Whether the authors' KEEP shaping or the estimator carries a gain (where the three arms ran)."""
    rows = []
    for env, h, where in nb.cells():
        estimator_iv = _difference(nb, env, h, "hiper-keep", "ppo-pe-keep")
        shaping_iv = _difference(nb, env, h, "hiper-keep", ref := nb.ref)
        if estimator_iv is None or shaping_iv is None:
            continue
        est_side, shape_side = side(*estimator_iv[1:]), side(*shaping_iv[1:])
        if est_side > 0 and shape_side <= 0:
            verdict = "the estimator carries the gain, not the shaping"
        elif shape_side > 0 and est_side <= 0:
            verdict = "the shaping carries the gain, not the estimator"
        elif est_side > 0 and shape_side > 0:
            verdict = "both the estimator and the shaping add to it"
        else:
            verdict = "neither the estimator nor the shaping shows a gain"
        rows.append(
            f"at {where}, under the same KEEP shaping HAE minus flat GAE is {points(*estimator_iv)} and the "
            f"shaping's effect on HAE (hiper-keep minus {ref}) {points(*shaping_iv)}: {verdict}"
        )
    if not rows:
        return "The study did not train the KEEP-shaping arms (hiper-keep, ppo-pe-keep) beside the reference."
    return sentence("; ".join(rows) + ".")


def findings(numbers: Mapping[str, Any]) -> dict[str, str]:
    """Every ``text.*`` sentence (module docstring) from the flat numbers."""
    nb = Numbers(numbers)
    change_verdict, change_detail = change(nb)
    estimator_verdict, estimator_detail = estimator(nb)
    horizons = [str(h) for h in nb.horizons]
    return {
        "text.horizons": f"horizon{'s' if len(horizons) > 1 else ''} {listing(horizons)}" if horizons else "",
        "text.headline": headline(nb),
        "text.pooled": pooled(nb),
        "text.warm_start": warm_start(nb),
        "text.change": change_verdict,
        "text.change_detail": change_detail,
        "text.estimator": estimator_verdict,
        "text.estimator_detail": estimator_detail,
        "text.improvement": improvement(nb),
        "text.efficiency": efficiency(nb),
        "text.diagnostics": diagnostics(nb),
        "text.lab": lab(nb),
        "text.lab_crossover": lab_crossover(nb),
        "text.horizon_contrasts": horizon_contrasts(nb),
        "text.keep_shaping": keep_shaping(nb),
    }
