"""Statistics over merged traces: per-run scores, bootstrap CIs, IQM, comparisons, efficiency, variance.

Pure functions over xarray objects that reduce over named dims (``seed``), each bootstrap seeded
explicitly (defaults: ``bootstrap.REPS``, ``CI``, ``SEED``). :mod:`hiper_repro.stats.estimates` computes
every statistic of the paper, :mod:`hiper_repro.stats.claims` decides the claims, :mod:`hiper_repro.stats.report`
names the numbers and tables; ``hiper-repro stats`` writes them.
"""

from hiper_repro.stats.bootstrap import aggregate, difference, iqm
from hiper_repro.stats.claims import verdict
from hiper_repro.stats.compare import holm, improvement, probability_of_improvement, welch_tests
from hiper_repro.stats.dynamics import settling, switch_rate
from hiper_repro.stats.efficiency import env_steps_until, speedup, time_to_threshold
from hiper_repro.stats.profiles import performance_profile
from hiper_repro.stats.scores import eval_curve, final_score, last_k_score, run_scores
from hiper_repro.stats.variance import advantage_variance, variance_ratio

__all__ = [
    "advantage_variance",
    "aggregate",
    "difference",
    "env_steps_until",
    "eval_curve",
    "final_score",
    "holm",
    "improvement",
    "iqm",
    "last_k_score",
    "performance_profile",
    "probability_of_improvement",
    "run_scores",
    "settling",
    "speedup",
    "switch_rate",
    "time_to_threshold",
    "variance_ratio",
    "verdict",
    "welch_tests",
]
