"""The trace schema: one table of groups, dimensions and variables, and the error that names violations.

A run's traces are an `xarray.DataTree` with four groups below a root that carries the run's provenance
(see `docs/TRACES.md` for the prose version of this table):

========== ================================== ==========================================================
group      dims                               one entry per
========== ================================== ==========================================================
/turns     (iteration, episode, turn)         turn of a training episode
/segments  (iteration, episode, segment)      subgoal segment of a training episode (plan-execute only)
/episodes  (iteration, episode)               training episode
/evaluation (eval_iteration, eval_episode)    episode on the fixed evaluation split, at the training
                                              temperature (eval_iteration: updates completed, 0 the start)
/evaluation_secondary (eval_iteration,        the same split at the secondary temperature (greedy or
            eval_episode)                     0.4), before the first update and at the end
/iterations (iteration)                       training iteration: diagnostics of the update and critic
========== ================================== ==========================================================

Merged datasets (`open_runs`) put the run dims ``(method_name, env, horizon, seed)`` in front of every variable.
The method's dim is ``method_name``, not ``method``, because xarray reserves ``method=`` in ``.sel`` (its
fill-method argument).

Padding rule (episodes, turns and segments differ in number between iterations and runs): floats are NaN,
integer indices -1, flags False, strings "". Measured quantities that one averages (success, length,
response length) are floats so that padding is NaN and `mean()` skips it; integers are reserved for
indices (`segment_id`, `start_turn`, `group`), booleans for flags that `mask` qualifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# 2: evaluation before the first update, /evaluation_secondary, /iterations. 3: an evaluation is labelled by
# the number of updates completed (0: the starting policy); 2 labelled it by the last update's iteration, -1
# the start, one less. 4: the run dim and root attr ``method`` is ``method_name`` (``.sel(method=...)`` is
# xarray's fill-method argument, so it could not select a method), and /iterations' invalid_rate is
# invalid_turn_rate (pooled over the batch's turns, unlike the per-episode invalid_rate of /episodes and
# /evaluation). `traces.upgrade` reads versions 2 and 3.
SCHEMA_VERSION = "4"

# Dimension names with a fixed meaning (ArviZ calls them reserved). Every one has an integer coordinate.
DIMS: dict[str, str] = {
    "iteration": "training iteration",  # the PPO update the data was collected for, 0-based
    "episode": "episode",  # index within an iteration's rollout batch
    "turn": "turn",  # environment step within an episode
    "segment": "segment",  # subgoal segment within an episode; segment k starts at a SWITCH turn
    # updates completed when the evaluation was played: 0 the starting policy, k after iteration k-1's update
    "eval_iteration": "updates completed before the evaluation (0: the starting policy)",
    "eval_episode": "evaluation episode",  # index within the fixed evaluation split
}

# Leading dims of merged datasets; their coordinates hold the run's identity.
RUN_DIMS: tuple[str, ...] = ("method_name", "env", "horizon", "seed")
RUN_DIM_DTYPES: dict[str, str] = {"method_name": "str", "env": "str", "horizon": "int", "seed": "int"}


@dataclass(frozen=True)
class Var:
    """One variable of the schema: its dtype kind, CF long_name and units, its padding value, and the
    values it may take.

    `dtype` is one of "float" (stored float32, fill NaN), "int" (int32, fill -1), "bool" (fill False;
    netCDF stores int8 with attr ``dtype="bool"`` and xarray decodes it back), "str" (fill "").
    `valid_range` is (low, high), either end None when open, both inclusive: `validate` reports values
    of real cells outside it (a success of -3 is a bug upstream, not a result). Floats may always be NaN
    (the quantity does not exist there) and never infinite.
    """

    dtype: str
    long_name: str
    units: str
    valid_range: tuple[float | None, float | None] = (None, None)

    @property
    def fill(self) -> Any:
        return FILL[self.dtype]

    @property
    def numpy_dtype(self) -> np.dtype:
        return NUMPY_DTYPE[self.dtype]


FILL: dict[str, Any] = {"float": np.float32(np.nan), "int": np.int32(-1), "bool": False, "str": ""}
FILL_TEXT: dict[str, str] = {"float": "NaN", "int": "-1", "bool": "False", "str": '""'}
NUMPY_DTYPE: dict[str, np.dtype] = {
    "float": np.dtype(np.float32),
    "int": np.dtype(np.int32),
    "bool": np.dtype(bool),
    "str": np.dtype(str),
}
# Which numpy dtype kinds each schema dtype accepts on input and after decoding.
DTYPE_KINDS: dict[str, str] = {"float": "f", "int": "iu", "bool": "b", "str": "UO"}


RATE = (0.0, 1.0)  # a fraction or probability
COUNT = (0.0, None)  # a length or an amount that cannot be negative
INDEX = (0, None)  # an index into another dim (fill -1 only at padding)


@dataclass(frozen=True)
class Group:
    """One DataTree group: its dims (in order), the dim whose padding is decided by which variable, and
    its variables."""

    dims: tuple[str, ...]
    variables: dict[str, Var]
    # Variable whose fill value marks a padded cell along the group's innermost dim (the "presence" flag):
    # turns: mask is False; segments: start_turn is -1; episodes, evaluation: task_id is "";
    # iterations: turns is -1 (a one-dimensional group has no padding inside a record).
    presence: str


_TURNS = {
    "mask": Var("bool", "real turn (False at padding)", "1"),
    "reward": Var(
        "float",
        "reward the estimators used: environment reward x success_reward minus shaping penalties",
        "1",
    ),
    "done": Var("bool", "episode terminated on this turn (truncation is not termination)", "1"),
    "valid": Var("bool", "output parsed and action admissible", "1"),
    "switch": Var("bool", "SWITCH decision q_t (turn 0 True; flat format False)", "1"),
    "segment_id": Var("int", "index of the segment this turn belongs to (-1: no segments)", "1", (-1, None)),
    "value_low": Var("float", "low-level value V_low(s_t, o_t) (flat format: V(s_t))", "1"),
    "value_high": Var("float", "high-level value V_high(s_t)", "1"),
    "value_term": Var("float", "termination value V_term(s_t, o_{t-1})", "1"),
    "adv_low": Var("float", "low-level advantage A_low", "1"),
    "adv_high": Var("float", "high-level advantage A_high (on segment-start turns only)", "1"),
    "adv_switch": Var("float", "switch advantage A_switch", "1"),
    "adv_flat": Var("float", "flat turn-level GAE advantage on the same turns and V_low", "1"),
    "adv_action": Var("float", "advantage given to the action tokens by the trained method", "1"),
    "ret_low": Var("float", "low-level value target R_low = A_low + V_low (flat: A + V)", "1"),
    "returns": Var("float", "discounted reward-to-go G_t observed from this turn", "1"),
    "logprob": Var(
        "float", "log-probability of the whole response under the behaviour policy", "nat", (None, 0.0)
    ),
    "response_length": Var("float", "response length", "token", COUNT),
}
_SEGMENTS = {
    "start_turn": Var("int", "first turn b_k of the segment", "1", INDEX),
    "length": Var("float", "segment length d_k", "turn", (1.0, None)),
    "reward": Var("float", "discounted segment reward sum_t gamma^(t-b_k) r_t", "1"),
    "adv_high": Var("float", "high-level advantage A_high_k", "1"),
    "value_high": Var("float", "high-level value V_high(s_{b_k})", "1"),
    "ret_high": Var("float", "high-level value target R_high = A_high + V_high", "1"),
    "subgoal": Var("str", "subgoal text", ""),
}
_EPISODES = {
    "task_id": Var("str", "task identifier", ""),
    "task_type": Var("str", "task type", ""),
    "group": Var("int", "rollout group (episodes of one group share a task; -1: none)", "1", (-1, None)),
    "success": Var("float", "success (1 won, 0 not)", "1", RATE),
    "score": Var("float", "environment score in [0, 1]", "1", RATE),
    "length": Var("float", "episode length", "turn", COUNT),
    "return": Var("float", "undiscounted sum of environment rewards", "1", COUNT),
    "invalid_rate": Var("float", "the episode's invalid turns / its turns", "1", RATE),
}
_EVALUATION = {
    "task_id": Var("str", "task identifier", ""),
    "task_type": Var("str", "task type", ""),
    "success": Var("float", "success (1 won, 0 not)", "1", RATE),
    "score": Var("float", "environment score in [0, 1]", "1", RATE),
    "length": Var("float", "episode length", "turn", COUNT),
    "invalid_rate": Var("float", "the episode's invalid turns / its turns", "1", RATE),
    "switch_rate": Var(
        "float", "fraction of turns after the first that SWITCH (NaN: flat format)", "1", RATE
    ),
}

_ITERATIONS = {
    "turns": Var("int", "real turns in the iteration's batch", "turn", (0, None)),
    "success": Var("float", "share of training episodes won", "1", RATE),
    "invalid_turn_rate": Var(
        "float", "invalid turns / real turns of the batch, pooled over its episodes", "1", RATE
    ),
    # Explained variance can be any value <= 1 (a critic worse than the mean is negative).
    "explained_variance_low": Var(
        "float",
        "explained variance of V_low (flat: V) against the observed reward-to-go, before the update",
        "1",
        (None, 1.0),
    ),
    "explained_variance_high": Var(
        "float",
        "explained variance of V_high at segment starts against the observed reward-to-go",
        "1",
        (None, 1.0),
    ),
    "explained_variance_term": Var(
        "float",
        "explained variance of V_term against the observed reward-to-go (switch_form=code)",
        "1",
        (None, 1.0),
    ),
    "adv_switch_abs": Var("float", "mean |A_switch| before whitening, over decision turns", "1", COUNT),
    "adv_action_std": Var("float", "standard deviation of the action advantage before whitening", "1", COUNT),
    "kl_ref": Var(
        "float",
        "k3 KL(pi_theta || pi_ref) to the reference (starting) policy, token mean, during the update (0 when"
        " ppo.kl_coef is 0: not computed)",
        "nat",
        COUNT,
    ),
    "approx_kl": Var(
        "float",
        "k3 KL(pi_old || pi_new) of the iteration's update, response tokens, measured after it",
        "nat",
        COUNT,
    ),
    "clip_fraction": Var("float", "share of tokens where the clipped PPO term was active", "1", RATE),
    "entropy": Var("float", "policy entropy per loss-carrying token", "nat", COUNT),
    "grad_norm": Var("float", "global gradient norm before clipping, mean over optimizer steps", "1", COUNT),
    "optimizer_steps": Var("int", "optimizer steps taken in the iteration's update", "1", (0, None)),
    "policy_updated": Var("bool", "the policy was updated (False: skipped or critic warm-up)", "1"),
    "lr": Var("float", "actor learning rate of the iteration's update", "1", COUNT),
}

GROUPS: dict[str, Group] = {
    "turns": Group(("iteration", "episode", "turn"), _TURNS, presence="mask"),
    "segments": Group(("iteration", "episode", "segment"), _SEGMENTS, presence="start_turn"),
    "episodes": Group(("iteration", "episode"), _EPISODES, presence="task_id"),
    "evaluation": Group(("eval_iteration", "eval_episode"), _EVALUATION, presence="task_id"),
    "evaluation_secondary": Group(("eval_iteration", "eval_episode"), _EVALUATION, presence="task_id"),
    "iterations": Group(("iteration",), _ITERATIONS, presence="turns"),
}
# Groups written per evaluation: the primary one at the training temperature, and the secondary one.
EVALUATION_GROUPS: tuple[str, ...] = ("evaluation", "evaluation_secondary")
START_EVAL = 0  # eval_iteration of the starting policy: no update completed

# Root attributes of a run (the provenance), with their Python type.
ROOT_ATTRS: dict[str, type] = {
    "method_name": str,  # the training method (config key method.name)
    "env": str,
    "horizon": int,
    "seed": int,
    "created": str,  # UTC, ISO 8601
    "hiper_repro_version": str,
    "git_commit": str,
    "library_versions": str,  # JSON object {package: version}
    "config": str,  # resolved config, JSON
    "config_hash": str,  # sha256 of the canonical config JSON
    "model_id": str,
    "device": str,
    "schema_version": str,
    "keep_every": int,  # only iterations divisible by it are stored
}
# Root attrs of a merged dataset (`open_runs`), with their Python type: set explicitly, never copied from
# one run.
MERGED_ATTRS: dict[str, type] = {
    "schema_version": str,
    "created": str,  # UTC, ISO 8601, when the runs were merged
    "hiper_repro_version": str,
    "git_commit": str,
    "n_runs": int,
}
# Root attrs that identify a run: merged datasets make them dims; the others become coords along them.
PROVENANCE_COORDS: tuple[str, ...] = tuple(k for k in ROOT_ATTRS if k not in RUN_DIMS + ("schema_version",))


class TraceSchemaError(ValueError):
    """A dataset breaks the trace schema; `problems` lists every violation found, one line each."""

    def __init__(self, problems: list[str], where: str = "traces") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{where} break the trace schema ({len(self.problems)} problems):\n{lines}")


def variable_attrs(group: str, name: str) -> dict[str, str]:
    """CF attributes (long_name, units) of a schema variable."""
    var = GROUPS[group].variables[name]
    return {"long_name": var.long_name, "units": var.units}


def schema_markdown() -> str:
    """The schema table rendered as Markdown (docs/TRACES.md embeds this output)."""
    lines = []
    for gname, group in GROUPS.items():
        lines += [f"### /{gname}", "", f"dims: `({', '.join(group.dims)})`", ""]
        lines += [
            "| variable | dtype | fill | units | range | long_name |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for vname, var in group.variables.items():
            lines.append(
                f"| `{vname}` | {var.dtype} | {FILL_TEXT[var.dtype]} | {var.units or '-'} | "
                f"{range_text(var.valid_range)} | {var.long_name} |"
            )
        lines.append("")
    return "\n".join(lines)


def range_text(valid_range: tuple[float | None, float | None]) -> str:
    """``[0, 1]``, ``>= 0``, ``<= 0`` or ``-`` (unbounded)."""
    low, high = valid_range
    if low is None and high is None:
        return "-"
    if high is None:
        return f">= {low:g}"
    if low is None:
        return f"<= {high:g}"
    return f"[{low:g}, {high:g}]"
