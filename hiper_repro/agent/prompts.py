"""Prompts for the Plan-Execute and flat formats (docs/METHOD.md section 1).

A prompt shows, in this order: the task, the step number, the last ``history_length`` (default 2)
observation/action pairs, the current observation, "current subgoal: <o_{t-1}>" ("None" at t = 0;
Plan-Execute only), and the admissible actions. Tiny models get exactly that, tersely (the prompt is most
of the update cost); models with a chat template get it as the user message after a system message that
explains the format, rendered by the tokenizer's chat template with the generation prompt appended.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from hiper_repro.agent.formats import check_format

NO_SUBGOAL = "None"

SYSTEM_PLAN_EXECUTE = (
    "You are an agent acting in a text environment. On every turn answer with exactly three blocks and "
    "nothing else:\n<switch>KEEP or SWITCH</switch>\n<subgoal>a short objective reachable in a few "
    "actions</subgoal>\n<action>one admissible action, copied verbatim</action>\nWrite SWITCH to start a "
    "new subgoal, KEEP to continue the current one (then copy the current subgoal exactly)."
)
SYSTEM_FLAT = (
    "You are an agent acting in a text environment. On every turn answer with <think>a short thought"
    "</think> (optional) followed by <action>one admissible action, copied verbatim</action> and nothing else."
)


@dataclass(frozen=True)
class PromptState:
    """What the prompt of turn ``step`` shows."""

    task: str
    step: int  # 0-based turn index t; shown 1-based
    history: tuple[tuple[str, str], ...]  # (observation, action taken) pairs, oldest first, already cut
    observation: str
    admissible: tuple[str, ...]
    subgoal: str | None  # o_{t-1}; None at t = 0


def prompt_text(state: PromptState, fmt: str) -> str:
    """The plain-text body of the prompt (no chat wrapping)."""
    check_format(fmt)
    lines = [f"task: {state.task}", f"step {state.step + 1}"]
    for obs, act in state.history:
        lines.append(f"observation: {obs} action: {act}")
    lines.append(f"observation: {state.observation}")
    if fmt == "plan_execute":
        lines.append(f"current subgoal: {state.subgoal or NO_SUBGOAL}")
    lines.append("admissible actions: " + " | ".join(state.admissible))
    return "\n".join(lines)


def uses_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_prompt(state: PromptState, fmt: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """The full prompt string: chat-templated when the tokenizer has a template, else the plain body."""
    body = prompt_text(state, fmt)
    if not uses_chat_template(tokenizer):
        return body + "\n"
    system = SYSTEM_PLAN_EXECUTE if fmt == "plan_execute" else SYSTEM_FLAT
    messages = [{"role": "system", "content": system}, {"role": "user", "content": body}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode_prompt(state: PromptState, fmt: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids of the prompt (the chat template brings its own special tokens)."""
    return tokenizer.encode(render_prompt(state, fmt, tokenizer), add_special_tokens=False)


def cut_history(history: list[tuple[str, str]], history_length: int) -> tuple[tuple[str, str], ...]:
    """The last ``history_length`` pairs."""
    if history_length < 0:
        raise ValueError(f"history_length must be >= 0, got {history_length}")
    return tuple(history[-history_length:]) if history_length else ()
