"""Batched sampling with a KV cache: every row generates together, left-padded, until it stops.

``generate(policy, prompts, cfg, generator)`` feeds the left-padded prompts once, then one token per
step for all rows. A row stops after a stop token (EOS, or the closing action tag when it is one
token) or once its decoded text ends the closing action tag (multi-token tags), or at
``max_new_tokens``; stopped rows are fed padding that nothing reads. The KV cache is preallocated
(:mod:`hiper_repro.agent.kv_cache`) where the model allows it.

Sampling draws from ``generator`` (``torch.multinomial``), or, given ``row_seeds``, by inverse CDF from
one uniform per (row seed, turn, token step) of a counter-based hash (:func:`row_uniforms`): each row's
draws then depend on its own seed only, not on which other rows share the batch, how many processes
split the episodes, or the order of episodes. Evaluation uses this for common random numbers: the same
task meets the same noise under every method, seed and iteration, and a policy that did not change
plays exactly the same episodes (inverse-CDF sampling is also the monotone coupling, so a policy that
changed a little mostly plays the same tokens too).

Per row it returns the response ids, their log-probabilities under the sampling distribution
(softmax(logits / T); T = 1 when greedy, so greedy log-probs are the policy's own), the value heads at
the prompt's last token, the value heads at every response token (the hidden state after that token
is fed: the last token is fed once more after the loop so every response position has one), and the
renormalised switch probability P(SWITCH) / (P(KEEP) + P(SWITCH)) of the first tokens of the two words
at every response position.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from hiper_repro.agent.formats import STOP_STRING
from hiper_repro.agent.kv_cache import preallocated_cache
from hiper_repro.agent.policy import Policy


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding and episode settings shared by rollout and evaluation."""

    max_new_tokens: int = 32  # per turn
    temperature: float = 1.0  # 0 means greedy
    history_length: int = 2  # observation/action pairs shown in the prompt
    max_turns: int | None = None  # cap on turns per episode; None: the env's own step limit

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.history_length < 0:
            raise ValueError(f"history_length must be >= 0, got {self.history_length}")
        if self.max_turns is not None and self.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1 or None, got {self.max_turns}")


@dataclass
class GenerationOutput:
    """Per-row results; lists hold one tensor per row, of that row's response length R_i."""

    response_ids: list[torch.Tensor]  # (R_i,) long
    logprobs: list[torch.Tensor]  # (R_i,) float
    token_values: list[torch.Tensor]  # (R_i, n_heads): heads at each response token
    switch_probs: list[torch.Tensor]  # (R_i,): renormalised P(SWITCH) for the token at that position
    prompt_values: torch.Tensor  # (B, n_heads): heads at the last prompt token
    n_generated: int  # tokens generated, summed over rows (throughput counter)


def left_pad(seqs: list[list[int]] | list[torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad to (B, L) ids and a 0/1 attention mask."""
    if not seqs:
        raise ValueError("seqs must not be empty")
    width = max(len(s) for s in seqs)
    if width == 0:
        raise ValueError("every prompt is empty; a prompt needs at least one token")
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, width - len(s) :] = torch.as_tensor(s, dtype=torch.long)
            mask[i, width - len(s) :] = 1
    return ids, mask


def _stop_ids(policy: Policy) -> tuple[set[int], bool]:
    """Token ids that end a row, and whether the stop string needs a text check (multi-token tag)."""
    tok = policy.tokenizer
    ids = {policy.eos_id} if policy.eos_id is not None else set()
    tag = tok.encode(STOP_STRING, add_special_tokens=False)
    if len(tag) == 1:
        return ids | {int(tag[0])}, False
    return ids, True


def switch_prob(logits: torch.Tensor, keep_id: int, switch_id: int) -> torch.Tensor:
    """P(SWITCH) / (P(KEEP) + P(SWITCH)) from next-token logits (..., V)."""
    pair = torch.stack([logits[..., keep_id], logits[..., switch_id]], dim=-1)
    return torch.softmax(pair.float(), dim=-1)[..., 1]


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wraps modulo 2**64 by numpy's unsigned arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def row_uniforms(row_seeds: torch.Tensor, turn: int, step: int) -> torch.Tensor:
    """(B,) float64 uniforms in [0, 1), a pure function of (row seed, turn, step): counter-based noise."""
    with np.errstate(over="ignore"):
        x = _splitmix64(row_seeds.cpu().numpy().astype(np.uint64))
        x = _splitmix64(x ^ np.uint64(turn))
        x = _splitmix64(x ^ (np.uint64(step) << np.uint64(32)))
    return torch.from_numpy((x >> np.uint64(11)).astype(np.float64) / float(2**53))


def noise_seed(seed: int, key: str) -> int:
    """A 63-bit row seed from an integer seed and a string key (a task id): SHA-256, platform-independent."""
    digest = hashlib.sha256(f"{int(seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def inverse_cdf_sample(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """(B,) token ids: the first token whose cumulative probability exceeds u (zero-probability tokens are
    never drawn). ``probs`` (B, V) need not sum to exactly one: u is scaled by each row's total."""
    cdf = probs.double().cumsum(-1)
    target = (uniforms.to(cdf.device) * cdf[:, -1])[:, None]
    token = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    # u * total can round up to total: fall back to the last token with mass, never a zero-mass tail.
    last = probs.shape[-1] - 1 - (probs > 0).flip(-1).int().argmax(-1)
    return torch.minimum(token, last)


@torch.no_grad()
def generate(
    policy: Policy,
    prompts: list[list[int]],
    cfg: GenerationConfig,
    generator: torch.Generator | None = None,
    row_seeds: torch.Tensor | None = None,
    turn: int = 0,
) -> GenerationOutput:
    """Generate one response per prompt, all rows together; see the module docstring.

    With ``row_seeds`` (B,) int64, sampling uses :func:`row_uniforms` (row seed, ``turn``, token step)
    instead of ``generator``.
    """
    if row_seeds is not None and len(row_seeds) != len(prompts):
        raise ValueError(f"row_seeds has {len(row_seeds)} entries for {len(prompts)} prompts")
    device = policy.device
    ids, mask = left_pad(prompts, policy.pad_id)
    ids, mask = ids.to(device), mask.to(device)
    n_rows = ids.shape[0]
    stop_ids, text_stop = _stop_ids(policy)
    stop_tensor = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
    temperature = cfg.temperature if cfg.temperature > 0 else 1.0

    # Room for the prompt and every fed response token: no cache copy while decoding.
    cache = preallocated_cache(policy.lm, ids.shape[1] + cfg.max_new_tokens)
    # Prefill: only the last prompt position's final hidden state is read (the last layer runs there alone)
    last = torch.full((n_rows, 1), ids.shape[1] - 1, dtype=torch.long, device=device)
    h, cache = policy.hidden_at(ids, mask, last, cache=cache, use_cache=True)
    prompt_values = policy.values(h[:, -1]).cpu()
    logits = policy.logits(h[:, -1])
    next_pos = mask.sum(-1)  # position id of the first response token
    done = torch.zeros(n_rows, dtype=torch.bool, device=device)
    lengths = torch.zeros(n_rows, dtype=torch.long, device=device)
    out_ids, out_lp, out_val, out_sw = [], [], [], []

    for step in range(cfg.max_new_tokens):
        logp = torch.log_softmax(logits / temperature, dim=-1)
        if cfg.temperature > 0 and row_seeds is not None:
            token = inverse_cdf_sample(logp.exp(), row_uniforms(row_seeds, turn, step)).to(device)
        elif cfg.temperature > 0:
            token = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        else:
            token = logits.argmax(-1)
        live = ~done
        token = torch.where(live, token, torch.full_like(token, policy.pad_id))
        out_ids.append(token)
        out_lp.append(logp.gather(-1, token[:, None]).squeeze(-1))
        out_sw.append(switch_prob(logits / temperature, policy.keep_id, policy.switch_id))
        lengths += live.long()
        done = done | torch.isin(token, stop_tensor)
        if text_stop:
            done = done | _ends_with_stop(policy, out_ids, live)
        # Feed the token: its hidden state gives the values at this response position.
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        h, cache = policy.hidden(
            token[:, None], mask, position_ids=(next_pos + step)[:, None], use_cache=True, cache=cache
        )
        out_val.append(policy.values(h[:, 0]))
        if bool(done.all()):
            break
        logits = policy.logits(h[:, 0])

    all_ids = torch.stack(out_ids, 1).cpu()
    all_lp = torch.stack(out_lp, 1).cpu()
    all_val = torch.stack(out_val, 1).cpu()
    all_sw = torch.stack(out_sw, 1).cpu()
    lengths = lengths.cpu()
    return GenerationOutput(
        response_ids=[all_ids[i, : lengths[i]] for i in range(n_rows)],
        logprobs=[all_lp[i, : lengths[i]] for i in range(n_rows)],
        token_values=[all_val[i, : lengths[i]] for i in range(n_rows)],
        switch_probs=[all_sw[i, : lengths[i]] for i in range(n_rows)],
        prompt_values=prompt_values,
        n_generated=int(lengths.sum()),
    )


def _ends_with_stop(policy: Policy, out_ids: list[torch.Tensor], live: torch.Tensor) -> torch.Tensor:
    """Rows (among ``live``) whose decoded text now ends with the stop string (multi-token tags only)."""
    tail = torch.stack(out_ids[-8:], 1).cpu()
    rows = live.nonzero().flatten().tolist()
    texts = policy.tokenizer.batch_decode(tail[rows], skip_special_tokens=True)
    hit = torch.zeros_like(live)
    for row, text in zip(rows, texts):
        hit[row] = text.rstrip().endswith(STOP_STRING)
    return hit
