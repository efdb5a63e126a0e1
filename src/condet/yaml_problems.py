"""What is wrong with an unreadable YAML file, in one line (every CLI error is one line)."""

from __future__ import annotations

import yaml


def yaml_problem(error: yaml.YAMLError | UnicodeDecodeError) -> str:
    """What is wrong with an unreadable YAML file, in one line, e.g. ``malformed YAML at line 2,
    column 1: expected the node content, but found '<stream end>' (while parsing a flow node)``.

    PyYAML's own message spans several lines (each position with a quoted excerpt and a caret),
    and every CLI error must be one line: keep the problem, its line and column, and what the
    parser was reading there.
    """
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
