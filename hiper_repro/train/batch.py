"""Batch preparation: an iteration's turns with what the update needs, per token and per turn.

`prepare_batch` attaches credit to the sampled turns: each response token its block's advantage
(`token_advantages`), each value slot its target (`value_targets`), and scores the reference policy (and,
with `rescore`, the old one) through `TurnScorer`, the module the update differentiates. No-grad scoring
runs over length-sorted chunks (`by_length`, `score_rows`), so each padded pass is about as wide as its rows.
The optimisation itself is `train.update`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from hiper_repro.agent.policy import Policy
    from hiper_repro.agent.rollout import TurnTokens
    from hiper_repro.train.methods import Credit

# Value slots regressed by the update, in TurnScores order; `Credit.targets` uses the same names.
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


def token_advantages(turns: list[TurnTokens], assigned: Credit, rmax: int) -> Tensor:
    """(N, R) advantages: each response token takes the advantage of its block, others NaN.

    On an invalid turn (`assigned.invalid`) the tokens outside any block take the turn's action advantage,
    which carries the invalid-output penalty: otherwise a reply that lost its format would get no loss
    at all, and nothing would pull the policy back once it drifts off the format (seen on the quick
    preset: a run's invalid rate went 0.1 -> 1.0 in four iterations). Valid turns are as the spec says.
    """
    n = len(turns)
    b = torch.tensor([tt.b for tt in turns])
    t = torch.tensor([tt.t for tt in turns])
    per_block = torch.full((n, 4), float("nan"))
    per_block[:, BLOCK_SWITCH] = assigned.adv_switch[b, t].float().cpu()
    per_block[:, BLOCK_SUBGOAL] = assigned.adv_subgoal[b, t].float().cpu()
    per_block[:, BLOCK_ACTION] = assigned.adv_action[b, t].float().cpu()
    if assigned.invalid is not None:
        per_block[:, 0] = torch.where(assigned.invalid[b, t].cpu(), per_block[:, BLOCK_ACTION], float("nan"))
    block = torch.zeros((n, rmax), dtype=torch.long)
    for i, tt in enumerate(turns):
        block[i, : len(tt.block)] = torch.as_tensor(tt.block).long()
    return per_block.gather(1, block)  # block 0 (no block) reads column 0: NaN unless the turn is invalid


def value_targets(turns: list[TurnTokens], assigned: Credit) -> Tensor:
    """(N, 4) targets per turn and VALUE_SLOTS from `assigned.targets`, NaN where a slot has none."""
    b = torch.tensor([tt.b for tt in turns])
    t = torch.tensor([tt.t for tt in turns])
    cols = []
    for name in VALUE_SLOTS:
        tgt = assigned.targets.get(name)
        cols.append(torch.full((len(turns),), float("nan")) if tgt is None else tgt[b, t].float().cpu())
    return torch.stack(cols, dim=-1)


def by_length(turns: list[TurnTokens], rows: list[int], chunk: int) -> list[list[int]]:
    """`rows` sorted by sequence length (prompt + response) and cut into chunks of at most `chunk`, so each
    padded pass is about as wide as its rows: rows are independent, so only float rounding can change."""
    order = sorted(rows, key=lambda i: (len(turns[i].prompt_ids) + len(turns[i].response_ids), i))
    return [order[s : s + chunk] for s in range(0, len(order), chunk)]


@torch.no_grad()
def score_rows(
    learner: TurnScorer, batch: TurnBatch, rows: list[int], chunk: int = 64, reference: bool = False
) -> None:
    """Fill `batch`'s old log-probs, values and features (or, with `reference`, its reference log-probs)
    at `rows` from no-grad forwards over length-sorted chunks."""
    for part in by_length(batch.turns, rows, chunk):
        out = learner([batch.turns[i] for i in part], reference=reference)
        sel = torch.tensor(part)
        r = out["logprobs"].shape[1]
        if reference:
            batch.ref_logprobs[sel, :r] = out["logprobs"].float().cpu()
            continue
        batch.old_logprobs[sel, :r] = out["logprobs"].float().cpu()
        batch.old_values[sel] = out["values"].float().cpu()
        if "features" in out:
            batch.features[sel] = out["features"].float().cpu()


def allocate_old(learner: TurnScorer, batch: TurnBatch) -> None:
    """Zero-filled old log-probs and values (and features when the policy's heads are the critic)."""
    n, rmax = batch.advantages.shape
    batch.old_logprobs = torch.zeros((n, rmax))
    batch.old_values = torch.zeros((n, len(VALUE_SLOTS)))
    if learner.critic is None:  # a critic on the policy's heads: keep what they read (fit_critic)
        batch.features = torch.zeros((n, 2, learner.policy.hidden_size))


@torch.no_grad()
def prepare_batch(
    learner: TurnScorer,
    turns: list[TurnTokens],
    assigned: Credit,
    kl_coef: float,
    chunk: int = 64,
    rescore: bool = True,
) -> TurnBatch:
    """Attach the assigned credit to the sampled turns; score the reference (when `kl_coef` > 0) and, with `rescore`,
    the current (= old) policy.

    Re-scoring at the learner's temperature (the sampling one) makes the first ratio 1 whatever the sampler
    computed (kernels, batch shapes). `rescore=False` leaves the old log-probs, values and features to
    `ppo_update`, which takes them from its first minibatch's own forward (the policy has not moved
    yet, so they are the same quantities) and scores only the other turns: one forward over the batch
    less per iteration, and a first ratio that is exactly 1.
    """
    n = len(turns)
    rmax = max(max((len(tt.response_ids) for tt in turns), default=1), 1)
    batch = TurnBatch(
        turns=turns,
        advantages=token_advantages(turns, assigned, rmax),
        old_logprobs=None,
        ref_logprobs=torch.zeros((n, rmax)) if kl_coef > 0 else None,
        old_values=None,
        targets=value_targets(turns, assigned),
    )
    if batch.ref_logprobs is not None:
        score_rows(learner, batch, list(range(n)), chunk, reference=True)
    if rescore:
        allocate_old(learner, batch)
        score_rows(learner, batch, list(range(n)), chunk)
    return batch


@torch.no_grad()
def cached_features(learner: TurnScorer, turns: list[TurnTokens], chunk: int = 64) -> Tensor:
    """(N, 2, H) hidden states of the policy's trunk where its (detached) heads read values."""
    from hiper_repro.agent.scoring import score_values

    policy = learner.policy
    parts = [score_values(policy, turns[s : s + chunk], policy.pad_id, with_features=True)["features"]
             for s in range(0, len(turns), chunk)]  # fmt: skip
    return torch.cat(parts).float()
