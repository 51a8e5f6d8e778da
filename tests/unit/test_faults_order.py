"""Which notifications a fault run counts as delivered out of order."""

import pytest

from hybridmsg.faults.scenario import out_of_order


@pytest.mark.parametrize(
    ("arrivals", "late"),
    [((0, 1, 2), 0), ((0, 2, 1, 3), 1), ((0, 1, 1, 2), 0), ((2, 0, 1), 2), ((), 0)],
)
def test_out_of_order_counts_first_arrivals_behind_a_later_one(arrivals, late):
    assert out_of_order(arrivals) == late
