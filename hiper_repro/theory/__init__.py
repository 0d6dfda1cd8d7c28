"""Exact-gradient lab: tabular hierarchical MDPs where the policy gradient is known exactly.

The lab builds small chain MDPs of K dependent subtasks (`mdp`), a tabular three-level Plan-Execute policy
(`policy`), solves the induced Markov chain for the exact objective, values and gradient (`exact`), samples
episodes (`sampler`), turns them into per-episode gradient estimates with the shipped estimators of
`hiper_repro.credit` (`estimators`) and measures bias and variance over a grid (`lab`, `cli`).
"""

from hiper_repro.theory.estimators import ESTIMATORS, episode_gradients, turn_advantages
from hiper_repro.theory.exact import ExactValues, exact_gradient, exact_values
from hiper_repro.theory.lab import GRIDS, Grid, run_grid, variance_ratio, write_dataset
from hiper_repro.theory.mdp import ChainMDP, make_chain_mdp
from hiper_repro.theory.policy import TabularPolicy, init_policy
from hiper_repro.theory.sampler import Episodes, sample_episodes

__all__ = [
    "ESTIMATORS",
    "GRIDS",
    "ChainMDP",
    "Grid",
    "Episodes",
    "ExactValues",
    "TabularPolicy",
    "exact_gradient",
    "episode_gradients",
    "exact_values",
    "init_policy",
    "make_chain_mdp",
    "run_grid",
    "sample_episodes",
    "turn_advantages",
    "variance_ratio",
    "write_dataset",
]
