"""From credit to a parameter update: per-token advantages, scoring turns, minibatch losses, the step.

Scoring is the agent's `score_turns` (log-probs, entropies, values where the rollout read them); this
module gives each response token its block's advantage, each value slot its target, and runs
epochs x minibatches of PPO through accelerate.

Data parallelism: every process holds its own turns; losses are token sums divided by the *global*
count of loss-carrying tokens (turns for value losses) over the world size, so DDP's gradient average
equals the one-process token mean on the union of the batches.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from hiper_repro.train.losses import clipped_value_loss, k3_terms, kl_k3, ppo_clip_loss, token_mean

if TYPE_CHECKING:
    from hiper_repro.agent.policy import Policy
    from hiper_repro.agent.rollout import TurnTokens
    from hiper_repro.train.config import PPOConfig
    from hiper_repro.train.methods import Credit

# Value slots regressed by the update, in TurnScores order; `credit.targets` uses the same names.
# "low_prev" is V_low(s_t, o_{t-1}) read at the prompt end (the paper's switch form needs it).
VALUE_SLOTS = ("low", "high", "term", "low_prev")
BLOCK_SWITCH, BLOCK_SUBGOAL, BLOCK_ACTION = 1, 2, 3


class TurnScorer(nn.Module):
    """forward(turns) -> per-token log-probs and entropies of the policy at the sampling temperature, and
    per-turn values (N, 4 slots) from the policy's heads or, given one, a separate critic model.

    A module of its own so that `accelerator.prepare` can wrap it (DDP hooks run on `forward`, over the
    policy and the critic alike); the scoring itself is the agent's `score_turns` / `score_values`, which
    read values where the rollout read them. Log-probs are taken at `temperature`, the temperature the
    rollout sampled at, so the first ratio of an update is exactly 1 whatever that temperature is.
    """

    def __init__(self, policy: Policy, critic: Policy | None = None, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 (log-probs of sampled tokens), got {temperature}")
        self.policy = policy
        self.critic = critic
        self.temperature = temperature

    def forward(self, turns: list[TurnTokens], reference: bool = False) -> dict[str, Tensor]:
        from hiper_repro.agent.scoring import score_turns, score_values

        sc = score_turns(
            self.policy,
            turns,
            self.policy.pad_id,
            temperature=self.temperature,
            reference=reference,
            with_values=self.critic is None,
        )
        slots = {name: getattr(sc, f"value_{name}") for name in VALUE_SLOTS}
        if self.critic is not None and not reference:
            critic = score_values(self.critic, turns, self.critic.pad_id)
            slots = {name: critic[f"value_{name}"] for name in VALUE_SLOTS}
        values = torch.stack([slots[name] for name in VALUE_SLOTS], dim=-1)
        out = {"logprobs": sc.logprobs, "entropy": sc.entropy, "token_mask": sc.mask, "values": values}
        if sc.features is not None:
            out["features"] = sc.features
        return out


@dataclass
class TurnBatch:
    """An iteration's real turns, flattened in rollout order, with everything the update needs.

    Token tensors are (N, R) padded to the longest response; per-turn tensors are (N, 4) over VALUE_SLOTS.
    """

    turns: list[Any]
    advantages: Tensor
    """(N, R) advantage of each response token (its block's); NaN: no policy loss on that token"""
    old_logprobs: Tensor | None
    """(N, R) log-probs under the policy that sampled, re-scored before the first optimizer step; None
    until `ppo_update` fills them from its first minibatch's own forward (`prepare_batch(rescore=False)`)"""
    ref_logprobs: Tensor | None
    """(N, R) log-probs under the reference policy (None when kl_coef = 0)"""
    old_values: Tensor | None
    """(N, 4) values before the update (clip centre), NaN where the policy lacks the head; None with
    `old_logprobs`"""
    targets: Tensor
    """(N, 4) value targets; NaN where a slot has no loss on that turn"""
    features: Tensor | None = None
    """(N, 2, H) the policy's hidden states its value heads read, from the re-scoring pass (None with a
    separate critic): a detached critic fits on them (`fit_critic`)"""


def token_advantages(turns: list[TurnTokens], credit: Credit, rmax: int) -> Tensor:
    """(N, R) advantages: each response token takes the advantage of its block, others NaN.

    On an invalid turn (`credit.invalid`) the tokens outside any block take the turn's action advantage,
    which carries the invalid-output penalty: otherwise a reply that lost its format would get no loss
    at all, and nothing would pull the policy back once it drifts off the format (seen on the quick
    preset: a run's invalid rate went 0.1 -> 1.0 in four iterations). Valid turns are as the spec says.
    """
    n = len(turns)
    b = torch.tensor([tt.b for tt in turns])
    t = torch.tensor([tt.t for tt in turns])
    per_block = torch.full((n, 4), float("nan"))
    per_block[:, BLOCK_SWITCH] = credit.adv_switch[b, t].float().cpu()
    per_block[:, BLOCK_SUBGOAL] = credit.adv_subgoal[b, t].float().cpu()
    per_block[:, BLOCK_ACTION] = credit.adv_action[b, t].float().cpu()
    if credit.invalid is not None:
        per_block[:, 0] = torch.where(credit.invalid[b, t].cpu(), per_block[:, BLOCK_ACTION], float("nan"))
    block = torch.zeros((n, rmax), dtype=torch.long)
    for i, tt in enumerate(turns):
        block[i, : len(tt.block)] = torch.as_tensor(tt.block).long()
    return per_block.gather(1, block)  # block 0 (no block) reads column 0: NaN unless the turn is invalid


def value_targets(turns: list[TurnTokens], credit: Credit) -> Tensor:
    """(N, 4) targets per turn and VALUE_SLOTS from `credit.targets`, NaN where a slot has none."""
    b = torch.tensor([tt.b for tt in turns])
    t = torch.tensor([tt.t for tt in turns])
    cols = []
    for name in VALUE_SLOTS:
        tgt = credit.targets.get(name)
        cols.append(torch.full((len(turns),), float("nan")) if tgt is None else tgt[b, t].float().cpu())
    return torch.stack(cols, dim=-1)


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


def by_length(turns: list[TurnTokens], rows: list[int], chunk: int) -> list[list[int]]:
    """`rows` sorted by sequence length (prompt + response) and cut into chunks of at most `chunk`, so each
    padded pass is about as wide as its rows: rows are independent, so only float rounding can change."""
    order = sorted(rows, key=lambda i: (len(turns[i].prompt_ids) + len(turns[i].response_ids), i))
    return [order[s : s + chunk] for s in range(0, len(order), chunk)]


@torch.no_grad()
def score_rows(
    scorer: TurnScorer, batch: TurnBatch, rows: list[int], chunk: int = 64, reference: bool = False
) -> None:
    """Fill `batch`'s old log-probs, values and features (or, with `reference`, its reference log-probs)
    at `rows` from no-grad forwards over length-sorted chunks."""
    for part in by_length(batch.turns, rows, chunk):
        out = scorer([batch.turns[i] for i in part], reference=reference)
        sel = torch.tensor(part)
        r = out["logprobs"].shape[1]
        if reference:
            batch.ref_logprobs[sel, :r] = out["logprobs"].float().cpu()
            continue
        batch.old_logprobs[sel, :r] = out["logprobs"].float().cpu()
        batch.old_values[sel] = out["values"].float().cpu()
        if "features" in out:
            batch.features[sel] = out["features"].float().cpu()


def _allocate_old(scorer: TurnScorer, batch: TurnBatch) -> None:
    """Zero-filled old log-probs and values (and features when the policy's heads are the critic)."""
    n, rmax = batch.advantages.shape
    batch.old_logprobs = torch.zeros((n, rmax))
    batch.old_values = torch.zeros((n, len(VALUE_SLOTS)))
    if scorer.critic is None:  # a critic on the policy's heads: keep what they read (fit_critic)
        batch.features = torch.zeros((n, 2, scorer.policy.hidden_size))


@torch.no_grad()
def prepare_batch(
    scorer: TurnScorer,
    turns: list[TurnTokens],
    credit: Credit,
    kl_coef: float,
    chunk: int = 64,
    rescore: bool = True,
) -> TurnBatch:
    """Attach credit to the sampled turns; score the reference (when `kl_coef` > 0) and, with `rescore`,
    the current (= old) policy.

    Re-scoring at the scorer's temperature (the sampling one) makes the first ratio 1 whatever the sampler
    computed (kernels, batch shapes). `rescore=False` leaves the old log-probs, values and features to
    `ppo_update`, which takes them from its first minibatch's own forward (the policy has not moved
    yet, so they are the same quantities) and scores only the other turns: one forward over the batch
    less per iteration, and a first ratio that is exactly 1.
    """
    n = len(turns)
    rmax = max(max((len(tt.response_ids) for tt in turns), default=1), 1)
    batch = TurnBatch(
        turns=turns,
        advantages=token_advantages(turns, credit, rmax),
        old_logprobs=None,
        ref_logprobs=torch.zeros((n, rmax)) if kl_coef > 0 else None,
        old_values=None,
        targets=value_targets(turns, credit),
    )
    if batch.ref_logprobs is not None:
        score_rows(scorer, batch, list(range(n)), chunk, reference=True)
    if rescore:
        _allocate_old(scorer, batch)
        score_rows(scorer, batch, list(range(n)), chunk)
    return batch


@torch.no_grad()
def policy_drift(scorer: nn.Module, batch: TurnBatch, max_turns: int, chunk: int = 64) -> float:
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
        out = scorer([batch.turns[i] for i in part])
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


def ppo_update(
    accelerator: Any,
    scorer: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: TurnBatch,
    ppo: PPOConfig,
    generator: torch.Generator,
    train_policy: bool = True,
) -> dict[str, float]:
    """Epochs x minibatches of PPO on `batch` (at most `ppo.max_steps_per_iteration` optimizer steps);
    returns the mean of each diagnostic over minibatches, `optimizer_steps`, and `approx_kl`, the
    policy's drift measured after the update on `ppo.kl_probe_turns` turns (`policy_drift`).

    Every process runs the same number of minibatches (from the global turn count), so DDP's collective
    gradient average always pairs up; a process with fewer turns runs zero-weight passes.

    With `ppo.microbatch_turns` > 0 each minibatch is scored in passes of at most that many turns per
    process, gradients accumulating until the one optimizer step. Every loss term is a sum divided by
    the whole minibatch's global count, so the accumulated gradient equals the single-pass one (up to
    float rounding): only peak memory changes.
    """
    device = accelerator.device
    world = accelerator.num_processes
    n_local = len(batch.turns)
    # Every process's turn count, once: the minibatch count comes from their sum, the passes per
    # minibatch from the largest local minibatch, so both agree on every process (DDP pairs up).
    sizes = accelerator.gather(torch.tensor([n_local], device=device))
    n_mb = n_minibatches(int(sizes.sum()), ppo.minibatch_turns)
    largest = math.ceil(int(sizes.max()) / n_mb)  # tensor_split's largest part
    n_micro = max(1, math.ceil(largest / ppo.microbatch_turns)) if ppo.microbatch_turns > 0 else 1
    max_steps = ppo.max_steps_per_iteration or ppo.epochs * n_mb
    params = [p for g in optimizer.param_groups for p in g["params"]]
    learner = accelerator.unwrap_model(scorer)  # no-grad passes need no gradient sync
    deferred = batch.old_logprobs is None  # old quantities come from the first minibatch's forward
    if deferred:
        _allocate_old(learner, batch)
    lengths = torch.tensor([len(tt.prompt_ids) + len(tt.response_ids) for tt in batch.turns])
    sums: dict[str, float] = {}
    count = 0
    stopped = False  # by ppo.target_kl
    scorer.train()
    for _ in range(ppo.epochs):
        if stopped:
            break
        for idx in minibatch_slices(n_local, n_mb, generator):
            if count == max_steps:
                break
            local = _loss_counts(batch, idx)
            counts = accelerator.reduce(local.to(device), reduction="sum")
            stats: dict[str, float] = {}
            # Passes of similar lengths pad little; the gradient is a sum over the minibatch either way.
            by_len = idx[torch.argsort(lengths[idx], stable=True)] if n_micro > 1 else idx
            for j, micro in enumerate(torch.tensor_split(by_len, n_micro)):
                turns, mb = _select(batch, micro, device)
                last = j == n_micro - 1
                with contextlib.nullcontext() if last else accelerator.no_sync(scorer):
                    out = scorer(turns)
                    if deferred and count == 0:  # the policy has not moved: its outputs are the old ones
                        _keep_old(batch, micro, out, mb)
                    mb["token_mask"] = out["token_mask"]
                    loss, part = minibatch_loss(
                        out, mb, ppo, train_policy, counts[0] / world, counts[1:] / world
                    )
                    accelerator.backward(loss)
                if n_micro > 1:
                    share = _loss_counts(batch, micro) / local.clamp_min(1)
                    weights = {k: float(share[0]) for k in _TOKEN_MEANS}
                    weights |= {k: float(share[1 + VALUE_SLOTS.index("low")]) for k in _TURN_MEANS}
                    part = {k: v * weights.get(k, 1.0) for k, v in part.items()}
                for k, v in part.items():
                    stats[k] = stats.get(k, 0.0) + v
            if ppo.target_kl > 0 and count > 0:  # the policy has moved: stop once it moved too far
                kl_now = accelerator.reduce(torch.tensor(stats["drift_k3"], device=device), "mean")
                if float(kl_now) > ppo.target_kl:
                    optimizer.zero_grad(set_to_none=True)
                    stopped = True
                    break
            if deferred and count == 0:  # every other turn's old quantities, before the policy moves
                first = set(idx.tolist())
                score_rows(learner, batch, [i for i in range(n_local) if i not in first])
            grad_norm = accelerator.clip_grad_norm_(params, ppo.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            stats["grad_norm"] = float(grad_norm)
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
    scorer.eval()
    out = {k: v / max(count, 1) for k, v in sums.items()}
    out["optimizer_steps"] = float(count)
    out["kl_stopped"] = float(stopped)
    # Unwrapped: a no-grad forward needs no gradient sync, and processes may score different counts.
    drift = policy_drift(learner, batch, ppo.kl_probe_turns) if train_policy else 0.0
    out["approx_kl"] = drift
    return out


@torch.no_grad()
def cached_features(learner: TurnScorer, turns: list[TurnTokens], chunk: int = 64) -> Tensor:
    """(N, 2, H) hidden states of the policy's trunk where its (detached) heads read values."""
    from hiper_repro.agent.scoring import score_values

    policy = learner.policy
    parts = [score_values(policy, turns[s : s + chunk], policy.pad_id, with_features=True)["features"]
             for s in range(0, len(turns), chunk)]  # fmt: skip
    return torch.cat(parts).float()


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
