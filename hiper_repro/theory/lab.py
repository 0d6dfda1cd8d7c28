"""The lab's grid: bias and variance of every estimator over K, lambda, gamma and critic noise.

For each number of subtasks K and replicate r, one MDP and one policy point are drawn (seeded by
(seed, K, r)); the policy's competence is set by bisection so that its success probability is 1/2 (a
policy in mid-training, so that instances with different K are comparable; `calibrated_policy`). N
episodes are sampled once; every estimator, lambda, gamma and critic-noise level is evaluated on those
same episodes (common random numbers: paired comparisons between estimators), against the exact gradient
for that gamma; critic noise is drawn per (seed, K, r, gamma, noise level). Replicates are independent MDP/policy draws, so their spread is the
spread over problem instances as well as over samples. The result is one xarray Dataset:

    dims   estimator, K (subtasks), lam, gamma, critic_noise, replicate, block
    vars   bias_norm, bias_se, bias_sq_debiased, relative_bias, variance, cosine, block_variance
           objective, grad_norm (K, gamma, replicate); success, length, segments (K, replicate)
           explained_variance (K, gamma, critic_noise, replicate, head), explained_variance_noise
           (K, gamma, critic_noise, replicate): each noise level as the critic quality it implies
           (`critic_ev`: measured against the reward-to-go as the runs measure theirs, and 1 - sigma^2/Var G)

reinforce, grpo, rloo and gigpo read neither lambda nor a critic: their values repeat along those dims.
The main grid's HAE is the paper's (lam_boundary 0).

Critic-quality sweep (``Grid.critic_ev``, at the grid's largest gamma and lambda, on the same episodes
and exact gradient): for each noise-implied explained variance c (``critic_ev.sigma_for``: sigma =
sqrt((1 - c) Var G)), flat GAE and HAE at each ``Grid.lam_boundary``, with bias and variance of their
gradient estimates, so that `stats.lab.lab_crossover` can say by K where HAE's error crosses GAE's:

    dims   sweep_estimator (gae, hae), K, lam_boundary, critic_ev, replicate, head
    vars   sweep_bias_sq, sweep_variance (sweep_estimator, K, lam_boundary, critic_ev, replicate; GAE
           repeats along lam_boundary), sweep_explained_variance (K, critic_ev, replicate, head),
           sweep_sigma (K, critic_ev, replicate)
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from hiper_repro.io import atomic_target
from hiper_repro.theory.critic_ev import HEADS, measured_ev, noise_ev, return_variance, sigma_for
from hiper_repro.theory.estimators import (
    ESTIMATORS,
    USES_CRITIC,
    episode_gradients,
    exact_critics,
    noisy_critics,
    turn_advantages,
)
from hiper_repro.theory.exact import exact_gradient, exact_values
from hiper_repro.theory.mdp import ChainMDP, make_chain_mdp
from hiper_repro.theory.moments import gradient_moments
from hiper_repro.theory.policy import BLOCKS, TabularPolicy, init_policy
from hiper_repro.theory.sampler import sample_episodes

MOMENTS: tuple[str, ...] = ("bias_norm", "bias_se", "bias_sq_debiased", "relative_bias", "variance", "cosine")
ATTRS: dict[str, tuple[str, str]] = {
    "bias_norm": ("distance of the mean estimate from the exact gradient", "1"),
    "bias_se": ("sqrt(trace of covariance / episodes): RMS distance from sampling alone", "1"),
    "bias_sq_debiased": ("squared bias with the sampling term removed", "1"),
    "relative_bias": ("bias_norm / norm of the exact gradient", "1"),
    "variance": ("trace of the per-episode covariance of the estimate", "1"),
    "cosine": ("cosine between mean estimate and exact gradient", "1"),
    "block_variance": ("trace of the per-episode covariance, per parameter block", "1"),
    "objective": ("exact expected discounted return J", "1"),
    "grad_norm": ("norm of the exact gradient", "1"),
    "success": ("fraction of sampled episodes that succeed", "1"),
    "length": ("mean episode length", "turns"),
    "segments": ("mean segments (SWITCH turns) per episode", "segments"),
    "explained_variance": ("critic's 1 - Var(G - V) / Var(G) on the sampled turns, as runs measure it", "1"),
    "explained_variance_noise": ("explained variance the critic noise implies, 1 - sigma^2 / Var(G)", "1"),
}
SWEEP_ATTRS: dict[str, tuple[str, str]] = {
    "sweep_bias_sq": ("squared bias of the gradient estimate, sampling term removed", "1"),
    "sweep_variance": ("trace of the per-episode covariance of the gradient estimate", "1"),
    "sweep_explained_variance": ("critic's 1 - Var(G - V) / Var(G) on the sampled turns", "1"),
    "sweep_sigma": ("critic error standard deviation that implies critic_ev", "1"),
}
SWEEP_ESTIMATORS: tuple[str, ...] = ("gae", "hae")


@dataclass(frozen=True)
class Grid:
    """One grid of the lab.

    Swept: ``n_subtasks`` (K), ``lam`` (lam_low = lam_high), ``gamma``, ``critic_noise`` (sigma of the fixed
    critic error), ``replicates`` (independent MDP/policy draws). Fixed: ``n_episodes`` per draw, subtask
    ``steps``, ``n_actions``, distractor ``slip``, ``group_size`` of the group estimators, ``free_switch``,
    and the calibration's ``target_success``.
    """

    n_subtasks: tuple[int, ...]
    lam: tuple[float, ...]
    gamma: tuple[float, ...]
    critic_noise: tuple[float, ...]
    replicates: int
    n_episodes: int
    steps: int = 2
    n_actions: int = 4
    slip: float = 0.5
    group_size: int = 8
    free_switch: bool = True
    target_success: float = 0.5
    critic_ev: tuple[float, ...] = ()
    """noise-implied explained variances of the critic-quality sweep (1: exact critic); empty: no sweep"""
    lam_boundary: tuple[float, ...] = (0.0, 1.0)
    """HAE's lam_boundary values in the critic-quality sweep (0: the paper's HAE)"""


QUICK = Grid((1, 2, 3, 4), (0.95, 1.0), (0.95, 1.0), (0.0, 0.1), replicates=4, n_episodes=2048)
GRIDS: dict[str, Grid] = {
    "quick": QUICK,
    # The quick grid plus the critic-quality sweep (about 1.5x its time): measured explained variance from
    # the exact critic's (0.1-0.35) down past 0, through the 0.03-0.08 the runs' critics reach.
    "horizons": replace(QUICK, critic_ev=(1.0, 0.8, 0.7, 0.6)),
    "full": Grid(
        (1, 2, 3, 4, 5, 6),
        (0.5, 0.8, 0.95, 1.0),
        (0.95, 0.99, 1.0),
        (0.0, 0.05, 0.1, 0.2),
        replicates=16,
        n_episodes=8192,
        critic_ev=(1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.4),
    ),
}


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def calibrated_policy(
    mdp: ChainMDP, *, seed: int, target: float = 0.5, free_switch: bool = True, iterations: int = 24
) -> TabularPolicy:
    """``init_policy`` at the competence c in [0, 8] where P(success) = J(gamma = 1) ~ ``target``.

    Competence scales the policy's structure together: skill = 3c, plan = commit = c (c = 0: noise only).
    J grows with c; found by bisection. When even c = 0 succeeds more often than ``target`` (short chains)
    c stays 0, and when c = 8 does not reach it c stays 8.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must lie in (0, 1), got {target!r}")

    def policy(c: float) -> TabularPolicy:
        return init_policy(mdp, seed=seed, skill=3 * c, plan=c, commit=c, free_switch=free_switch)

    def success(c: float) -> float:
        with torch.no_grad():
            return float(exact_values(mdp, policy(c), 1.0, method="layers").objective)

    lo, hi = 0.0, 8.0
    if success(lo) >= target:
        hi = lo
    elif success(hi) <= target:
        lo = hi
    for _ in range(iterations if lo < hi else 0):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if success(mid) < target else (lo, mid)
    return policy(0.5 * (lo + hi))


class _Sweep:
    """The critic-quality sweep's arrays (module docstring), filled one (K, replicate) at a time."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.gamma, self.lam = max(grid.gamma), max(grid.lam)
        n_k, n_b, n_c, n_r = (
            len(grid.n_subtasks),
            len(grid.lam_boundary),
            len(grid.critic_ev),
            grid.replicates,
        )
        self.moments = {
            k: np.full((len(SWEEP_ESTIMATORS), n_k, n_b, n_c, n_r), np.nan)
            for k in ("sweep_bias_sq", "sweep_variance")
        }
        self.ev = np.full((n_k, n_c, n_r, len(HEADS)), np.nan)
        self.sigma = np.full((n_k, n_c, n_r), np.nan)

    def run(self, ik: int, r: int, policy, episodes, critics0, exact, *, seed: int) -> None:
        """Every sweep cell of one MDP draw: ``critics0`` and ``exact`` at the sweep's gamma."""
        g = self.grid
        var_return = return_variance(episodes, self.gamma)
        for ic, target in enumerate(g.critic_ev):
            sigma = sigma_for(target, var_return)
            critics = noisy_critics(critics0, sigma, seed=_seed(seed, ic))
            self.sigma[ik, ic, r] = sigma
            self.ev[ik, ic, r] = list(measured_ev(episodes, critics, self.gamma).values())
            for ie, name in enumerate(SWEEP_ESTIMATORS):
                for ib, lam_b in enumerate(g.lam_boundary if name == "hae" else g.lam_boundary[:1]):
                    adv = turn_advantages(
                        name, policy, episodes, critics, gamma=self.gamma, lam=self.lam, lam_boundary=lam_b
                    )
                    stats = gradient_moments(episode_gradients(policy, episodes, adv, self.gamma), exact)
                    self.moments["sweep_bias_sq"][ie, ik, ib, ic, r] = stats["bias_sq_debiased"]
                    self.moments["sweep_variance"][ie, ik, ib, ic, r] = stats["variance"]
            for arr in self.moments.values():  # flat GAE reads no lam_boundary: repeat its one cell
                arr[SWEEP_ESTIMATORS.index("gae"), ik, :, ic, r] = arr[
                    SWEEP_ESTIMATORS.index("gae"), ik, 0, ic, r
                ]

    def variables(self) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
        dims = ("sweep_estimator", "K", "lam_boundary", "critic_ev", "replicate")
        return {
            **{k: (dims, v) for k, v in self.moments.items()},
            "sweep_explained_variance": (("K", "critic_ev", "replicate", "head"), self.ev),
            "sweep_sigma": (("K", "critic_ev", "replicate"), self.sigma),
        }

    def coords(self) -> dict[str, list]:
        return {
            "sweep_estimator": list(SWEEP_ESTIMATORS),
            "lam_boundary": list(self.grid.lam_boundary),
            "critic_ev": list(self.grid.critic_ev),
        }


def run_grid(grid: Grid, seed: int = 0, progress: Callable[[str], None] | None = None) -> xr.Dataset:
    """Evaluate every cell of ``grid`` (module docstring); same grid and seed, same dataset."""
    if grid.replicates < 1 or grid.n_episodes < 2 or grid.n_episodes % grid.group_size:
        raise ValueError(
            f"grid needs replicates >= 1 and n_episodes a multiple of group_size={grid.group_size}, got "
            f"replicates={grid.replicates}, n_episodes={grid.n_episodes}"
        )
    if not all(c <= 1.0 for c in grid.critic_ev) or not all(0.0 <= b <= 1.0 for b in grid.lam_boundary):
        raise ValueError(
            f"grid needs critic_ev <= 1 and lam_boundary in [0, 1], got critic_ev={grid.critic_ev}, "
            f"lam_boundary={grid.lam_boundary}"
        )
    if grid.critic_ev and not grid.lam_boundary:
        raise ValueError("grid with a critic_ev sweep needs at least one lam_boundary")
    shape = (len(ESTIMATORS), len(grid.n_subtasks), len(grid.lam), len(grid.gamma))
    shape += (len(grid.critic_noise), grid.replicates)
    moments = {k: np.full(shape, np.nan) for k in MOMENTS}
    block_var = np.full((*shape, len(BLOCKS)), np.nan)
    per_gamma = {k: np.full((shape[1], shape[3], shape[5]), np.nan) for k in ("objective", "grad_norm")}
    per_draw = {k: np.full((shape[1], shape[5]), np.nan) for k in ("success", "length", "segments")}
    ev = np.full((shape[1], shape[3], shape[4], shape[5], len(HEADS)), np.nan)
    ev_noise = np.full((shape[1], shape[3], shape[4], shape[5]), np.nan)
    sweep = _Sweep(grid)

    for ik, k in enumerate(grid.n_subtasks):
        for r in range(grid.replicates):
            mdp = make_chain_mdp(
                k, steps=grid.steps, n_actions=grid.n_actions, slip=grid.slip, seed=_seed(seed, k, r, 1)
            )
            policy = calibrated_policy(
                mdp, seed=_seed(seed, k, r, 2), target=grid.target_success, free_switch=grid.free_switch
            )
            blocks = policy.block_slices()
            episodes = sample_episodes(mdp, policy, grid.n_episodes, seed=_seed(seed, k, r, 3))
            per_draw["success"][ik, r] = float(episodes.won.double().mean())
            per_draw["length"][ik, r] = float(episodes.length.double().mean())
            per_draw["segments"][ik, r] = float((episodes.switch & episodes.mask).sum(1).double().mean())
            for ig, gamma in enumerate(grid.gamma):
                objective, exact = exact_gradient(mdp, policy, gamma)
                per_gamma["objective"][ik, ig, r] = objective
                per_gamma["grad_norm"][ik, ig, r] = float(exact.norm())
                critics0 = exact_critics(exact_values(mdp, policy, gamma))
                var_return = return_variance(episodes, gamma)
                for ic, noise in enumerate(grid.critic_noise):
                    critics = noisy_critics(critics0, noise, seed=_seed(seed, k, r, 4, ig, ic))
                    ev[ik, ig, ic, r] = list(measured_ev(episodes, critics, gamma).values())
                    ev_noise[ik, ig, ic, r] = noise_ev(noise, var_return)
                    for il, lam in enumerate(grid.lam):
                        for ie, name in enumerate(ESTIMATORS):
                            if name not in USES_CRITIC and (il or ic):
                                continue  # filled from the first cell below
                            adv = turn_advantages(
                                name,
                                policy,
                                episodes,
                                critics,
                                gamma=gamma,
                                lam=lam,
                                group_size=grid.group_size,
                            )
                            g = episode_gradients(policy, episodes, adv, gamma)
                            stats = gradient_moments(g, exact, blocks)
                            cell = (ie, ik, il, ig, ic, r)
                            for key in MOMENTS:
                                moments[key][cell] = stats[key]
                            block_var[cell] = [stats[f"variance_{b}"] for b in BLOCKS]
                if gamma == max(grid.gamma):
                    sweep.run(ik, r, policy, episodes, critics0, exact, seed=_seed(seed, k, r, 5))
            if progress is not None:
                progress(f"K={k} replicate={r} done")

    # critic-free estimators: copy their one cell along lambda and critic noise
    for ie, name in enumerate(ESTIMATORS):
        if name not in USES_CRITIC:
            for arr in (*moments.values(), block_var):
                arr[ie] = arr[ie, :, :1, :, :1]

    dims = ("estimator", "K", "lam", "gamma", "critic_noise", "replicate")
    data = {k: (dims, v) for k, v in moments.items()}
    data["block_variance"] = ((*dims, "block"), block_var)
    data |= {k: (("K", "gamma", "replicate"), v) for k, v in per_gamma.items()}
    data |= {k: (("K", "replicate"), v) for k, v in per_draw.items()}
    data["explained_variance"] = (("K", "gamma", "critic_noise", "replicate", "head"), ev)
    data["explained_variance_noise"] = (("K", "gamma", "critic_noise", "replicate"), ev_noise)
    coords = {
        "estimator": list(ESTIMATORS),
        "K": list(grid.n_subtasks),
        "lam": list(grid.lam),
        "gamma": list(grid.gamma),
        "critic_noise": list(grid.critic_noise),
        "replicate": np.arange(grid.replicates),
        "block": list(BLOCKS),
        "head": list(HEADS),
    }
    if grid.critic_ev:
        data |= sweep.variables()
        coords |= sweep.coords()
    ds = xr.Dataset(data, coords=coords)
    for name, (long_name, units) in (ATTRS | (SWEEP_ATTRS if grid.critic_ev else {})).items():
        ds[name].attrs.update(long_name=long_name, units=units)
    ds["K"].attrs.update(long_name="subtasks K", units="subtasks")
    ds["lam"].attrs.update(long_name="lambda (lam_low = lam_high)", units="1")
    ds["gamma"].attrs.update(long_name="discount gamma", units="1")
    ds["critic_noise"].attrs.update(long_name="critic error standard deviation", units="1")
    ds["head"].attrs.update(long_name="value head: V_low, V_high (at segment starts), flat V_term")
    if grid.critic_ev:
        ds["critic_ev"].attrs.update(
            long_name="explained variance the critic noise implies, 1 - sigma^2/Var G"
        )
        ds["lam_boundary"].attrs.update(long_name="HAE lam_boundary (0: the paper's)", units="1")
    ds.attrs.update(_provenance(grid, seed))
    return ds


def _provenance(grid: Grid, seed: int) -> dict[str, str | int]:
    import h5netcdf

    versions = {
        "hiper_repro": _package_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "xarray": xr.__version__,
        "h5netcdf": h5netcdf.__version__,
    }
    return {
        "title": "hiper-repro exact-gradient lab",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": int(seed),
        "grid": json.dumps(asdict(grid)),
        "library_versions": json.dumps(versions),
    }


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hiper-repro")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def variance_ratio(ds: xr.Dataset, numerator: str = "hae", denominator: str = "gae") -> xr.DataArray:
    """variance[numerator] / variance[denominator], cell by cell (paired: same episodes)."""
    for name in (numerator, denominator):
        if name not in ds["estimator"].values:
            raise ValueError(f"estimator {name!r} not in the dataset: {list(ds['estimator'].values)}")
    v = ds["variance"]
    return (v.sel(estimator=numerator) / v.sel(estimator=denominator)).rename("variance_ratio")


def write_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` (netCDF4 via h5netcdf) atomically."""
    with atomic_target(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)
