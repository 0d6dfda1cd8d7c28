"""Parser: hand-written cases for every fault, and fuzzing (it never raises)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiper_repro.agent.formats import TAGS, render_response
from hiper_repro.agent.parser import match_action, normalize_text, parse_response

ADMISSIBLE = ["go to fridge 1", "take egg 2 from diningtable 1", "put apple 1 in/on countertop 12"]


class TestPlanExecute:
    def test_valid_turn(self):
        text = "<switch>SWITCH</switch>\n<subgoal>find egg 2</subgoal>\n<action>go to fridge 1</action>"
        turn = parse_response(text, "plan_execute", ADMISSIBLE)
        assert turn.valid and turn.reason == ""
        assert (turn.switch_word, turn.switch, turn.subgoal, turn.action) == (
            "SWITCH",
            True,
            "find egg 2",
            "go to fridge 1",
        )
        assert text[slice(*turn.spans["switch"])] == "<switch>SWITCH</switch>"
        assert text[slice(*turn.spans["subgoal"])] == "<subgoal>find egg 2</subgoal>"
        assert text[slice(*turn.spans["action"])] == "<action>go to fridge 1</action>"

    def test_word_level_decoding_matches_verbatim_action(self):
        # How the tiny tokenizer decodes: spaces around every tag, digit and punctuation mark.
        text = "<switch> KEEP </switch> <subgoal> find egg 2 </subgoal> <action> put apple 1 in / on countertop 1 2 </action>"
        turn = parse_response(text, "plan_execute", ADMISSIBLE)
        assert turn.valid
        assert turn.action == "put apple 1 in/on countertop 12"
        assert turn.switch is False and turn.subgoal == "find egg 2"

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("", "empty"),
            ("   \n", "empty"),
            ("<subgoal>x</subgoal><action>go to fridge 1</action>", "missing_switch"),
            ("<switch>KEEP</switch><action>go to fridge 1</action>", "missing_subgoal"),
            ("<switch>KEEP</switch><subgoal>x</subgoal>", "missing_action"),
            ("<switch>KEEP</switch><subgoal>x</subgoal><action>go to fridge 1", "missing_action"),
            ("<switch>MAYBE</switch><subgoal>x</subgoal><action>go to fridge 1</action>", "bad_switch_word"),
            ("<switch>keep</switch><subgoal>x</subgoal><action>go to fridge 1</action>", "bad_switch_word"),
            ("<switch>KEEP</switch><subgoal> </subgoal><action>go to fridge 1</action>", "empty_subgoal"),
            (
                "hello <switch>KEEP</switch><subgoal>x</subgoal><action>go to fridge 1</action>",
                "order_or_extra_text",
            ),
            (
                "<switch>KEEP</switch> and <subgoal>x</subgoal><action>go to fridge 1</action>",
                "order_or_extra_text",
            ),
            (
                "<switch>KEEP</switch><subgoal>x</subgoal><action>go to fridge 1</action> bye",
                "order_or_extra_text",
            ),
            (
                "<subgoal>x</subgoal><switch>KEEP</switch><action>go to fridge 1</action>",
                "order_or_extra_text",
            ),
            (
                "<switch>KEEP</switch><subgoal>x</subgoal><action>go to fridge 2</action>",
                "inadmissible_action",
            ),
            ("<switch>KEEP</switch><subgoal>x</subgoal><action></action>", "inadmissible_action"),
            (
                "<switch>KEEP</switch><subgoal>x <action></subgoal><action>go to fridge 1</action>",
                "nested_tag",
            ),
        ],
    )
    def test_invalid_turns(self, text, reason):
        turn = parse_response(text, "plan_execute", ADMISSIBLE)
        assert not turn.valid
        assert turn.reason == reason

    def test_partial_fields_survive_invalid_turn(self):
        turn = parse_response(
            "<switch>SWITCH</switch><subgoal>find egg 2</subgoal><action>fly</action>",
            "plan_execute",
            ADMISSIBLE,
        )
        assert not turn.valid and turn.reason == "inadmissible_action"
        assert turn.switch is True and turn.subgoal == "find egg 2" and turn.action == "fly"


class TestFlat:
    def test_action_only(self):
        turn = parse_response("<action>go to fridge 1</action>", "flat", ADMISSIBLE)
        assert turn.valid and turn.action == "go to fridge 1" and turn.switch is None

    def test_think_then_action(self):
        turn = parse_response(
            "<think>need the egg</think> <action>take egg 2 from diningtable 1</action>", "flat", ADMISSIBLE
        )
        assert turn.valid and "think" in turn.spans

    def test_action_before_think_is_invalid(self):
        turn = parse_response("<action>go to fridge 1</action><think>x</think>", "flat", ADMISSIBLE)
        assert not turn.valid and turn.reason == "order_or_extra_text"

    def test_switch_block_is_extra_text_in_flat(self):
        turn = parse_response("<switch>KEEP</switch><action>go to fridge 1</action>", "flat", ADMISSIBLE)
        assert not turn.valid and turn.reason == "order_or_extra_text"


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="fmt must be one of"):
        parse_response("<action>x</action>", "react", ADMISSIBLE)


def test_normalize_and_match():
    assert normalize_text("  put apple 1 in/on countertop 12 ") == "put apple 1 in / on countertop 1 2"
    assert match_action("go  to fridge 1", ADMISSIBLE) == "go to fridge 1"
    assert match_action("go to fridge", ADMISSIBLE) is None
    assert match_action("", ADMISSIBLE) is None


fragments = st.sampled_from([*TAGS, "KEEP", "SWITCH", "go to fridge 1", "find egg", " ", "\n", "<", ">", "/"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(fragments, st.text(max_size=8)), max_size=12),
    st.sampled_from(["plan_execute", "flat"]),
)
def test_fuzz_never_raises(parts, fmt):
    turn = parse_response("".join(parts), fmt, ADMISSIBLE)
    assert isinstance(turn.valid, bool)
    assert turn.valid == (turn.reason == "")
    if turn.valid:
        assert turn.action in ADMISSIBLE


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(ADMISSIBLE),
    st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=12),
    st.booleans(),
)
def test_fuzz_rendered_responses_round_trip(action, subgoal, switch):
    turn = parse_response(
        render_response("plan_execute", action, subgoal, switch), "plan_execute", ADMISSIBLE
    )
    assert turn.valid
    assert (turn.action, turn.switch, turn.subgoal) == (action, switch, normalize_text(subgoal))
