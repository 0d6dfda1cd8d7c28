"""``hiper-repro analyse-verl --merged DIR/merged.nc --out DIR``: the authors' runs re-analysed.

Runs :func:`hiper_repro.external.analysis.analyse` on a merged dataset of ``hiper-repro import-verl`` and
writes, each file atomically:

    OUT/numbers.json             flat ``authors.*`` keys the paper's section reads
    OUT/data/<table>.csv         the tidy tables (runs, arms, curves, task_types, efficiency, ...)
    OUT/tables/authors_*.{csv,md,tex}   display tables: runs, efficiency, claims, published, timing
    OUT/figures/authors_*.{pdf,png} and index.json   the figures, and why any was not drawn

and prints, per run, the first step at each threshold, the final success and the sample-efficiency ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: draw without a display

import pandas as pd  # noqa: E402

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.external import analysis as an  # noqa: E402
from hiper_repro.external import figures as fig  # noqa: E402
from hiper_repro.external.runs import load_runs  # noqa: E402
from hiper_repro.figures.output import built_or_skipped, save_figure  # noqa: E402
from hiper_repro.figures.tables import write_table  # noqa: E402
from hiper_repro.io import write_atomic  # noqa: E402
from hiper_repro.published import PUBLISHED  # noqa: E402

PUBLISHED_CLAIMS = {
    "higher_final_success": "HiPER 95.3% vs PPO 68.2% (ALFWorld, 1.5B, 3 seeds)",
    "sample_efficiency": "about 2.5-2.8x at 80% (ALFWorld, 7B)",
    "switching_settles": "frequent early, stable commitment later (qualitative)",
    "larger_gains_at_longer_horizons": "largest gains on long tasks",
    "hae_lower_variance": "variance no larger than flat GAE (theorem)",
}


def published_alfworld_1_5b() -> dict[str, float]:
    """Published ALFWorld success (%) with Qwen2.5-1.5B-Instruct per method."""
    p = PUBLISHED[(PUBLISHED["setting"] == "ALFWorld") & (PUBLISHED["model"] == "Qwen2.5-1.5B-Instruct")]
    return dict(zip(p["method"], p["value"].astype(float)))


def figure_jobs(tables: dict[str, pd.DataFrame], numbers: dict, opts: an.Options) -> dict:
    """Every figure as a name and a thunk; a thunk raises ValueError when its data does not exist."""
    return {
        "authors_learning_curves": lambda: fig.learning_curves(tables["curves"], opts.thresholds),
        "authors_task_types": lambda: fig.task_type_curves(tables["task_types"]),
        "authors_sample_efficiency": lambda: fig.efficiency_sensitivity(tables["efficiency"]),
        "authors_switching": lambda: fig.switching(
            tables["switching"], numbers.get("authors.switch.window_steps")
        ),
        "authors_timing": lambda: fig.timing_breakdown(tables["timing"]),
    }


def write(tables: dict[str, pd.DataFrame], numbers: dict, out: Path, opts: an.Options) -> None:
    """numbers.json, tidy CSVs, display tables and figures (see the module docstring)."""
    write_atomic(out / "numbers.json", json.dumps(numbers, indent=1, sort_keys=True, allow_nan=False) + "\n")
    for name, df in tables.items():
        write_atomic(out / "data" / f"{name}.csv", df.to_csv(index=False))
    last = int(numbers["authors.meta.last_step"])
    captions = {
        "authors_runs": (
            f"Validation success (%) of each run: final, mean of the last {opts.k} validations and best"
            " validation, with 95% CIs from evaluation noise (binomial, 128 episodes); first validation step"
            " at each threshold, with its CI."
        ),
        "authors_efficiency": (
            "Steps to each validation-success threshold, flat PPO over HiPER, 95% CIs over runs and"
            " evaluation noise. >=: a lower bound (flat PPO never reached it); <=: an upper bound (a HiPER"
            " run never did); ~: both sides censored, no bound."
        ),
        "authors_claims": "The paper's claims decided on the authors' logs.",
        "authors_published": "Published ALFWorld success (Qwen2.5-1.5B, mean of 3 seeds) beside the logs.",
        "authors_timing": "Seconds per training step by phase (timing_s/*), validation cost, GPU budget.",
    }
    builders = {
        "authors_runs": lambda: fig.runs_table(tables["runs"], opts.thresholds, opts.k, last),
        "authors_efficiency": lambda: fig.efficiency_table(tables["efficiency"]),
        "authors_claims": lambda: fig.claims_table(tables["claims"], PUBLISHED_CLAIMS),
        "authors_published": lambda: fig.published_table(tables["arms"], published_alfworld_1_5b(), opts.k),
        "authors_timing": lambda: fig.timing_table(tables["timing"]),
    }
    for name, build in builders.items():
        try:
            write_table(build(), out / "tables", name, captions[name])
        except ValueError as err:  # e.g. no timing metrics in these logs: an empty table, and why
            write_table(pd.DataFrame({"note": [str(err)]}), out / "tables", name, captions[name])
    drawn, skipped = [], {}
    for name, figure in built_or_skipped(
        figure_jobs(tables, numbers, opts), skipped, "analyse-verl: skipped "
    ):
        save_figure(figure, out / "figures", name)
        drawn.append(name)
    write_atomic(
        out / "figures" / "index.json", json.dumps({"drawn": drawn, "skipped": skipped}, indent=1) + "\n"
    )


def summary(tables: dict[str, pd.DataFrame], opts: an.Options) -> str:
    """Per run: the first step at each threshold, final success [CI], the flat/HiPER ratio per threshold."""
    eff = tables["efficiency"]
    lines = []
    for r in tables["runs"].to_dict("records"):
        reached = [
            f"step {r[f'{key}_step']:.0f}" if r[f"{key}_reached"] else "never"
            for key in (f"t{round(100 * t)}" for t in opts.thresholds)
        ]
        steps = ", ".join(f">={100 * t:.0f}%: {text}" for t, text in zip(opts.thresholds, reached))
        own = eff[eff["subset"] == r["run"]].to_dict("records") if len(eff) else []
        ratios = "; ratio " + ", ".join(
            f"{100 * e['threshold']:.0f}%: {fig.ratio_text(pd.Series(e))}" for e in own
        )
        lines.append(
            f"{r['run']} ({r['method']}, seed {r['seed']}): {steps}; final {100 * r['final']:.1f}% "
            f"[{100 * r['final_ci_low']:.1f}, {100 * r['final_ci_high']:.1f}]{ratios if own else ''}"
        )
    for subset in ("main", "all"):
        for e in eff[eff["subset"] == subset].to_dict("records") if len(eff) else []:
            ratio = fig.ratio_text(pd.Series(e))
            lines.append(f"ratio {subset} ({e['n_runs']} runs) at {100 * e['threshold']:.0f}%: {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter,
        prog="hiper-repro analyse-verl",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--merged", required=True, type=Path, help="merged.nc written by hiper-repro import-verl")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--thresholds", type=float, nargs="+", default=list(an.Options.thresholds))
    p.add_argument("--claim-threshold", type=float, default=an.Options.claim_threshold,
                   help="threshold of the sample-efficiency claim (paper: 0.8)")  # fmt: skip
    p.add_argument("--k", type=int, default=an.Options.k, help="last-k validations in the last_k score")
    p.add_argument("--reps", type=int, default=an.Options.reps, help="bootstrap replicates")
    p.add_argument("--ci", type=float, default=an.Options.ci, help="confidence level")
    p.add_argument("--seed", type=int, default=an.Options.seed, help="seed of every bootstrap")
    p.add_argument(
        "--variant", help="HiPER variant of the headline arm (default: the one with the most runs)"
    )
    a = p.parse_args(argv)
    if not all(0 < t <= 1 for t in [*a.thresholds, a.claim_threshold]):
        p.error(f"thresholds must be in (0, 1], saw {[*a.thresholds, a.claim_threshold]}")
    if a.claim_threshold not in a.thresholds:
        p.error(f"--claim-threshold {a.claim_threshold} must be one of --thresholds {a.thresholds}")
    if a.reps < 1 or a.k < 1 or not 0 < a.ci < 1:
        p.error(f"need --reps >= 1, --k >= 1 and --ci in (0, 1), saw {a.reps}, {a.k}, {a.ci}")
    opts = an.Options(thresholds=tuple(sorted(a.thresholds)), claim_threshold=a.claim_threshold, k=a.k,
                      reps=a.reps, ci=a.ci, seed=a.seed, variant=a.variant)  # fmt: skip
    try:
        ds = load_runs(a.merged)
        tables, numbers = an.analyse(ds, opts)
    except (FileNotFoundError, ValueError) as err:
        print(f"hiper-repro analyse-verl: {err}", file=sys.stderr)
        return 2  # bad input, as every hiper-repro command
    write(tables, numbers, a.out, opts)
    print(summary(tables, opts))
    for row in tables["claims"].to_dict("records"):
        print(f"claim {row['claim']}: {row['verdict']}")
    return 0
