"""The two response formats the agent can be asked to write, and their tags.

Plan-Execute (docs/METHOD.md section 1): every turn is exactly three blocks, in this order,

    <switch>KEEP|SWITCH</switch><subgoal>...</subgoal><action>...</action>

Flat (ReAct-style baseline): an optional short ``<think>...</think>`` then ``<action>...</action>``.

Both end at the closing action tag, which is also the generation stop string.
"""

from __future__ import annotations

from typing import Literal

Format = Literal["plan_execute", "flat"]
FORMATS: tuple[str, ...] = ("plan_execute", "flat")

SWITCH_OPEN, SWITCH_CLOSE = "<switch>", "</switch>"
SUBGOAL_OPEN, SUBGOAL_CLOSE = "<subgoal>", "</subgoal>"
ACTION_OPEN, ACTION_CLOSE = "<action>", "</action>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
KEEP, SWITCH = "KEEP", "SWITCH"

#: Every tag; the tiny tokenizer makes each one a single token.
TAGS: tuple[str, ...] = (
    SWITCH_OPEN,
    SWITCH_CLOSE,
    SUBGOAL_OPEN,
    SUBGOAL_CLOSE,
    ACTION_OPEN,
    ACTION_CLOSE,
    THINK_OPEN,
    THINK_CLOSE,
)
STOP_STRING = ACTION_CLOSE

#: Block ids per response token (the ``block`` field of TurnTokens).
BLOCK_NONE, BLOCK_SWITCH, BLOCK_SUBGOAL, BLOCK_ACTION = 0, 1, 2, 3


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it names a known format, else raise ValueError naming the allowed ones."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    return fmt


def render_response(fmt: str, action: str, subgoal: str | None = None, switch: bool | None = None) -> str:
    """The response text a perfect agent writes: used for demonstrations and tests."""
    check_format(fmt)
    act = f"{ACTION_OPEN}{action}{ACTION_CLOSE}"
    if fmt == "flat":
        return act
    if subgoal is None or switch is None:
        raise ValueError("plan_execute responses need both subgoal and switch, got None")
    word = SWITCH if switch else KEEP
    return f"{SWITCH_OPEN}{word}{SWITCH_CLOSE}\n{SUBGOAL_OPEN}{subgoal}{SUBGOAL_CLOSE}\n{act}"
