"""The rank matrices the ranked loss reads, from class rankings or superclass groups.

A rank matrix ``R`` (LongTensor ``[C, C]``) says, for an anchor of class ``c``, how a sample of
class ``c'`` counts: ``R[c, c'] = k`` in ``1..r`` makes it a rank-``k`` positive (``R[c, c] = 1``:
its own class), ``0`` a negative.

Two ways to make one:

- **Rankings** (the contrastive-detection report): each class lists the other classes from most
  to least similar. Its own class is rank 1, the first listed rank 2, and so on, truncated at
  ``r``::

      rankings:
        aeroplane: [bird, boat]
        cat: [dog, sheep]
        person: []

- **Groups** (RINCE's superclasses, Hoffmann et al. 2022): rank 1 is the same class, rank 2 any
  other class of the same group::

      groups:
        animal: [bird, cat, cow, dog, horse, sheep]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from condet.errors import CondetError


class RankingError(CondetError):
    """Rankings or groups that do not fit the classes they are used with."""


def _file_prefix(mapping: Mapping[str, Sequence[str]]) -> str:
    """``"FILE: "`` for a mapping read from a file (:mod:`condet.rankings.files`), so that a
    mismatch found against the data set's classes names the file to fix."""
    source = getattr(mapping, "source", None)
    return f"{source}: " if source is not None else ""


def rank_matrix_from_rankings(
    classes: Sequence[str], rankings: Mapping[str, Sequence[str]], r: int
) -> torch.Tensor:
    """Rank matrix from per-class similarity rankings, truncated at rank ``r``.

    Args:
        classes: class names in label order (``C`` of them).
        rankings: for every class, the other classes from most to least similar.
        r: the number of ranks kept (1: only the own class is positive: SupCon).

    Returns:
        LongTensor ``[C, C]``.

    Raises:
        RankingError: a class of ``classes`` without an entry, an unknown class name, a class
            listed twice, or a class listed in its own ranking.

    >>> rank_matrix_from_rankings(["bird", "boat", "plane"], {"plane": ["bird", "boat"],
    ...                           "bird": ["plane"], "boat": []}, r=3)
    tensor([[1, 0, 2],
            [0, 1, 0],
            [2, 3, 1]])
    """
    if r < 1:
        raise RankingError(f"r must be at least 1, got {r}")
    index = _class_index(classes)
    where = _file_prefix(rankings)
    unknown = sorted(set(rankings) - set(index))
    if unknown:
        raise RankingError(
            f"{where}rankings name unknown classes: {', '.join(unknown)} "
            f"(classes: {', '.join(index)})"
        )
    missing = [name for name in classes if name not in rankings]
    if missing:
        raise RankingError(
            f"{where}no ranking for {', '.join(missing)}; list every class (an empty list, e.g. "
            f"'{missing[0]}: []', ranks no other class)"
        )
    matrix = torch.eye(len(classes), dtype=torch.long)
    for name, neighbours in rankings.items():
        _check_names(f"{where}the ranking of {name!r}", neighbours, index)
        if name in neighbours:
            raise RankingError(
                f"{where}{name!r} is ranked in its own list; its own class is always rank 1"
            )
        for position, neighbour in enumerate(neighbours[: r - 1]):
            matrix[index[name], index[neighbour]] = position + 2
    return matrix


def rank_matrix_from_groups(
    classes: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> torch.Tensor:
    """Rank matrix from superclass groups: 1 on the diagonal, 2 within a group, 0 elsewhere.

    Classes in no group have only their own class as positive. A class in two groups, a class
    listed twice or an unknown class name is a :class:`RankingError`.

    >>> rank_matrix_from_groups(["cat", "dog", "car"], {"animal": ["cat", "dog"]})
    tensor([[1, 2, 0],
            [2, 1, 0],
            [0, 0, 1]])
    """
    index = _class_index(classes)
    where = _file_prefix(groups)
    group_of: dict[str, str] = {}
    for group, members in groups.items():
        _check_names(f"{where}group {group!r}", members, index)
        for member in members:
            if member in group_of:
                raise RankingError(
                    f"{where}{member!r} is in two groups: {group_of[member]!r}, {group!r}"
                )
            group_of[member] = group
    matrix = torch.eye(len(classes), dtype=torch.long)
    for first, first_group in group_of.items():
        for second, second_group in group_of.items():
            if first != second and first_group == second_group:
                matrix[index[first], index[second]] = 2
    return matrix


def _class_index(classes: Sequence[str]) -> dict[str, int]:
    index = {name: position for position, name in enumerate(classes)}
    if len(index) != len(classes):
        raise RankingError("the class list names a class twice")
    return index


def _check_names(where: str, names: Sequence[str], index: Mapping[str, int]) -> None:
    unknown = [name for name in names if name not in index]
    if unknown:
        raise RankingError(
            f"{where} names unknown classes: {', '.join(unknown)} (classes: {', '.join(index)})"
        )
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise RankingError(f"{where} lists {', '.join(repeated)} more than once")
