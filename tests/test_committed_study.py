"""The study the package ships as its findings (results/horizons/): each paired change difference and
each horizon trend in its committed numbers.json equals the one recomputed from its committed
evaluation.nc, with the bootstrap settings numbers.json records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hiper_repro.stats.change import change_difference
from hiper_repro.stats.trend import horizon_trend
from hiper_repro.traces import open_evaluation

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ["horizons"]


def recomputed_differences(folder: Path) -> list[tuple[str, float, float]]:
    """(key, committed, recomputed) for every ``change_vs.*`` and ``horizon_trend.*`` estimate and CI
    bound of ``folder/stats/numbers.json``, recomputed from ``folder/evaluation.nc``."""
    numbers = json.loads((folder / "stats" / "numbers.json").read_text())
    tree = open_evaluation(folder / "evaluation.nc")
    boot = {"reps": numbers["meta.reps"], "ci": numbers["meta.ci"], "seed": numbers["meta.bootstrap_seed"]}
    out = []
    pairs: dict[tuple[str, str], list[str]] = {}
    for key in numbers:
        family, *rest = key.split(".")
        if family in ("change_vs", "horizon_trend") and rest[-1] in ("estimate", "ci_low", "ci_high"):
            a, b = rest[-2].split("_vs_")
            pairs.setdefault((family, a, b), []).append(key)
    for (family, a, b), keys in sorted(pairs.items()):
        if family == "change_vs":
            ds = change_difference(tree, a, b, **boot)
        else:
            ds = horizon_trend(tree, a, b, **boot)
        for key in keys:
            parts = key.split(".")
            cell = {"env": parts[1]}
            if family == "change_vs":
                cell["horizon"] = int(parts[2].removeprefix("h"))
            out.append((key, numbers[key], float(ds[parts[-1]].sel(cell))))
    return out


@pytest.mark.parametrize("study", STUDIES)
def test_committed_differences_recompute_from_the_evaluation_group(study: str) -> None:
    folder = ROOT / "results" / study
    checked = recomputed_differences(folder)
    assert any(k.startswith("horizon_trend.") for k, *_ in checked), "no horizon trend in numbers.json"
    assert any(k.startswith("change_vs.") for k, *_ in checked), "no change difference in numbers.json"
    wrong = [
        (k, committed, again)
        for k, committed, again in checked
        if not (committed is None and math.isnan(again)) and not math.isclose(committed, again, abs_tol=1e-12)
    ]
    assert not wrong, (
        f"{len(wrong)} of {len(checked)} committed numbers differ from evaluation.nc: {wrong[:5]}"
    )
