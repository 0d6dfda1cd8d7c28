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
  missing) and o_{t-1} on a KEEP turn (docs/METHOD.md: on KEEP, o_t = o_{t-1}); ``subgoal_changed_on_keep``
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
from typing import TYPE_CHECKING

import torch

from hiper_repro.agent.formats import (
    BLOCK_ACTION,
    BLOCK_NONE,
    BLOCK_SUBGOAL,
    BLOCK_SWITCH,
    SWITCH_OPEN,
    check_format,
)
from hiper_repro.agent.generation import GenerationConfig, GenerationOutput, generate
from hiper_repro.agent.parser import INADMISSIBLE, ParsedTurn, normalize_text, parse_response
from hiper_repro.agent.policy import Policy
from hiper_repro.agent.prompts import PromptState, cut_history, encode_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from hiper_repro.envs import EnvPool, Observation, StepResult, Task

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


# Per-turn records, one list per episode: the turn's parse, values, switch decision, env answer.
_FIELDS = (
    "reward", "terminated", "valid", "switch", "changed", "v_low", "v_high", "v_term", "v_prev", "beta",
    "subgoal", "state", "response", "action", "reason", "info", "score", "well_formed",
)  # fmt: skip


class _Episodes:
    """What a rollout accumulates while the episodes play: per-episode turn records that grow by one
    entry per turn, each episode's prompt history and active subgoal, and the episode outcomes."""

    def __init__(self, observations: list[Observation], fmt: str, heads: dict[str, int | None]) -> None:
        n = len(observations)
        self.observations, self.fmt, self.heads = observations, fmt, heads
        self.rec: dict[str, list[list]] = {k: [[] for _ in range(n)] for k in _FIELDS}
        self.turns: list[TurnTokens] = []
        self.history: list[list[tuple[str, str]]] = [[] for _ in range(n)]
        self.subgoal: list[str | None] = [None] * n
        self.won, self.score, self.truncated = [False] * n, [0.0] * n, [False] * n

    def prompt(self, i: int, t: int, history_length: int, tokenizer: PreTrainedTokenizerBase) -> list[int]:
        """Episode i's prompt at turn t: task, recent history, observation, admissible actions, subgoal."""
        obs = self.observations[i]
        state = PromptState(
            task=obs.task,
            step=t,
            history=cut_history(self.history[i], history_length),
            observation=obs.text,
            admissible=tuple(obs.admissible),
            subgoal=self.subgoal[i],
        )
        return encode_prompt(state, self.fmt, tokenizer)

    def record_reply(
        self,
        i: int,
        t: int,
        row: int,
        out: GenerationOutput,
        prompt: list[int],
        tokenizer: PreTrainedTokenizerBase,
    ) -> str:
        """Parse row `row` of the generation (episode i, turn t), record the turn; the action to send."""
        resp = out.response_ids[row]
        text = tokenizer.decode(resp.tolist(), skip_special_tokens=True)
        parsed = parse_response(text, self.fmt, self.observations[i].admissible)
        block, v_pos, s_pos = token_blocks(tokenizer, resp, parsed)
        self._record_values(i, out.prompt_values[row], out.token_values[row], v_pos)
        rec = self.rec
        if self.fmt == "plan_execute":
            beta = out.switch_probs[row][s_pos] if len(resp) else torch.tensor(float("nan"))
            is_switch, changed = self._switch_decision(i, t, parsed)
            rec["beta"][i].append(float(beta))
        else:
            is_switch, changed = False, False
            rec["beta"][i].append(float("nan"))
        action = parsed.action if parsed.action is not None else ""
        for key, value in (
            ("switch", is_switch), ("changed", changed), ("subgoal", self.subgoal[i] or ""),
            ("state", state_key(self.observations[i].text)), ("response", text), ("valid", parsed.valid),
            ("reason", parsed.reason), ("action", action),
            ("well_formed", parsed.valid or parsed.reason == INADMISSIBLE),
        ):  # fmt: skip
            rec[key][i].append(value)
        self.turns.append(
            TurnTokens(
                b=i,
                t=t,
                prompt_ids=torch.as_tensor(prompt, dtype=torch.long),
                response_ids=resp,
                logprobs=out.logprobs[row],
                block=block,
                value_low_pos=v_pos,
                switch_pos=s_pos,
            )
        )
        return action

    def _record_values(self, i: int, at_prompt: torch.Tensor, at_tokens: torch.Tensor, v_pos: int) -> None:
        """V_low after the subgoal block (prompt end without one); the other heads at the prompt end."""
        low, high, term = (self.heads[k] for k in ("low", "high", "term"))
        low_at = at_prompt if v_pos < 0 else at_tokens[v_pos]
        self.rec["v_low"][i].append(float(low_at[low]))
        self.rec["v_prev"][i].append(float(at_prompt[low]))
        self.rec["v_high"][i].append(float(at_prompt[high]) if high is not None else float("nan"))
        self.rec["v_term"][i].append(float(at_prompt[term]) if term is not None else float("nan"))

    def _switch_decision(self, i: int, t: int, parsed: ParsedTurn) -> tuple[bool, bool]:
        """(switch, subgoal changed on KEEP) of a Plan-Execute reply; a SWITCH adopts its written subgoal."""
        is_switch = t == 0 or parsed.switch is True
        written = parsed.subgoal
        changed = (not is_switch) and written is not None and written != normalize_text(self.subgoal[i] or "")
        if is_switch and written:
            self.subgoal[i] = written
        return is_switch, changed

    def record_step(self, i: int, t: int, result: StepResult, action: str, limit: int) -> bool:
        """Record episode i's environment answer to turn t; whether the episode goes on."""
        obs, reward, terminated, trunc, info = result
        self.history[i].append((self.observations[i].text, action))
        self.observations[i] = obs
        self.rec["reward"][i].append(float(reward))
        self.rec["terminated"][i].append(bool(terminated))
        self.rec["info"][i].append({k: v for k, v in info.items() if k != "expert"})
        self.won[i], self.score[i] = bool(info.get("won", terminated)), float(info.get("score", 0.0))
        self.rec["score"][i].append(self.score[i])
        cut = not terminated and (trunc or t + 1 >= limit)
        self.truncated[i] = cut
        return not (terminated or cut)

    def to_rollout(
        self, tasks: list[Task], group_ids: list[int] | torch.Tensor | None, n_generated: int
    ) -> Rollout:
        """The padded (B, T) Rollout of the finished episodes."""
        rec = self.rec
        lengths = [len(r) for r in rec["reward"]]
        width = max(lengths)

        def pad(key: str, fill, dtype) -> torch.Tensor:
            return torch.tensor([row + [fill] * (width - len(row)) for row in rec[key]], dtype=dtype)

        nan = float("nan")
        # Turns are flattened row-major (b, t), the order the trainer indexes them in.
        self.turns.sort(key=lambda tt: (tt.b, tt.t))
        task_ids = [task.task_id for task in tasks]
        return Rollout(
            mask=torch.arange(width)[None, :] < torch.tensor(lengths)[:, None],
            rewards=pad("reward", 0.0, torch.float32),
            terminated=pad("terminated", False, torch.bool),
            truncated=torch.tensor(self.truncated, dtype=torch.bool),
            valid=pad("valid", False, torch.bool),
            well_formed=pad("well_formed", False, torch.bool),
            switch=pad("switch", False, torch.bool),
            subgoal_changed_on_keep=pad("changed", False, torch.bool),
            value_low=pad("v_low", nan, torch.float32),
            value_high=pad("v_high", nan, torch.float32),
            value_term=pad("v_term", nan, torch.float32),
            value_low_prev=pad("v_prev", nan, torch.float32),
            switch_prob=pad("beta", nan, torch.float32),
            won=torch.tensor(self.won, dtype=torch.bool),
            score=torch.tensor(self.score, dtype=torch.float32),
            turn_scores=pad("score", 0.0, torch.float32),
            length=torch.tensor(lengths, dtype=torch.long),
            task_ids=task_ids,
            task_types=[task.task_type for task in tasks],
            group_ids=_group_ids(task_ids)
            if group_ids is None
            else torch.as_tensor(group_ids, dtype=torch.long),
            subgoals=rec["subgoal"],
            state_keys=rec["state"],
            turns=self.turns,
            responses=rec["response"],
            actions=rec["action"],
            invalid_reasons=rec["reason"],
            infos=rec["info"],
            horizons=[task.horizon for task in tasks],
            n_generated_tokens=n_generated,
        )


def rollout(
    policy: Policy,
    tokenizer: PreTrainedTokenizerBase,
    pool: EnvPool,
    tasks: list[Task],
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
    # Start: reset every environment; each episode's turn limit is its env's, capped by max_turns and
    # by its own turn limit.
    observations = pool.reset(tasks)
    limits = [min(m, gen_cfg.max_turns or m) for m in pool.max_steps()]
    if turn_limits is not None:
        limits = [max(1, min(lim, cap)) for lim, cap in zip(limits, turn_limits)]
    play = _Episodes(observations, fmt, {name: policy.head_index(name) for name in ("low", "high", "term")})
    active, t, n_generated = list(range(n)), 0, 0
    while active:
        # One turn of every unfinished episode: prompts, one batched generation, parse and record each
        # reply, then step the environments together; finished episodes drop out of the batch.
        prompts = [play.prompt(i, t, gen_cfg.history_length, tokenizer) for i in active]
        out = generate(policy, prompts, gen_cfg, generator, None if seeds is None else seeds[active], turn=t)
        n_generated += out.n_generated
        actions: list[str | None] = [None] * n
        for row, i in enumerate(active):
            actions[i] = play.record_reply(i, t, row, out, prompts[row], tokenizer)
        results = pool.step(actions)
        active = [i for i in active if play.record_step(i, t, results[i], actions[i], limits[i])]
        t += 1
    if was_training:
        policy.train()
    return play.to_rollout(tasks, group_ids, n_generated)
