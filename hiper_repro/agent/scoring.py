"""``score_turns``: one batched forward over prompt + response for the PPO update.

For N turns, the sequences ``prompt_i + response_i`` are right-padded to one (N, L) batch. The log-prob
of response token k is read from the hidden state one position before it (position P_i + k - 1), at
``temperature`` (1.0 for PPO at the authors' training temperature). Values and the switch probability
are read at exactly the positions the rollout used (see :mod:`hiper_repro.agent.rollout`):

    value_high, value_term, value_low_prev   last prompt token (P_i - 1)
    value_low                                P_i + value_low_pos (P_i - 1 when value_low_pos = -1)
    switch_prob                              the distribution predicting response token switch_pos

so, for the same weights, log-probs and values equal the rollout's up to float noise (tested). Every read
lies at or after the last prompt token, so the final layer runs only there (`Policy.hidden_at`,
:mod:`hiper_repro.agent.last_layer`): the earlier prompt positions give it their keys and values alone.
With ``reference=True`` the reference policy is scored under no_grad (log-probs only; values NaN);
otherwise gradients follow the caller's grad mode.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from hiper_repro.agent.generation import switch_prob
from hiper_repro.agent.policy import Policy
from hiper_repro.agent.rollout import TurnTokens


@dataclass
class TurnScores:
    """Padded per-token quantities (N, R_max) with ``mask``, and per-turn values (N,)."""

    logprobs: torch.Tensor  # (N, R) log pi(token)
    entropy: torch.Tensor  # (N, R) entropy of the predicting distribution
    mask: torch.Tensor  # (N, R) bool, real response tokens
    block: torch.Tensor  # (N, R) long, 0 at padding
    value_low: torch.Tensor  # (N,)
    value_high: torch.Tensor  # (N,), NaN without that head
    value_term: torch.Tensor  # (N,), NaN without that head
    value_low_prev: torch.Tensor  # (N,)
    switch_prob: torch.Tensor  # (N,) beta_t
    features: torch.Tensor | None = None  # (N, 2, H) what the value heads read (`value_features`)


def _pack(turns: list[TurnTokens], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded prompt + response ids (N, L), attention mask, response ids and blocks (N, R), and
    the positions every read uses (see the module docstring).

    Every read lies at or after the last prompt token P - 1, so the passes compute final hidden states
    only at `keep` (N, R + 1): positions P - 1 .. P - 1 + R (clamped to the row's last token). Reads are
    indices into that window: response token k's log-prob at k, the prompt-end values at 0, V_low at
    value_low_pos + 1 (0 when -1), beta at switch_pos.
    """
    if not turns:
        raise ValueError("turns must not be empty")
    p_len = torch.tensor([len(t.prompt_ids) for t in turns])
    r_len = torch.tensor([len(t.response_ids) for t in turns])
    if bool((p_len == 0).any()):
        raise ValueError("every turn needs a non-empty prompt_ids")
    n, width, r_max = len(turns), int((p_len + r_len).max()), max(int(r_len.max()), 1)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    resp = torch.full((n, r_max), pad_id, dtype=torch.long)
    block = torch.zeros((n, r_max), dtype=torch.long)
    for i, t in enumerate(turns):
        seq = torch.cat([t.prompt_ids.long(), t.response_ids.long()])
        ids[i, : len(seq)] = seq
        resp[i, : len(t.response_ids)] = t.response_ids
        block[i, : len(t.block)] = t.block
    low_pos = torch.tensor([t.value_low_pos for t in turns])
    keep = p_len[:, None] - 1 + torch.arange(r_max + 1)[None, :]
    return {
        "ids": ids,
        "attn": (torch.arange(width)[None, :] < (p_len + r_len)[:, None]).long(),
        "resp": resp,
        "block": block,
        "mask": torch.arange(r_max)[None, :] < r_len[:, None],
        "keep": torch.minimum(keep, (p_len + r_len - 1)[:, None]),
        "end_pos": torch.zeros(n, dtype=torch.long),
        "low_pos": torch.where(low_pos < 0, 0, low_pos + 1),
        "switch_pos": torch.tensor([t.switch_pos for t in turns]),
    }


def value_features(h: torch.Tensor, packed: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, 2, H) hidden states the value heads read: at the prompt's end and at V_low's position
    (`h` holds the hidden states at `packed["keep"]`)."""
    rows = torch.arange(h.shape[0], device=h.device)
    return torch.stack([h[rows, packed["end_pos"].to(h.device)], h[rows, packed["low_pos"].to(h.device)]], 1)


def values_from_features(model: Policy, features: torch.Tensor) -> dict[str, torch.Tensor]:
    """The value heads on `value_features`: V_low at the subgoal's end, V_low_prev / V_high / V_term at
    the prompt's end (NaN without a head)."""
    v_end, v_at_low = model.values(features[:, 0]), model.values(features[:, 1])
    nan = torch.full((features.shape[0],), float("nan"), device=features.device)
    pick = {k: model.head_index(k) for k in ("low", "high", "term")}
    return {
        "value_low": v_at_low[:, pick["low"]],
        "value_low_prev": v_end[:, pick["low"]],
        "value_high": v_end[:, pick["high"]] if pick["high"] is not None else nan,
        "value_term": v_end[:, pick["term"]] if pick["term"] is not None else nan,
    }


def score_values(
    model: Policy, turns: list[TurnTokens], pad_id: int, with_features: bool = False
) -> dict[str, torch.Tensor]:
    """Only the value heads of ``model`` at the rollout's positions (a separate critic model, or the
    policy's trunk for cached features: no log-probs, no vocabulary projection); with ``with_features``
    also ``features`` (N, 2, H), what the heads read. Gradients follow the caller's grad mode."""
    packed = _pack(turns, pad_id)
    device = model.device
    h = model.hidden_at(packed["ids"].to(device), packed["attn"].to(device), packed["keep"].to(device))
    features = value_features(h, packed)
    out = values_from_features(model, features)
    return out | {"features": features} if with_features else out


def score_turns(
    policy: Policy,
    turns: list[TurnTokens],
    pad_id: int,
    temperature: float = 1.0,
    reference: bool = False,
    with_values: bool = True,
) -> TurnScores:
    """Score ``turns`` in one forward; see the module docstring.

    Gradients follow the caller's grad mode, except that the reference is always scored under no_grad.
    ``with_values=False`` skips the value heads (NaN values: a separate critic scores them).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    packed = _pack(turns, pad_id)
    device = policy.device
    n = len(turns)
    rows = torch.arange(n)
    ids, attn, keep = packed["ids"].to(device), packed["attn"].to(device), packed["keep"].to(device)
    # The reference never needs gradients; the policy follows the caller's grad mode (no_grad when
    # re-scoring old log-probs, which otherwise would keep every layer's activations alive).
    context = torch.no_grad() if reference else contextlib.nullcontext()
    with context:
        if reference:
            with policy.reference_mode():
                h = policy.hidden_at(ids, attn, keep)
        else:
            h = policy.hidden_at(ids, attn, keep)
        h_pred = h[:, :-1]  # window index k predicts response token k
        logits = policy.logits(h_pred) / temperature
        logp_all = torch.log_softmax(logits, dim=-1)
        logprobs = logp_all.gather(-1, packed["resp"].to(device)[..., None]).squeeze(-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1)
        mask_d = packed["mask"].to(device)
        logprobs = torch.where(mask_d, logprobs, torch.zeros_like(logprobs))
        entropy = torch.where(mask_d, entropy, torch.zeros_like(entropy))
        nan = torch.full((n,), float("nan"), device=device)
        values = {k: nan for k in ("value_low", "value_low_prev", "value_high", "value_term")}
        features = None
        beta = nan
        if not reference:
            if with_values:
                features = value_features(h, packed)
                values = values_from_features(policy, features)
            sw_logits = policy.logits(h[rows, packed["switch_pos"]]) / temperature
            beta = switch_prob(sw_logits, policy.keep_id, policy.switch_id)
    return TurnScores(
        logprobs=logprobs,
        entropy=entropy,
        mask=mask_d,
        block=packed["block"].to(device),
        switch_prob=beta,
        features=features,
        **values,
    )


def reference_logprobs(
    policy: Policy, turns: list[TurnTokens], pad_id: int, temperature: float = 1.0
) -> torch.Tensor:
    """(N, R) log-probs of the response tokens under the reference policy (LoRA off, or frozen copy)."""
    return score_turns(policy, turns, pad_id, temperature, reference=True).logprobs
