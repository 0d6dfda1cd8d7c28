"""Batched rollout over an environment pool: ``rollout(...) -> Rollout`` (docs/ARCHITECTURE.md).

All unfinished episodes generate their turn together (:func:`hiper_repro.agent.generation.generate`),
then step their environments together; finished episodes drop out of the batch. Per turn we keep the
prompt and response tokens, per-token log-probs (old policy), the block of every response token, the
reply's parse, reward, validity, switch flag and the environment's info.

Where values are read (the same positions :func:`hiper_repro.agent.scoring.score_turns` uses):

- ``value_high`` = V_high(s_t) and ``value_term`` = V_term(s_t, o_{t-1}): last prompt token, before
  anything is generated.
- ``value_low`` = V_low(s_t, o_t): the last token of the subgoal block (``TurnTokens.value_low_pos``).
  When the reply has no subgoal block, and always in the flat format, it is read at the last prompt
  token (``value_low_pos = -1``); the flat format's single head is V(s_t).
- ``value_low_prev`` = V_low(s_t, o_{t-1}), needed by the paper's switch advantage: the low head read at
  the last prompt token. The prompt shows "current subgoal: o_{t-1}", so that hidden state conditions
  on (s_t, o_{t-1}): the same head, evaluated where the old subgoal is the active one. It costs nothing
  extra; the trainer should regress it too (same target as V_low) if it uses the paper form.
- ``switch_prob`` = beta_t: P(SWITCH) / (P(KEEP) + P(SWITCH)) for the first tokens of the two words at
  the switch word's position (``TurnTokens.switch_pos``; exact for the tiny tokenizer, where each word
  is one token). Without a ``<switch>`` block, the first response token's distribution is used.

Semantics of the turn record:

- ``switch``: turn 0 is always True (a segment starts); later, True iff the reply says SWITCH (a missing
  or unknown switch word counts as KEEP). Flat format: all False.
- The active subgoal o_t is the reply's subgoal on a SWITCH turn (the previous one if that block is
  missing) and o_{t-1} on a KEEP turn (HIPER.md: on KEEP, o_t = o_{t-1}); ``subgoal_changed_on_keep``
  flags KEEP turns whose written subgoal differs from o_{t-1} (after whitespace normalisation).
- The environment receives the parsed action (the admissible string when it matched, else the raw
  action text, or "" without an action block): it answers an invalid one like any unknown command.
  Rewards are the environment's; the invalid-output penalty is the trainer's (``valid`` says where).
- An episode ends when its env says terminated or truncated, or after ``GenerationConfig.max_turns``
  turns (recorded as truncated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from hiper_repro.agent.formats import (
    BLOCK_ACTION,
    BLOCK_NONE,
    BLOCK_SUBGOAL,
    BLOCK_SWITCH,
    SWITCH_OPEN,
    check_format,
)
from hiper_repro.agent.generation import GenerationConfig, generate
from hiper_repro.agent.parser import INADMISSIBLE, ParsedTurn, normalize_text, parse_response
from hiper_repro.agent.policy import Policy
from hiper_repro.agent.prompts import PromptState, cut_history, encode_prompt

_BLOCK_IDS = {"switch": BLOCK_SWITCH, "subgoal": BLOCK_SUBGOAL, "action": BLOCK_ACTION, "think": BLOCK_NONE}


@dataclass
class TurnTokens:
    """The tokens of one real turn (episode ``b``, turn ``t``).

    ``value_low_pos``: index into ``response_ids`` of the token whose hidden state gives V_low (last
    token of the subgoal block); -1 means the last prompt token. ``switch_pos``: index into
    ``response_ids`` of the switch word's first token, whose predicting distribution (hidden state at
    the token before it) gives beta_t; 0 when there is no switch block.
    """

    b: int
    t: int
    prompt_ids: torch.Tensor  # (P,) long
    response_ids: torch.Tensor  # (R,) long
    logprobs: torch.Tensor  # (R,) float, old policy
    block: torch.Tensor  # (R,) long: 0 none, 1 switch, 2 subgoal, 3 action
    value_low_pos: int
    switch_pos: int = 0


@dataclass
class Rollout:
    """(B episodes, T turns) padded tensors; see docs/ARCHITECTURE.md for every field."""

    mask: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    valid: torch.Tensor
    well_formed: torch.Tensor  # (B, T) bool: the reply followed the format (its action may be inadmissible)
    switch: torch.Tensor
    subgoal_changed_on_keep: torch.Tensor
    value_low: torch.Tensor
    value_high: torch.Tensor
    value_term: torch.Tensor
    value_low_prev: torch.Tensor  # V_low(s_t, o_{t-1}) at the prompt end (see module docstring)
    switch_prob: torch.Tensor
    won: torch.Tensor  # (B,) bool
    score: torch.Tensor  # (B,) float
    turn_scores: torch.Tensor  # (B, T) float: the environment's score after each turn (progress shaping)
    length: torch.Tensor  # (B,) long
    task_ids: list[str]
    task_types: list[str]
    group_ids: torch.Tensor  # (B,) long
    subgoals: list[list[str]]
    state_keys: list[list[str]]
    turns: list[TurnTokens]
    responses: list[list[str]] = field(default_factory=list)  # decoded reply text per turn
    actions: list[list[str]] = field(default_factory=list)  # what the env received
    invalid_reasons: list[list[str]] = field(default_factory=list)  # "" on valid turns
    infos: list[list[dict]] = field(default_factory=list)  # env info per turn ("expert" dropped)
    horizons: list[int] = field(default_factory=list)
    n_generated_tokens: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.mask.shape)


def state_key(observation_text: str) -> str:
    """Hash of an observation's text: the anchor-state key GiGPO groups turns by."""
    return hashlib.sha1(observation_text.encode()).hexdigest()[:16]


def decode_prefixes(tokenizer, ids: list[int]) -> list[str]:
    """Decoded text of ``ids[:1], ids[:2], ...`` (special tokens skipped).

    Straight through the Rust backend when decoding adds no Python post-processing: same strings as
    ``batch_decode``, without its per-id conversion, which cost ~12% of a tiny model's batched rollout.
    """
    prefixes = [ids[: k + 1] for k in range(len(ids))]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and not getattr(tokenizer, "clean_up_tokenization_spaces", True):
        return backend.decode_batch(prefixes, skip_special_tokens=True)
    return tokenizer.batch_decode(prefixes, skip_special_tokens=True)


def token_blocks(tokenizer, response_ids: torch.Tensor, parsed: ParsedTurn) -> tuple[torch.Tensor, int, int]:
    """Block id per response token, ``value_low_pos`` and ``switch_pos`` from the parse's char spans.

    Token k covers the characters that decoding ``ids[:k+1]`` adds to decoding ``ids[:k]``; it belongs to
    the block whose span holds its last character (so a leading space never decides).
    """
    ids = response_ids.tolist()
    prefixes = decode_prefixes(tokenizer, ids)
    block = torch.zeros(len(ids), dtype=torch.long)
    ends = [len(p) for p in prefixes]
    starts = [0, *ends[:-1]]
    for name, (lo, hi) in parsed.spans.items():
        for k in range(len(ids)):
            if ends[k] > starts[k] and lo <= ends[k] - 1 < hi:
                block[k] = _BLOCK_IDS[name]
    sub = (block == BLOCK_SUBGOAL).nonzero().flatten()
    value_low_pos = int(sub[-1]) if len(sub) else -1
    switch_pos = 0
    if "switch" in parsed.spans:
        lo, hi = parsed.spans["switch"]
        text = prefixes[-1] if prefixes else ""
        word_start = lo + len(SWITCH_OPEN)
        while word_start < hi and text[word_start].isspace():
            word_start += 1
        for k in range(len(ids)):
            if ends[k] > word_start:
                switch_pos = k
                break
    return block, value_low_pos, switch_pos


def _group_ids(task_ids: list[str]) -> torch.Tensor:
    order: dict[str, int] = {}
    return torch.tensor([order.setdefault(tid, len(order)) for tid in task_ids], dtype=torch.long)


def rollout(
    policy: Policy,
    tokenizer,
    pool,
    tasks: list,
    fmt: str,
    gen_cfg: GenerationConfig,
    generator: torch.Generator | None = None,
    group_ids: list[int] | torch.Tensor | None = None,
    row_seeds: list[int] | torch.Tensor | None = None,
    turn_limits: list[int] | None = None,
) -> Rollout:
    """Play ``tasks`` (one per pool environment) to the end with ``policy``; see the module docstring.

    ``group_ids`` (B,) default: episodes of the same ``task_id`` share a group (first appearance order).
    Sampling uses ``generator`` (temperature > 0), or per-episode counter-based noise when ``row_seeds``
    (one seed per task) are given: then each episode's draws depend on its seed alone (common random
    numbers, see :mod:`hiper_repro.agent.generation`). Greedy decoding needs neither. ``turn_limits``
    (one per task) caps each episode's turns below the environment's and ``GenerationConfig.max_turns``.
    """
    check_format(fmt)
    n = len(tasks)
    if n == 0:
        raise ValueError("tasks must not be empty")
    if n > pool.n:
        raise ValueError(f"tasks ({n}) must not exceed the pool size ({pool.n})")
    if group_ids is not None and len(group_ids) != n:
        raise ValueError(f"group_ids must have one entry per task ({n}), got {len(group_ids)}")
    for name, per_task in (("row_seeds", row_seeds), ("turn_limits", turn_limits)):
        if per_task is not None and len(per_task) != n:
            raise ValueError(f"{name} must have one entry per task ({n}), got {len(per_task)}")
    seeds = None if row_seeds is None else torch.as_tensor(row_seeds, dtype=torch.long)
    was_training = policy.training
    policy.eval()
    observations = pool.reset(tasks)
    limits = pool.max_steps()
    if gen_cfg.max_turns is not None:
        limits = [min(lim, gen_cfg.max_turns) for lim in limits]
    if turn_limits is not None:
        limits = [max(1, min(lim, cap)) for lim, cap in zip(limits, turn_limits)]
    has = {name: policy.head_index(name) for name in ("low", "high", "term")}

    rec: dict[str, list[list]] = {
        k: [[] for _ in range(n)]
        for k in (
            "reward",
            "terminated",
            "valid",
            "switch",
            "changed",
            "v_low",
            "v_high",
            "v_term",
            "v_prev",
            "beta",
            "subgoal",
            "state",
            "response",
            "action",
            "reason",
            "info",
            "score",
            "well_formed",
        )
    }
    turns: list[TurnTokens] = []
    history: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    subgoal: list[str | None] = [None] * n
    won, score, truncated = [False] * n, [0.0] * n, [False] * n
    active = list(range(n))
    n_generated = 0
    t = 0
    while active:
        states = [
            PromptState(
                task=observations[i].task,
                step=t,
                history=cut_history(history[i], gen_cfg.history_length),
                observation=observations[i].text,
                admissible=tuple(observations[i].admissible),
                subgoal=subgoal[i],
            )
            for i in active
        ]
        prompts = [encode_prompt(s, fmt, tokenizer) for s in states]
        out = generate(policy, prompts, gen_cfg, generator, None if seeds is None else seeds[active], turn=t)
        n_generated += out.n_generated
        actions: list[str | None] = [None] * n
        for row, i in enumerate(active):
            resp = out.response_ids[row]
            text = tokenizer.decode(resp.tolist(), skip_special_tokens=True)
            parsed = parse_response(text, fmt, observations[i].admissible)
            block, v_pos, s_pos = token_blocks(tokenizer, resp, parsed)
            pv = out.prompt_values[row]
            low_at = pv if v_pos < 0 else out.token_values[row][v_pos]
            rec["v_low"][i].append(float(low_at[has["low"]]))
            rec["v_prev"][i].append(float(pv[has["low"]]))
            rec["v_high"][i].append(float(pv[has["high"]]) if has["high"] is not None else float("nan"))
            rec["v_term"][i].append(float(pv[has["term"]]) if has["term"] is not None else float("nan"))
            if fmt == "plan_execute":
                beta = out.switch_probs[row][s_pos] if len(resp) else torch.tensor(float("nan"))
                is_switch = t == 0 or parsed.switch is True
                written = parsed.subgoal
                changed = (
                    (not is_switch) and written is not None and written != normalize_text(subgoal[i] or "")
                )
                if is_switch and written:
                    subgoal[i] = written
                rec["beta"][i].append(float(beta))
            else:
                is_switch, changed = False, False
                rec["beta"][i].append(float("nan"))
            rec["switch"][i].append(is_switch)
            rec["changed"][i].append(changed)
            rec["subgoal"][i].append(subgoal[i] or "")
            rec["state"][i].append(state_key(observations[i].text))
            rec["response"][i].append(text)
            rec["valid"][i].append(parsed.valid)
            rec["well_formed"][i].append(parsed.valid or parsed.reason == INADMISSIBLE)
            rec["reason"][i].append(parsed.reason)
            actions[i] = parsed.action if parsed.action is not None else ""
            rec["action"][i].append(actions[i])
            turns.append(
                TurnTokens(
                    b=i,
                    t=t,
                    prompt_ids=torch.as_tensor(prompts[row], dtype=torch.long),
                    response_ids=resp,
                    logprobs=out.logprobs[row],
                    block=block,
                    value_low_pos=v_pos,
                    switch_pos=s_pos,
                )
            )
        results = pool.step(actions)
        still = []
        for i in active:
            obs, reward, terminated, trunc, info = results[i]
            history[i].append((observations[i].text, actions[i]))
            observations[i] = obs
            rec["reward"][i].append(float(reward))
            rec["terminated"][i].append(bool(terminated))
            rec["info"][i].append({k: v for k, v in info.items() if k != "expert"})
            won[i], score[i] = bool(info.get("won", terminated)), float(info.get("score", 0.0))
            rec["score"][i].append(score[i])
            cut = not terminated and (trunc or t + 1 >= limits[i])
            truncated[i] = cut
            if not (terminated or cut):
                still.append(i)
        active = still
        t += 1

    if was_training:
        policy.train()
    lengths = [len(r) for r in rec["reward"]]
    width = max(lengths)

    def pad(key: str, fill, dtype) -> torch.Tensor:
        return torch.tensor([row + [fill] * (width - len(row)) for row in rec[key]], dtype=dtype)

    nan = float("nan")
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    # Turns are flattened row-major (b, t), the order the trainer indexes them in.
    turns.sort(key=lambda tt: (tt.b, tt.t))
    return Rollout(
        mask=mask,
        rewards=pad("reward", 0.0, torch.float32),
        terminated=pad("terminated", False, torch.bool),
        truncated=torch.tensor(truncated, dtype=torch.bool),
        valid=pad("valid", False, torch.bool),
        well_formed=pad("well_formed", False, torch.bool),
        switch=pad("switch", False, torch.bool),
        subgoal_changed_on_keep=pad("changed", False, torch.bool),
        value_low=pad("v_low", nan, torch.float32),
        value_high=pad("v_high", nan, torch.float32),
        value_term=pad("v_term", nan, torch.float32),
        value_low_prev=pad("v_prev", nan, torch.float32),
        switch_prob=pad("beta", nan, torch.float32),
        won=torch.tensor(won, dtype=torch.bool),
        score=torch.tensor(score, dtype=torch.float32),
        turn_scores=pad("score", 0.0, torch.float32),
        length=torch.tensor(lengths, dtype=torch.long),
        task_ids=[task.task_id for task in tasks],
        task_types=[task.task_type for task in tasks],
        group_ids=_group_ids([task.task_id for task in tasks])
        if group_ids is None
        else torch.as_tensor(group_ids, dtype=torch.long),
        subgoals=rec["subgoal"],
        state_keys=rec["state"],
        turns=turns,
        responses=rec["response"],
        actions=rec["action"],
        invalid_reasons=rec["reason"],
        infos=rec["info"],
        horizons=[task.horizon for task in tasks],
        n_generated_tokens=n_generated,
    )
