"""Parse one generated turn into switch word, subgoal and action; never raises.

Contract: ``parse_response(text, fmt, admissible)`` returns a :class:`ParsedTurn` whatever ``text`` is.
A turn is valid only if the text is exactly the format's blocks in order (whitespace between and around
blocks is allowed, nothing else), the switch word is KEEP or SWITCH, the subgoal is non-empty, and the
action matches an admissible action. Otherwise ``valid`` is False and ``reason`` names the first fault:

    empty, missing_switch, missing_subgoal, missing_action, bad_switch_word, empty_subgoal,
    nested_tag, order_or_extra_text, inadmissible_action

Action matching normalises whitespace: both sides are split into words and punctuation marks and rejoined
with single spaces, so ``"put apple in / on table 1"`` (how a word-level tokenizer decodes) matches the
admissible ``"put apple in/on table 1"``. The returned ``action`` is then the admissible string verbatim.
Subgoals are compared (KEEP copy check) after the same normalisation, see :func:`normalize_text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hiper_repro.agent.formats import (
    ACTION_CLOSE,
    ACTION_OPEN,
    KEEP,
    SUBGOAL_CLOSE,
    SUBGOAL_OPEN,
    SWITCH,
    SWITCH_CLOSE,
    SWITCH_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    check_format,
)

# The one reason that is not a format error: a well-formed reply naming an action the state does not admit.
INADMISSIBLE = "inadmissible_action"

_WORDS = re.compile(r"[^\W\d_]+|\S")
_ANY_TAG = re.compile(r"</?(?:switch|subgoal|action|think)>")


def normalize_text(text: str) -> str:
    """Letter runs, then every other non-space character alone (digits too), joined by single spaces.

    This is exactly how the tiny word-level tokenizer splits text, so a decoded action compares equal
    to the admissible string it came from.
    """
    return " ".join(_WORDS.findall(text))


@dataclass
class ParsedTurn:
    """One parsed response. Spans are [start, end) character offsets into the parsed text.

    ``spans`` maps block name ("switch", "subgoal", "action", "think") to the span of the whole block,
    tags included, for every block that was found (even in an invalid turn).
    """

    valid: bool
    reason: str  # "" when valid
    switch_word: str | None = None
    subgoal: str | None = None  # normalised (see normalize_text)
    action: str | None = None  # admissible string verbatim when matched, else the raw block content
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def switch(self) -> bool | None:
        """True for SWITCH, False for KEEP, None when the switch word is missing or unknown."""
        return {SWITCH: True, KEEP: False}.get(self.switch_word or "")


def _find_block(text: str, open_tag: str, close_tag: str) -> tuple[str, tuple[int, int]] | None:
    """First ``open ... close`` block: its inner text and the span of the whole block."""
    start = text.find(open_tag)
    if start < 0:
        return None
    end = text.find(close_tag, start + len(open_tag))
    if end < 0:
        return None
    inner = text[start + len(open_tag) : end]
    return inner, (start, end + len(close_tag))


def match_action(action: str, admissible: list[str]) -> str | None:
    """The admissible action equal to ``action`` up to whitespace (see normalize_text), else None."""
    key = normalize_text(action)
    if not key:
        return None
    for candidate in admissible:
        if normalize_text(candidate) == key:
            return candidate
    return None


def parse_response(text: str, fmt: str, admissible: list[str]) -> ParsedTurn:
    """Parse ``text`` written in format ``fmt`` ("plan_execute" or "flat"); see the module docstring."""
    check_format(fmt)
    if not isinstance(text, str) or not text.strip():
        return ParsedTurn(False, "empty")
    names = ["switch", "subgoal", "action"] if fmt == "plan_execute" else ["think", "action"]
    tags = {
        "switch": (SWITCH_OPEN, SWITCH_CLOSE),
        "subgoal": (SUBGOAL_OPEN, SUBGOAL_CLOSE),
        "action": (ACTION_OPEN, ACTION_CLOSE),
        "think": (THINK_OPEN, THINK_CLOSE),
    }
    found = {name: _find_block(text, *tags[name]) for name in names}
    turn = ParsedTurn(False, "", spans={n: b[1] for n, b in found.items() if b is not None})
    if found.get("switch") is not None:
        turn.switch_word = found["switch"][0].strip()
    if found.get("subgoal") is not None:
        turn.subgoal = normalize_text(found["subgoal"][0])
    if found["action"] is not None:
        raw = found["action"][0].strip()
        turn.action = match_action(raw, admissible) or raw

    required = [n for n in names if n != "think"]
    for name in required:
        if found[name] is None:
            turn.reason = f"missing_{name}"
            return turn
    if fmt == "plan_execute":
        if turn.switch_word not in (KEEP, SWITCH):
            turn.reason = "bad_switch_word"
            return turn
        if not turn.subgoal:
            turn.reason = "empty_subgoal"
            return turn
    present = [n for n in names if found[n] is not None]
    if any(_ANY_TAG.search(found[n][0]) for n in present):
        turn.reason = "nested_tag"
        return turn
    # Exactly the blocks, in order, separated only by whitespace.
    cursor = 0
    for name in present:
        start, end = found[name][1]
        if start < cursor or text[cursor:start].strip():
            turn.reason = "order_or_extra_text"
            return turn
        cursor = end
    if text[cursor:].strip():
        turn.reason = "order_or_extra_text"
        return turn
    if match_action(found["action"][0], admissible) is None:
        turn.reason = INADMISSIBLE
        return turn
    turn.valid = True
    return turn
