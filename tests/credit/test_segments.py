"""segments_from_switch: hand examples, padding, empty rows, errors."""

from __future__ import annotations

import pytest
import torch

from hiper_repro.credit import segments_from_switch


def test_hand_example_with_padding_and_empty_row():
    switch = torch.tensor(
        [
            [False, False, True, False, True, True],
            [True, True, False, True, True, True],  # switch on padding is ignored
            [True, True, True, True, True, True],
        ]
    )
    mask = torch.tensor([[True] * 6, [True, True, True, False, False, False], [False] * 6])
    start, seg_id, length = segments_from_switch(switch, mask)
    assert start.tolist() == [
        [True, False, True, False, True, True],
        [True, True, False, False, False, False],
        [False] * 6,
    ]
    assert seg_id.tolist() == [[0, 0, 1, 1, 2, 3], [0, 1, 1, -1, -1, -1], [-1] * 6]
    assert length.tolist() == [[2, 2, 2, 2, 1, 1], [1, 2, 2, 0, 0, 0], [0] * 6]


def test_first_turn_always_starts_a_segment():
    start, seg_id, length = segments_from_switch(
        torch.zeros(1, 3, dtype=torch.bool), torch.ones(1, 3, dtype=torch.bool)
    )
    assert start.tolist() == [[True, False, False]]
    assert seg_id.tolist() == [[0, 0, 0]]
    assert length.tolist() == [[3, 3, 3]]


def test_every_turn_a_switch():
    start, seg_id, length = segments_from_switch(
        torch.ones(2, 4, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)
    )
    assert start.all() and seg_id.tolist() == [[0, 1, 2, 3]] * 2 and (length == 1).all()


def test_errors():
    with pytest.raises(ValueError, match="switch must have shape"):
        segments_from_switch(torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="prefix"):
        segments_from_switch(torch.ones(1, 3, dtype=torch.bool), torch.tensor([[False, True, True]]))
    with pytest.raises(ValueError, match="mask must be a 2-D"):
        segments_from_switch(torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool))


def test_zero_turns_is_an_error():
    with pytest.raises(ValueError, match="at least one turn"):
        segments_from_switch(torch.zeros(2, 0, dtype=torch.bool), torch.zeros(2, 0, dtype=torch.bool))
