"""``hiper-repro figures --merged merged.nc [--theory theory.nc] --stats DIR --out DIR --tables DIR``.

Draws every figure from the ``hiper-repro stats`` tables in ``--stats`` (and, for raw distributions,
the merged traces) and saves each as ``--out/NAME.pdf`` and ``--out/NAME.png``; writes the tables as
CSV, Markdown and LaTeX into ``--tables``. A figure whose data does not exist (no plan-execute method,
a single horizon, no theory dataset) is skipped with a line saying why, never drawn empty. Each output
folder is built beside its place and renamed into it, so the paper never reads new figures beside old
ones; it must hold only what figures writes (PDF, PNG, JSON, CSV, Markdown, LaTeX).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: draw without a display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.figures import credit, diagnostics, results, tables  # noqa: E402
from hiper_repro.figures.output import built_or_skipped, save_figure  # noqa: E402
from hiper_repro.io import atomic_dir, write_atomic  # noqa: E402
from hiper_repro.traces.merge import open_merged  # noqa: E402

STATS_TABLES = (
    "run_scores", "final_success", "aggregate", "aggregate_by_env", "task_types", "improvement",
    "performance_profile", "learning_curves", "time_to_threshold", "sample_efficiency", "switch_rate",
    "variance_by_position", "variance_by_horizon", "claims", "settings",
)  # fmt: skip
# Tables only some studies have: paired changes need starting evaluations, diagnostics the /iterations
# group, the lab's ratios a theory dataset. A figure or table built from a missing one is skipped, saying so.
OPTIONAL_TABLES = (
    "change_from_start", "change_difference", "horizon_trend", "invalid_change", "change_secondary", "diagnostics",
    "diagnostics_phases", "theory_ratios", "theory_crossover", "theory_crossover_points",
)  # fmt: skip


def missing_table(name: str) -> pd.DataFrame:
    """Stand-in for an optional stats table this study lacks: figures refuse it with the reason."""
    return pd.DataFrame().assign(**{f"<{name}.csv not written by hiper-repro stats for this study>": []})


def read_stats(stats_dir: Path) -> dict[str, pd.DataFrame]:
    """The stats tables this command needs, by name; a missing file is a clear error."""
    missing = [n for n in STATS_TABLES if not (stats_dir / f"{n}.csv").is_file()]
    if missing:
        raise ValueError(
            f"--stats {stats_dir}: missing {', '.join(f'{n}.csv' for n in missing)} (run hiper-repro stats)"
        )
    out = {}
    for n in (*STATS_TABLES, *OPTIONAL_TABLES):
        if not (stats_dir / f"{n}.csv").is_file():
            out[n] = missing_table(n)
            continue
        try:
            out[n] = pd.read_csv(stats_dir / f"{n}.csv")
        except pd.errors.EmptyDataError:
            out[n] = pd.DataFrame()
        except (ValueError, UnicodeDecodeError) as err:  # pandas' ParserError is a ValueError
            raise ValueError(
                f"--stats {stats_dir / f'{n}.csv'}: not a CSV table ({type(err).__name__})"
            ) from None
    return out


def no_sweep() -> Figure:
    raise ValueError(
        "the lab dataset has no critic-quality sweep (theory grid without critic_ev: the horizons and full "
        "grids have one)"
    )


def read_numbers(stats_dir: Path) -> dict:
    """``numbers.json`` of the stats folder ({} when absent: figures that need its numbers draw without)."""
    path = stats_dir / "numbers.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"--stats {path}: not a JSON file ({type(err).__name__})") from None


def read_theory(path: Path) -> xr.Dataset:
    """The theory lab's dataset (`hiper-repro theory` output); ValueError naming the file if unreadable."""
    try:
        return xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--theory {path}: not a readable netCDF4 dataset ({type(err).__name__})") from err


def figure_jobs(
    s: dict[str, pd.DataFrame], tree: xr.DataTree, reference: str
) -> dict[str, Callable[[], Figure]]:
    """Every figure as a name and a thunk that draws it (an optional table ``s`` lacks makes its figure
    raise, which the caller reports as skipped)."""
    s = {name: s.get(name, missing_table(name)) for name in (*STATS_TABLES, *OPTIONAL_TABLES)}
    return {
        "final_success": lambda: results.final_success_bars(s["final_success"], s["run_scores"], "final"),
        "final_success_last_k": lambda: results.final_success_bars(
            s["final_success"], s["run_scores"], "last_k"
        ),
        "learning_curves": lambda: results.learning_curves(s["learning_curves"]),
        "change_from_start": lambda: results.change_from_start(s["change_from_start"]),
        "success_vs_horizon": lambda: results.success_vs_horizon(s["final_success"], s["run_scores"]),
        "sample_efficiency": lambda: results.sample_efficiency(
            s["sample_efficiency"], s["time_to_threshold"]
        ),
        "sample_efficiency_env_steps": lambda: results.sample_efficiency(
            s["sample_efficiency"], s["time_to_threshold"], "env_steps"
        ),
        "performance_profiles": lambda: results.performance_profiles(s["performance_profile"]),
        "probability_of_improvement": lambda: results.improvement_intervals(s["improvement"]),
        "variance_by_position": lambda: credit.variance_by_position(s["variance_by_position"], reference),
        "variance_by_horizon": lambda: credit.variance_by_horizon(s["variance_by_horizon"]),
        "segments": lambda: credit.segment_distributions(tree, reference),
        "switch_rate": lambda: credit.switch_rate_dynamics(s["switch_rate"]),
        "diagnostics": lambda: diagnostics.training_diagnostics(s["diagnostics"]),
    }


def table_jobs(
    s: dict[str, pd.DataFrame], tree: xr.DataTree
) -> dict[str, tuple[Callable[[], pd.DataFrame], str]]:
    """Every table as a name, a thunk that builds it and its caption."""
    s = {name: s.get(name, missing_table(name)) for name in (*STATS_TABLES, *OPTIONAL_TABLES)}
    facts = tables.study_facts(tree)
    return {
        "main_results": (
            lambda: tables.main_results(s["final_success"], s["aggregate"]),
            "Final evaluation success (%), mean over seeds with 95% stratified bootstrap CI.",
        ),
        "change_from_start": (
            lambda: tables.change_table(s["change_from_start"]),
            "Evaluation success at the start (before the first update) and the end of training, and the "
            "paired change with its 95% CI (bootstrap over seeds and tasks).",
        ),
        "change_secondary": (
            lambda: tables.change_table(s["change_secondary"]),
            "The same at the secondary evaluation temperature (rollout.eval_temperature; 0 is greedy), played "
            "before the first update and at the end.",
        ),
        "change_difference": (
            lambda: tables.change_difference_table(s["change_difference"]),
            "Change from the start of the reference minus that of each other method, and of each configured "
            "contrast (points, 95% CI).",
        ),
        "horizon_trend": (
            lambda: tables.horizon_trend_table(s["horizon_trend"]),
            "Slope of each change difference per extra subtask, least squares over the horizons both methods "
            "ran (points, 95% CI resampling seeds and tasks within each horizon).",
        ),
        "diagnostics": (
            lambda: tables.diagnostics_table(s["diagnostics_phases"], s["invalid_change"]),
            "Training diagnostics, mean over seeds over the first and the last quarter of training (early -> "
            "late); evaluation invalid-turn rate at the start and the end.",
        ),
        "sample_efficiency": (
            lambda: tables.efficiency_table(s["sample_efficiency"]),
            "Runs that reached the success threshold, at their first evaluation, or never, and the restricted "
            "mean iterations to it (censored runs at their budget) with 95% CI.",
        ),
        "variance": (
            lambda: tables.variance_table(s["variance_by_horizon"]),
            "Advantage variance over all turns, with 95% hierarchical bootstrap CIs (seeds, then episodes).",
        ),
        "lab_ratios": (
            lambda: tables.lab_table(s["theory_ratios"]),
            "Exact-gradient lab: variance of HAE's gradient estimate over flat GAE's, median (interquartile "
            "range) over random MDPs.",
        ),
        "settings": (lambda: tables.settings_display(s["settings"]), "What the runs were configured with."),
        "task_types": (
            lambda: tables.task_type_results(s["task_types"]),
            "Final evaluation success (%) per task type, mean over seeds with 95% bootstrap CI.",
        ),
        "published_comparison": (
            lambda: tables.published_comparison(s["aggregate_by_env"], facts),
            "Published success (%, mean of 3 seeds, no intervals) beside this study's (pooled over horizons, "
            "95% CI). Absolute levels are not comparable; see the section on what differs from the paper.",
        ),
    }


def write_tables(s: dict[str, pd.DataFrame], tree: xr.DataTree, out: Path) -> dict[str, str]:
    """Write every table this study has data for; returns the skipped ones with the reason."""
    skipped: dict[str, str] = {}
    jobs = table_jobs(s, tree)
    builders = {name: build for name, (build, _) in jobs.items()}
    for name, df in built_or_skipped(builders, skipped, "figures: skipped table "):
        tables.write_table(df, out, name, jobs[name][1])
    return skipped


OUTPUT_SUFFIXES = (".pdf", ".png", ".json", ".csv", ".md", ".tex")  # what figures writes into its folders


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro figures", description=__doc__.splitlines()[0]
    )
    p.add_argument("--merged", required=True, type=Path, help="merged traces (hiper-repro aggregate output)")
    p.add_argument("--theory", type=Path, help="theory lab dataset (hiper-repro theory output)")
    p.add_argument("--stats", required=True, type=Path, help="folder written by hiper-repro stats")
    p.add_argument("--out", required=True, type=Path, help="folder for the figures (PDF and PNG)")
    p.add_argument("--tables", type=Path, help="folder for the tables (CSV, Markdown, LaTeX); default --out")
    p.add_argument("--reference", default="hiper", help="method whose credit assignment is drawn")
    a = p.parse_args(argv)
    if not a.merged.is_file():
        p.error(f"--merged: no such file {str(a.merged)!r}")
    if a.theory is not None and not a.theory.is_file():
        p.error(f"--theory: no such file {str(a.theory)!r}")
    matplotlib.rc_file(str(Path(__file__).with_name("matplotlibrc")))
    tree = open_merged(a.merged)
    theory = None if a.theory is None else read_theory(a.theory)
    stats = read_stats(a.stats)
    jobs = figure_jobs(stats, tree, a.reference)
    if theory is not None:
        from hiper_repro.figures.theory import critic_marks, plot_crossover, plot_theory

        jobs["theory"] = lambda: plot_theory(theory)
        numbers = read_numbers(a.stats)
        jobs["theory_crossover"] = lambda: plot_crossover(
            stats["theory_crossover"], stats["theory_crossover_points"], critic_marks(numbers)
        )
        if "sweep_bias_sq" not in theory:
            jobs["theory_crossover"] = no_sweep
    with ExitStack() as stack:  # each folder is built beside its place and renamed into it, never mixed
        out = stack.enter_context(atomic_dir(a.out, owns=lambda n: n.endswith(OUTPUT_SUFFIXES)))
        same = a.tables is None or a.tables.resolve() == a.out.resolve()
        table_dir = (
            out
            if same
            else stack.enter_context(atomic_dir(a.tables, owns=lambda n: n.endswith(OUTPUT_SUFFIXES)))
        )
        drawn, skipped = [], {}
        for name, draw in jobs.items():
            try:
                fig = draw()
            except ValueError as err:  # the data for this figure does not exist in this study
                print(f"figures: skipped {name}: {err}", file=sys.stderr)
                skipped[name] = str(err)
                continue
            except KeyError as err:  # a hand-made or older stats folder
                raise ValueError(
                    f"--stats {a.stats}: figure {name} needs column {err}, which a table lacks"
                ) from err
            save_figure(fig, out, name)
            plt.close(fig)  # plot_theory draws through pyplot; closing a bare Figure is a no-op
            drawn.append(name)
            print(f"figures: wrote {a.out / name}.pdf|png")
        if a.theory is None:
            skipped["theory"] = skipped["theory_crossover"] = "no theory-lab dataset was given (--theory)"
        try:
            skipped_tables = write_tables(stats, tree, table_dir)
        except KeyError as err:
            raise ValueError(f"--stats {a.stats}: the tables need column {err}, which a table lacks") from err
        # The manifests tell the paper and the report which figures and tables exist, and why the others do not.
        index = {"drawn": drawn, "skipped": skipped}
        if table_dir.resolve() == out.resolve():
            index["skipped_tables"] = skipped_tables
        else:
            write_atomic(
                table_dir / "index.json", json.dumps({"skipped_tables": skipped_tables}, indent=1) + "\n"
            )
        write_atomic(out / "index.json", json.dumps(index, indent=1) + "\n")
    return 0
