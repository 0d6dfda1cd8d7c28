"""Chain MDPs of K dependent subtasks with sparse terminal reward and distractor actions.

State s = (k, j): subtask k in 0..K-1 is active and j in 0..m-1 of its m primitive steps are done; it is
indexed k*m + j, and index S = K*m is the absorbing success state. In state (k, j) exactly one of the A
actions, ``correct[k, j]``, makes progress (to (k, j+1), or to (k+1, 0) at the end of a subtask); every
other action is a distractor: with probability ``slip`` it undoes the progress inside the current subtask
(back to (k, 0)), otherwise nothing happens. Finishing subtask K-1 gives reward 1 and terminates; every
other transition gives 0. Episodes last at most ``horizon`` turns; the time limit is part of the MDP (the
lab's chain is over (t, s, subgoal)), so a time-out is a true end with value 0, not a truncation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ChainMDP:
    """A finite hierarchical chain MDP (see the module docstring).

    Attributes:
        n_subtasks: K, number of dependent subtasks.
        steps: m, primitive actions each subtask needs.
        n_actions: A, primitive actions (one correct, A-1 distractors in each state).
        n_subgoals: G, subgoals the policy can choose from.
        horizon: H, turn limit.
        slip: probability that a distractor resets the progress inside the current subtask.
        correct: (K, m) int array, the progressing action of state (k, j).
        transitions: (S, A, S+1) float64 tensor, P(s' | s, a) from the S non-terminal states.
        rewards: (S, A) float64 tensor, expected reward r(s, a) (= probability of reaching success).
    """

    n_subtasks: int
    steps: int
    n_actions: int
    n_subgoals: int
    horizon: int
    slip: float
    correct: np.ndarray
    transitions: torch.Tensor
    rewards: torch.Tensor

    @property
    def n_states(self) -> int:
        """S, non-terminal states; index S is the absorbing success state."""
        return self.n_subtasks * self.steps

    def subtask_of(self, state: np.ndarray) -> np.ndarray:
        """Subtask k of each non-terminal state index."""
        return np.asarray(state) // self.steps


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_chain_mdp(
    n_subtasks: int,
    *,
    steps: int = 2,
    n_actions: int = 4,
    n_subgoals: int | None = None,
    horizon: int | None = None,
    slip: float = 0.5,
    seed: int = 0,
) -> ChainMDP:
    """Build a chain MDP of ``n_subtasks`` subtasks (module docstring); same arguments, same MDP.

    ``n_subgoals`` defaults to K (one subgoal per subtask), ``horizon`` to 3*K*m + 2 turns (room for the
    K*m progressing actions plus twice as many mistakes). ``seed`` draws the correct action of every state.
    """
    k = _positive_int("n_subtasks", n_subtasks)
    m = _positive_int("steps", steps)
    a = _positive_int("n_actions", n_actions, minimum=2)
    g = _positive_int("n_subgoals", k if n_subgoals is None else n_subgoals)
    h = _positive_int("horizon", 3 * k * m + 2 if horizon is None else horizon)
    if not 0.0 <= float(slip) <= 1.0:
        raise ValueError(f"slip must lie in [0, 1], got {slip!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D6470]))
    correct = rng.integers(0, a, size=(k, m))

    n = k * m
    s = np.arange(n)
    p = np.zeros((n, a, n + 1))
    # distractors: reset to the start of the subtask with probability slip, else stay
    restart = (s // m) * m
    p[s, :, s] += 1.0 - slip
    p[s, :, restart] += slip
    # the correct action moves one step on, overwriting the distractor row
    c = correct.reshape(-1)
    p[s, c, :] = 0.0
    p[s, c, s + 1] = 1.0
    transitions = torch.as_tensor(p, dtype=torch.float64)
    rewards = transitions[:, :, n].clone()
    return ChainMDP(k, m, a, g, h, float(slip), correct, transitions, rewards)
