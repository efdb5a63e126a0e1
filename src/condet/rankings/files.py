"""Reading a rankings or groups YAML file (the formats :mod:`condet.rankings.matrix` lists)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from condet.rankings.matrix import RankingError
from condet.yaml_files import YamlFileError, read_yaml


class _ReadFrom(dict[str, list[str]]):
    """A rankings or groups mapping that remembers the YAML file it was read from, so that a
    mismatch found later, against the data set's classes, names the file to fix."""

    def __init__(self, mapping: Mapping[str, list[str]], source: Path) -> None:
        super().__init__(mapping)
        self.source = source


def load_rankings(path: str | Path) -> dict[str, list[str]]:
    """The ``rankings:`` mapping of a YAML file (see :mod:`condet.rankings.matrix`).

    A ``dict`` subclass that keeps the path, so that the errors of
    :func:`~condet.rankings.matrix.rank_matrix_from_rankings` name the file.
    """
    return _load_mapping(path, "rankings")


def load_groups(path: str | Path) -> dict[str, list[str]]:
    """The ``groups:`` mapping of a YAML file (see :mod:`condet.rankings.matrix`).

    A ``dict`` subclass that keeps the path, so that the errors of
    :func:`~condet.rankings.matrix.rank_matrix_from_groups` name the file.
    """
    return _load_mapping(path, "groups")


def _load_mapping(path: str | Path, key: str) -> dict[str, list[str]]:
    path = Path(path)
    try:
        document: Any = read_yaml(path)
    except YamlFileError as error:
        raise RankingError(str(error)) from None
    if not isinstance(document, dict) or not isinstance(document.get(key), dict):
        raise RankingError(f"{path}: expected a '{key}:' mapping of class name to a list")
    mapping = {}
    for name, values in document[key].items():
        values = [] if values is None else values
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RankingError(f"{path}: '{name}' must map to a list of class names")
        mapping[str(name)] = values
    return _ReadFrom(mapping, path)
