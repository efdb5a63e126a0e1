from __future__ import annotations

import pytest

from condet.errors import CondetError
from condet.selection import budget_count


def test_a_count_or_a_fraction_of_the_split():
    assert budget_count(45, 448) == 45
    assert budget_count(0.1, 448) == 45
    assert budget_count(0.001, 448) == 1  # never an empty selection


@pytest.mark.parametrize(
    ("budget", "images", "labeled", "message"),
    [
        (449, 448, 0, "budget 449 is larger than the 448 images that can be chosen"),
        (440, 448, 10, "budget 440 is larger than the 438 images that can be chosen"),
        (2.5, 448, 0, "a count must be whole"),
        (0, 448, 0, "--budget must be positive"),
    ],
)
def test_a_budget_that_does_not_fit_is_one_line(budget, images, labeled, message):
    with pytest.raises(CondetError, match=message) as error:
        budget_count(budget, images, labeled)
    assert "\n" not in str(error.value)
