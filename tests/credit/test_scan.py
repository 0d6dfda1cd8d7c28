"""The shared core: the matrix form of the discounted suffix sum equals the time loop."""

from __future__ import annotations

import pytest
import torch

from hiper_repro.credit.scan import discount_matrix, discounted_suffix_sum, reverse_scan


@pytest.mark.parametrize("c", [0.0, 0.3, 0.95, 1.0], ids=["c0", "c0.3", "c0.95", "c1"])
def test_matrix_form_equals_time_loop(c):
    x = torch.randn(5, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(discounted_suffix_sum(x, c), reverse_scan(x, torch.full_like(x, c)))


def test_discount_matrix_entries():
    g = discount_matrix(0.5, 3, torch.float64, torch.device("cpu"))
    assert g.tolist() == [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.25, 0.5, 1.0]]
