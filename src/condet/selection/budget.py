"""How many images a budget is: a count (45) or a fraction of the split (0.1)."""

from __future__ import annotations

from condet.errors import CondetError


def budget_count(budget: float, images: int, labeled: int = 0) -> int:
    """The number of images ``budget`` asks for, from a split of ``images`` of which
    ``labeled`` are labelled already.

    A budget below 1 is a fraction of the split's images (at least one image); 1 or more is a
    count. A budget larger than the images not yet labelled is a :class:`CondetError`.

    >>> budget_count(0.1, 448), budget_count(45, 448)
    (45, 45)
    """
    if budget <= 0:
        raise CondetError(
            f"--budget must be positive (a count, or a fraction below 1), got {budget:g}"
        )
    if budget < 1:
        count = max(1, round(budget * images))
    elif budget != int(budget):
        raise CondetError(f"--budget {budget:g}: a count must be whole (a fraction is below 1)")
    else:
        count = int(budget)
    check_budget(count, images - labeled)
    return count


def check_budget(budget: int, available: int) -> None:
    """Raise a :class:`CondetError` unless 1 <= ``budget`` <= ``available`` (images not yet
    labelled)."""
    if budget < 1:
        raise CondetError(f"the budget must be at least 1 image, got {budget}")
    if budget > available:
        raise CondetError(
            f"budget {budget} is larger than the {available} images that can be chosen "
            "(the split's images not yet labelled); lower --budget"
        )
