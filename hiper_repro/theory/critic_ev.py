"""The lab's critic noise as the explained variance it implies, measured as the runs measure theirs.

A run's critic is scored by its explained variance against the observed reward-to-go G_t (the traces'
``explained_variance_{low,high}``, ``train.records.explained_variance``)::

    EV(V) = 1 - Var(G_t - V_t) / Var(G_t)      over real turns (V_low, V_term) or segment starts (V_high)

The lab's critics are the exact values plus a fixed per-entry error of standard deviation sigma
(``estimators.noisy_critics``). Since the error is drawn independently of the episodes,
Var(G - V - eps) ~ Var(G - V) + sigma^2, so a noisy critic's EV is about the exact critic's minus
sigma^2 / Var(G). Two numbers say how good a lab critic is:

- ``noise_ev(sigma, var_return) = 1 - sigma^2 / Var(G)``: the explained variance the noise alone implies
  (1 for the exact critic, which still leaves the return's own randomness unexplained);
- ``measured_ev``: EV(V) of the noisy critic on the lab's sampled episodes, the runs' yardstick (the exact
  critic's lies well below 1: at P(success) = 1/2 an exact V explains 0.1-0.35 of Var(G) in the quick grid).

The inverse, ``sigma_for(noise_ev, var_return) = sqrt((1 - noise_ev) Var(G))``, sets the noise of the
lab's sweep over critic quality (``lab.Grid.critic_ev``). Var(G) is over the sampled episodes' real turns.
"""

from __future__ import annotations

import math

import torch

from hiper_repro.credit import discounted_returns
from hiper_repro.theory.estimators import Critics, turn_values
from hiper_repro.theory.sampler import Episodes

HEADS: tuple[str, ...] = ("low", "high", "flat")  # V_low, V_high (at segment starts), V_term (flat critic)


def explained_variance(values: torch.Tensor, returns: torch.Tensor, where: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) over the entries in ``where`` (ddof 1); NaN with fewer
    than two entries or constant returns."""
    if int(where.sum()) < 2:
        return math.nan
    y = returns[where].double()
    var = float(y.var())
    return 1.0 - float((y - values[where].double()).var()) / var if var > 0 else math.nan


def return_variance(episodes: Episodes, gamma: float) -> float:
    """Var(G_t) of the discounted reward-to-go over every real turn of the sampled episodes."""
    g = discounted_returns(episodes.reward, episodes.mask, gamma)
    return float(g[episodes.mask].double().var())


def measured_ev(episodes: Episodes, critics: Critics, gamma: float) -> dict[str, float]:
    """EV of each head (``HEADS``) against the reward-to-go on the sampled episodes: V_low and V_term on
    every real turn, V_high at segment starts, as the runs' diagnostics score theirs."""
    g = discounted_returns(episodes.reward, episodes.mask, gamma)
    v = turn_values(episodes, critics)
    m = episodes.mask
    return {
        "low": explained_variance(v.value_low, g, m),
        "high": explained_variance(v.value_high, g, episodes.switch & m),
        "flat": explained_variance(v.value_flat, g, m),
    }


def noise_ev(sigma: float, var_return: float) -> float:
    """1 - sigma^2 / Var(G): the explained variance critic noise sigma implies (module docstring)."""
    return 1.0 - sigma**2 / var_return if var_return > 0 else math.nan


def sigma_for(ev: float, var_return: float) -> float:
    """The noise sigma whose implied explained variance (``noise_ev``) is ``ev`` <= 1."""
    if not ev <= 1.0:
        raise ValueError(f"critic_ev must be <= 1 (1: the exact critic), got {ev!r}")
    return math.sqrt((1.0 - ev) * max(var_return, 0.0))
