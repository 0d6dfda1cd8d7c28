"""The optimisation: epochs x minibatches of PPO on a prepared `TurnBatch`, and the critic's extra fit.

`ppo_update` runs the losses of `train.losses` (PPO-clip, k3 KL, entropy, clipped value losses) over
minibatches through accelerate, in passes of at most `ppo.microbatch_turns` turns whose gradients
accumulate before each step; `fit_critic` runs value-only passes afterwards. Building the batch (token
advantages, value targets, re-scoring) is `train.batch`.

Data parallelism: every process holds its own turns; losses are token sums divided by the *global*
count of loss-carrying tokens (turns for value losses) over the world size, so DDP's gradient average
equals the one-process token mean on the union of the batches.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from hiper_repro.train.batch import (
    VALUE_SLOTS,
    TurnBatch,
    TurnScorer,
    allocate_old,
    by_length,
    cached_features,
    score_rows,
)
from hiper_repro.train.losses import clipped_value_loss, k3_terms, kl_k3, ppo_clip_loss, token_mean

if TYPE_CHECKING:
    from hiper_repro.train.config import PPOConfig


def value_loss(
    values: Tensor, old_values: Tensor, targets: Tensor, denoms: Tensor, ppo: PPOConfig
) -> tuple[Tensor, dict[str, tuple[Tensor, Tensor]]]:
    """value_coef * sum over VALUE_SLOTS of the clipped value loss, and each slot's (loss, clip fraction).

    `values`, `old_values` and `targets` are (N, 4) in VALUE_SLOTS order, targets NaN where a slot has no
    loss on a turn; each slot's loss is its sum divided by `denoms[slot]`, and a slot whose denominator is
    0 (no process has a target for it) is left out.
    """
    total = torch.zeros((), device=values.device)
    per_slot = {}
    for i, name in enumerate(VALUE_SLOTS):
        if float(denoms[i]) == 0:
            continue
        tgt = targets[:, i]
        vl, vfrac = clipped_value_loss(
            values[:, i], old_values[:, i], tgt, torch.isfinite(tgt), ppo.value_clip, denoms[i]
        )
        total = total + ppo.value_coef * vl
        per_slot[name] = (vl, vfrac)
    return total, per_slot


def minibatch_loss(
    out: dict[str, Tensor],
    mb: dict[str, Tensor],
    ppo: PPOConfig,
    train_policy: bool,
    token_denom: Tensor,
    value_denoms: Tensor,
) -> tuple[Tensor, dict[str, float]]:
    """Total loss of one minibatch and its diagnostics.

    L = L_clip + kl_coef * KL_k3 - entropy_coef * H + value_coef * sum_slots L_value(slot); the policy
    terms only when `train_policy` (False: a skipped batch or critic warm-up trains the values alone).
    `token_denom` and `value_denoms` (one per value slot) are the global counts divided by the world size.
    """
    adv = mb["advantages"]
    tok = mb["token_mask"] & torch.isfinite(adv)
    pg, clip_frac, approx_kl = ppo_clip_loss(
        out["logprobs"], mb["old_logprobs"], adv, tok, ppo.clip, token_denom
    )
    ent = token_mean(out["entropy"], tok, token_denom)
    kl = (
        kl_k3(out["logprobs"], mb["ref_logprobs"], tok, token_denom)
        if ppo.kl_coef > 0
        else torch.zeros((), device=adv.device)
    )
    total = torch.zeros((), device=adv.device)
    if train_policy:
        total = pg + ppo.kl_coef * kl - ppo.entropy_coef * ent
    stats = {
        "loss_policy": pg.item(),
        "kl_ref": kl.item(),
        "entropy": ent.item(),
        "clip_fraction": clip_frac.item(),
    }
    stats["drift_k1"] = approx_kl.item()
    with torch.no_grad():  # the same drift as a k3 estimate, never negative: what ppo.target_kl compares
        log_ratio = torch.where(tok, out["logprobs"] - mb["old_logprobs"], torch.zeros_like(adv))
        stats["drift_k3"] = float(k3_terms(log_ratio)[tok].sum() / tok.sum().clamp_min(1))
    value_total, per_slot = value_loss(out["values"], mb["old_values"], mb["targets"], value_denoms, ppo)
    total = total + value_total
    for name, (vl, vfrac) in per_slot.items():
        stats[f"loss_value_{name}"] = vl.item()
        if name == "low":
            stats["value_clip_fraction"] = vfrac.item()
    # Keep every parameter in the graph (DDP waits for all gradients, even zero ones).
    total = total + 0.0 * (out["logprobs"].sum() + torch.nan_to_num(out["values"]).sum())
    return total, stats


def minibatch_slices(n_local: int, n_minibatches: int, generator: torch.Generator) -> list[Tensor]:
    """Shuffle this process's turns and split them into `n_minibatches` near-equal parts (some may be empty)."""
    perm = torch.randperm(n_local, generator=generator)
    return list(torch.tensor_split(perm, n_minibatches))


def n_minibatches(global_turns: int, minibatch_turns: int) -> int:
    return max(1, math.ceil(global_turns / minibatch_turns))


@torch.no_grad()
def policy_drift(learner: nn.Module, batch: TurnBatch, max_turns: int, chunk: int = 64) -> float:
    """KL(old || new) after an update: the k3 estimate mean(r - 1 - log r), r = pi_new / pi_old, over the
    loss-carrying response tokens of an evenly spaced subset of at most `max_turns` turns (0: NaN).

    Measured after the last optimizer step, so it sees the whole update (a per-minibatch estimate taken
    before each step reads 0 when an iteration has a single minibatch).
    """
    n = len(batch.turns)
    if max_turns <= 0 or n == 0:
        return float("nan")
    idx = torch.linspace(0, n - 1, min(n, max_turns)).round().long().unique()
    total, count = 0.0, 0
    for part in by_length(batch.turns, idx.tolist(), chunk):
        rows = torch.tensor(part)
        out = learner([batch.turns[i] for i in part])
        r = out["logprobs"].shape[1]
        old = batch.old_logprobs[rows, :r].to(out["logprobs"].device)
        carries = out["token_mask"] & torch.isfinite(batch.advantages[rows, :r]).to(old.device)
        log_ratio = torch.where(carries, out["logprobs"] - old, torch.zeros_like(old))
        total += float(k3_terms(log_ratio)[carries].sum())
        count += int(carries.sum())
    return total / count if count else float("nan")


def _select(batch: TurnBatch, idx: Tensor, device: Any) -> tuple[list[Any], dict[str, Tensor]]:
    """The turns `idx` and their rows of the batch's per-token and per-turn tensors."""
    dummy = len(idx) == 0  # this process has no turns for this minibatch: run a zero-weight pass
    rows = [0] if dummy else idx.tolist()
    turns = [batch.turns[i] for i in rows]
    r = max(max(len(tt.response_ids) for tt in turns), 1)
    sel = torch.tensor(rows)
    # A deferred batch holds zeros here until `ppo_update`'s first forward replaces them (`_keep_old`).
    old_lp = batch.old_logprobs
    mb = {
        "advantages": batch.advantages[sel, :r],
        "old_logprobs": old_lp[sel, :r],
        "ref_logprobs": batch.ref_logprobs[sel, :r] if batch.ref_logprobs is not None else old_lp[sel, :r],
        "old_values": batch.old_values[sel],
        "targets": batch.targets[sel],
    }
    if dummy:
        mb["advantages"] = torch.full_like(mb["advantages"], float("nan"))
        mb["targets"] = torch.full_like(mb["targets"], float("nan"))
    return turns, {k: v.to(device) for k, v in mb.items()}


# Diagnostics that are means over the micro-batch's own tokens (or turns), not sums over a shared
# denominator: across micro-batches they combine weighted by those counts.
_TOKEN_MEANS = ("clip_fraction", "drift_k1", "drift_k3")
_TURN_MEANS = ("value_clip_fraction",)


def _loss_counts(batch: TurnBatch, idx: Tensor) -> Tensor:
    """(1 + slots,) float: tokens with a policy loss, then turns with a target per value slot, in `idx`."""
    lengths = torch.tensor([len(batch.turns[i].response_ids) for i in idx.tolist()], dtype=torch.long)
    adv = batch.advantages[idx]
    tokens = (torch.isfinite(adv) & (torch.arange(adv.shape[1])[None, :] < lengths[:, None])).sum()
    return torch.cat([tokens[None], torch.isfinite(batch.targets[idx]).sum(0)]).float()


def _keep_old(batch: TurnBatch, micro: Tensor, out: dict[str, Tensor], mb: dict[str, Tensor]) -> None:
    """Before the first step: the forward's own (detached) log-probs and values are the old ones. Store
    them in `batch` at rows `micro` and use them as this pass's ratio denominator and value-clip centre."""
    if len(micro) == 0:  # a zero-weight pass of a process without turns here: nothing to keep
        return
    old_lp, old_v = out["logprobs"].detach(), out["values"].detach()
    r = old_lp.shape[1]
    batch.old_logprobs[micro, :r] = old_lp.float().cpu()
    batch.old_values[micro] = old_v.float().cpu()
    if batch.features is not None and "features" in out:
        batch.features[micro] = out["features"].detach().float().cpu()
    mb["old_logprobs"], mb["old_values"] = old_lp, old_v
    if batch.ref_logprobs is None:  # kl_coef 0: the placeholder reference is the old policy, as before
        mb["ref_logprobs"] = old_lp


def _passes(accelerator: Any, n_local: int, ppo: PPOConfig) -> tuple[int, int]:
    """Minibatches per epoch and passes per minibatch, the same on every process (DDP pairs up): the
    minibatch count from the global turn count, the passes from the largest local minibatch."""
    sizes = accelerator.gather(torch.tensor([n_local], device=accelerator.device))
    n_mb = n_minibatches(int(sizes.sum()), ppo.minibatch_turns)
    largest = math.ceil(int(sizes.max()) / n_mb)  # tensor_split's largest part
    n_micro = max(1, math.ceil(largest / ppo.microbatch_turns)) if ppo.microbatch_turns > 0 else 1
    return n_mb, n_micro


def _accumulate(
    accelerator: Any,
    ddp_learner: nn.Module,
    batch: TurnBatch,
    idx: Tensor,
    n_micro: int,
    ppo: PPOConfig,
    train_policy: bool,
    keep_old: bool,
) -> dict[str, float]:
    """Forward and backward passes over minibatch `idx` in `n_micro` parts, gradients accumulating until
    the last pass (DDP syncs there); returns the minibatch's diagnostics, per-pass means weighted by their
    share of the minibatch's tokens (turns for value ones). With `keep_old` (a deferred batch's first
    minibatch, the policy not yet moved) each pass's outputs are also the old ones (`_keep_old`)."""
    device, world = accelerator.device, accelerator.num_processes
    local = _loss_counts(batch, idx)
    counts = accelerator.reduce(local.to(device), reduction="sum")
    stats: dict[str, float] = {}
    by_len = idx
    if n_micro > 1:  # passes of similar lengths pad little; the gradient is a sum over the minibatch
        turns = [batch.turns[i] for i in idx.tolist()]
        lengths = torch.tensor([len(tt.prompt_ids) + len(tt.response_ids) for tt in turns])
        by_len = idx[torch.argsort(lengths, stable=True)]
    for j, micro in enumerate(torch.tensor_split(by_len, n_micro)):
        turns, mb = _select(batch, micro, device)
        last = j == n_micro - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(ddp_learner):
            out = ddp_learner(turns)
            if keep_old:
                _keep_old(batch, micro, out, mb)
            mb["token_mask"] = out["token_mask"]
            loss, part = minibatch_loss(out, mb, ppo, train_policy, counts[0] / world, counts[1:] / world)
            accelerator.backward(loss)
        if n_micro > 1:
            share = _loss_counts(batch, micro) / local.clamp_min(1)
            weights = {k: float(share[0]) for k in _TOKEN_MEANS}
            weights |= {k: float(share[1 + VALUE_SLOTS.index("low")]) for k in _TURN_MEANS}
            part = {k: v * weights.get(k, 1.0) for k, v in part.items()}
        for k, v in part.items():
            stats[k] = stats.get(k, 0.0) + v
    return stats


def ppo_update(
    accelerator: Any,
    ddp_learner: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: TurnBatch,
    ppo: PPOConfig,
    generator: torch.Generator,
    train_policy: bool = True,
) -> dict[str, float]:
    """Epochs x minibatches of PPO on `batch` (at most `ppo.max_steps_per_iteration` optimizer steps);
    returns the mean of each diagnostic over minibatches, `optimizer_steps`, and `approx_kl`, the
    policy's drift measured after the update on `ppo.kl_probe_turns` turns (`policy_drift`).

    `ddp_learner` is the `TurnScorer` as `accelerator.prepare` wrapped it. Every process runs the same
    number of minibatches (from the global turn count), so DDP's collective gradient average always
    pairs up; a process with fewer turns runs zero-weight passes.

    With `ppo.microbatch_turns` > 0 each minibatch is scored in passes of at most that many turns per
    process, gradients accumulating until the one optimizer step. Every loss term is a sum divided by
    the whole minibatch's global count, so the accumulated gradient equals the single-pass one (up to
    float rounding): only peak memory changes.
    """
    n_local = len(batch.turns)
    n_mb, n_micro = _passes(accelerator, n_local, ppo)
    max_steps = ppo.max_steps_per_iteration or ppo.epochs * n_mb
    params = [p for g in optimizer.param_groups for p in g["params"]]
    learner = accelerator.unwrap_model(ddp_learner)  # no-grad passes need no gradient sync
    deferred = batch.old_logprobs is None  # old quantities come from the first minibatch's forward
    if deferred:
        allocate_old(learner, batch)
    sums: dict[str, float] = {}
    count = 0
    stopped = False  # by ppo.target_kl
    ddp_learner.train()
    for _ in range(ppo.epochs):
        if stopped:
            break
        for idx in minibatch_slices(n_local, n_mb, generator):
            if count == max_steps:
                break
            first = deferred and count == 0  # the policy has not moved: its outputs are the old ones
            stats = _accumulate(accelerator, ddp_learner, batch, idx, n_micro, ppo, train_policy, first)
            if ppo.target_kl > 0 and count > 0:  # the policy has moved: stop once it moved too far
                kl_now = accelerator.reduce(
                    torch.tensor(stats["drift_k3"], device=accelerator.device), "mean"
                )
                if float(kl_now) > ppo.target_kl:
                    optimizer.zero_grad(set_to_none=True)
                    stopped = True
                    break
            if first:  # every other turn's old quantities, before the policy moves
                taken = set(idx.tolist())
                score_rows(learner, batch, [i for i in range(n_local) if i not in taken])
            grad_norm = accelerator.clip_grad_norm_(params, ppo.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            stats["grad_norm"] = float(grad_norm)
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
    ddp_learner.eval()
    out = {k: v / max(count, 1) for k, v in sums.items()}
    out["optimizer_steps"] = float(count)
    out["kl_stopped"] = float(stopped)
    # Unwrapped: a no-grad forward needs no gradient sync, and processes may score different counts.
    out["approx_kl"] = policy_drift(learner, batch, ppo.kl_probe_turns) if train_policy else 0.0
    return out


def fit_critic(
    accelerator: Any,
    learner: TurnScorer,
    optimizer: torch.optim.Optimizer,
    batch: TurnBatch,
    ppo: PPOConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """`ppo.value_epochs` passes of the clipped value loss alone over the batch's turns (minibatches of
    `ppo.minibatch_turns`), after the PPO update; returns the mean value loss and the steps taken.

    A detached critic's heads read the policy's hidden states, which these passes do not change: they
    are the re-scoring pass's (`TurnBatch.features`, the policy that sampled the batch, one small update
    before the current one; `cached_features` computes them when absent) and each pass costs only the
    heads. A separate critic runs its own forward and backward passes. Only critic parameters get
    gradients; with several processes they are averaged by hand (these passes bypass the DDP wrapper), each loss a sum over the global count
    divided by the world size, as in `ppo_update`.
    """
    from hiper_repro.agent.scoring import score_values, values_from_features

    critic = learner.critic
    features = None
    if critic is None:
        features = batch.features if batch.features is not None else cached_features(learner, batch.turns)
    model = learner.policy if critic is None else critic
    params = [p for p in (model.heads if critic is None else model).parameters() if p.requires_grad]
    device, world = accelerator.device, accelerator.num_processes
    n_local = len(batch.turns)
    sizes = accelerator.gather(torch.tensor([n_local], device=device))
    n_mb = n_minibatches(int(sizes.sum()), ppo.minibatch_turns)
    losses, steps = 0.0, 0
    for _ in range(ppo.value_epochs):
        for idx in minibatch_slices(n_local, n_mb, generator):
            counts = accelerator.reduce(_loss_counts(batch, idx)[1:].to(device), reduction="sum") / world
            rows = idx.tolist() or [0]  # a process without turns here runs a zero-weight pass
            if critic is None:
                values = values_from_features(model, features[rows].to(device))
            else:
                values = score_values(critic, [batch.turns[i] for i in rows], critic.pad_id)
            targets = batch.targets[rows].to(device)
            if len(idx) == 0:
                targets = torch.full_like(targets, float("nan"))
            loss, _ = value_loss(
                torch.stack([values[f"value_{name}"] for name in VALUE_SLOTS], dim=-1),
                batch.old_values[rows].to(device),
                targets,
                counts,
                ppo,
            )
            loss = loss + 0.0 * sum(v.nan_to_num().sum() for v in values.values() if v.requires_grad)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if world > 1:
                for p in params:
                    p.grad = accelerator.reduce(p.grad if p.grad is not None else torch.zeros_like(p), "mean")
            torch.nn.utils.clip_grad_norm_(params, ppo.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses += float(loss.detach())  # a float of a tensor that requires grad warns
            steps += 1
    return {"loss_value_fit": losses / max(steps, 1), "value_steps": float(steps)}
