"""The schema table is self-consistent and renders as documentation."""

import pytest

from hiper_repro.traces.schema import (
    DIMS,
    FILL,
    GROUPS,
    PROVENANCE_COORDS,
    ROOT_ATTRS,
    RUN_DIMS,
    TraceSchemaError,
    schema_markdown,
)


@pytest.mark.parametrize("group", list(GROUPS))
def test_group_is_consistent(group):
    spec = GROUPS[group]
    assert spec.presence in spec.variables
    assert all(d in DIMS for d in spec.dims)
    # STYLE: no variable shares a dimension's name.
    assert not set(spec.variables) & (set(DIMS) | set(RUN_DIMS))
    for var in spec.variables.values():
        assert var.dtype in FILL and var.long_name and isinstance(var.units, str)


def test_turns_and_segments_carry_the_contract_variables():
    # docs/ARCHITECTURE.md, section traces.
    assert list(GROUPS["turns"].variables)[:5] == ["mask", "reward", "done", "valid", "switch"]
    for name in (
        "adv_low",
        "adv_high",
        "adv_switch",
        "adv_flat",
        "adv_action",
        "ret_low",
        "returns",
        "logprob",
    ):
        assert name in GROUPS["turns"].variables
    assert {"start_turn", "length", "reward", "adv_high", "value_high", "ret_high", "subgoal"} == set(
        GROUPS["segments"].variables
    )


def test_provenance_coords_exclude_run_dims():
    assert set(PROVENANCE_COORDS) == set(ROOT_ATTRS) - set(RUN_DIMS) - {"schema_version"}


def test_markdown_lists_every_variable():
    text = schema_markdown()
    for gname, spec in GROUPS.items():
        assert f"### /{gname}" in text
        for vname in spec.variables:
            assert f"`{vname}`" in text


def test_error_lists_every_problem():
    err = TraceSchemaError(["a is wrong", "b is missing"], where="run x")
    assert err.problems == ["a is wrong", "b is missing"]
    assert "run x" in str(err) and "2 problems" in str(err) and "  - b is missing" in str(err)
    assert isinstance(err, ValueError)


def test_docs_embed_the_current_table():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "TRACES.md"
    assert schema_markdown().strip() in docs.read_text(), "regenerate docs/TRACES.md from schema_markdown()"
