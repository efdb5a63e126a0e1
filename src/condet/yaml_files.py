"""Reading a YAML file, with what is wrong with it in one line (every CLI error is one line).

Every YAML file condet reads goes through :func:`read_yaml`: config files, protocols,
rankings and groups, YOLO's ``data.yaml`` and a run's saved ``config.yaml``. PyYAML's own
message spans several lines (each position with a quoted excerpt and a caret); the error here
keeps the problem, its line and column, and what the parser was reading there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from condet.errors import CondetError


class YamlFileError(CondetError):
    """A YAML file that is missing or does not parse: ``PATH: PROBLEM``. Callers with an error
    class of their own (a config file's, a data set's) raise it from ``path`` and ``problem``."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """The document in the YAML file ``path`` (None for an empty file).

    A missing file (``PATH: WHAT not found``), text that is not UTF-8 or malformed YAML raise
    :class:`YamlFileError` with one line, e.g. ``protocol.yaml: malformed YAML at line 2, column
    1: expected the node content, but found '<stream end>' (while parsing a flow node)``.
    """
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise YamlFileError(path, f"{what} not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise YamlFileError(path, yaml_problem(error)) from None


def yaml_problem(error: yaml.YAMLError | UnicodeDecodeError) -> str:
    """What is wrong with unreadable YAML, in one line, e.g. ``malformed YAML at line 2, column
    1: expected the node content, but found '<stream end>' (while parsing a flow node)``."""
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (at byte {error.start})"
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "unreadable"
        context = f" ({error.context})" if error.problem and error.context else ""
        text = f"malformed YAML{where}: {problem}{context}"
    else:
        # A ReaderError (a character YAML does not allow): its first line says which.
        text = "malformed YAML: " + str(error).splitlines()[0]
    return " ".join(text.split())
