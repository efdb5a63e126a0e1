"""Data problems: what is wrong with a record, raised at once or skipped and reported.

A reader meets a bad record (a malformed annotation, a missing image, a degenerate box) and
hands it to its :class:`ProblemLog`: a :class:`DataError` naming the file, or, when the caller
asked to skip bad records (``skip_invalid=True``), a :class:`DataProblem` kept with the
annotations. Commands keep going past bad records, which is what users of a large data set
with a few broken files expect, but never silently: :func:`report_skipped` logs one line
counting what was skipped, by kind, writes every skipped file and why to ``RUN/skipped.txt``,
and returns the counts for the run's results; with ``strict`` it raises instead, one
:class:`DataError` naming the first problem and how many there are.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from condet.errors import CondetError
from condet.io import write_text_atomic

if TYPE_CHECKING:
    # for annotations only: the annotations module imports this one (a split keeps its problems)
    from condet.data.annotations import Annotations

logger = logging.getLogger("condet")

SKIPPED_FILE = "skipped.txt"


class DataError(CondetError):
    """A problem in a data set file. The message names the file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# What a skipped record was, singular -> plural, for the summaries that count them by kind.
PROBLEM_KINDS: dict[str, str] = {
    "missing annotation": "missing annotations",
    "malformed annotation": "malformed annotations",
    "missing image": "missing images",
    "unreadable image": "unreadable images",
    "image size mismatch": "image size mismatches",
    "invalid image entry": "invalid image entries",
    "duplicate image": "duplicate images",
    "object of an unknown class": "objects of unknown classes",
    "degenerate box": "degenerate boxes",
    "box outside the image": "boxes outside the image",
    "non-finite box": "non-finite boxes",
    "invalid record": "invalid records",
}


@dataclass(frozen=True)
class DataProblem:
    """A record a reader skipped because the caller asked it to (``skip_invalid=True``).

    ``kind`` is one of :data:`PROBLEM_KINDS`; ``unit`` says what was skipped for it: the whole
    ``image`` (its annotation or image file is unusable) or one ``object`` of it.
    """

    path: str
    problem: str
    kind: str = "invalid record"
    unit: Literal["image", "object"] = "image"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


# Set while a caller that reports the problems itself (condet data check, the training
# commands) reads data, so that the readers' own one-line warnings do not repeat it.
_warnings_off: ContextVar[bool] = ContextVar("condet_problem_warnings_off", default=False)


@contextmanager
def problem_warnings_off() -> Iterator[None]:
    """Readers called inside this block do not log their summary of skipped records."""
    token = _warnings_off.set(True)
    try:
        yield
    finally:
        _warnings_off.reset(token)


class ProblemLog:
    """Raises on the first problem, or, when skipping is allowed, records every problem."""

    def __init__(self, skip_invalid: bool) -> None:
        self.skip_invalid = skip_invalid
        self.problems: list[DataProblem] = []

    def report(
        self,
        path: str | Path,
        problem: str,
        kind: str,
        unit: Literal["image", "object"] = "image",
    ) -> None:
        if kind not in PROBLEM_KINDS:
            raise ValueError(f"unknown kind of data problem {kind!r}")
        if not self.skip_invalid:
            raise DataError(path, problem)
        self.problems.append(DataProblem(str(path), problem, kind, unit))

    def summarize(self, source: str | Path) -> None:
        if self.problems and not _warnings_off.get():
            logger.warning(
                "%s: skipped %d invalid record(s); the first: %s",
                source,
                len(self.problems),
                self.problems[0],
            )


def skipped_counts(splits: Mapping[str, Annotations]) -> dict[str, Any]:
    """What the readers of ``splits`` (by source) skipped, for a run's results.

    ``images`` / ``objects`` are the records skipped, ``of_images`` the images the splits
    list and ``of_objects`` the objects in the images that were read (an image skipped
    whole is not opened, so its objects are not counted); ``by_kind`` counts every skip by
    its kind (a key of :data:`PROBLEM_KINDS`).
    """
    problems = [problem for split in splits.values() for problem in split.problems]
    images = sum(problem.unit == "image" for problem in problems)
    objects = len(problems) - images
    kept_images = sum(len(split) for split in splits.values())
    kept_objects = sum(split.num_objects for split in splits.values())
    return {
        "records": len(problems),
        "images": images,
        "of_images": kept_images + images,
        "objects": objects,
        "of_objects": kept_objects + objects,
        "by_kind": dict(Counter(problem.kind for problem in problems)),
    }


def report_skipped(
    splits: Mapping[str, Annotations], run: Path | None, strict: bool
) -> dict[str, Any]:
    """Raise (``strict``) or report what the readers of ``splits`` skipped; returns
    :func:`skipped_counts`.

    Reporting logs one summary line and writes ``run/skipped.txt`` (``run`` None: no file).
    With nothing skipped it says nothing and removes a ``skipped.txt`` left by an earlier
    run in the same folder, so the folder never lists skips that did not happen.

    Raises:
        DataError: ``strict`` and a problem was found: the first one, with the total count.
    """
    problems = [problem for split in splits.values() for problem in split.problems]
    counts = skipped_counts(splits)
    listing = None if run is None else run / SKIPPED_FILE
    if not problems:
        if listing is not None:
            listing.unlink(missing_ok=True)
        return counts
    if strict:
        first = problems[0]
        which = (
            "the only problem" if len(problems) == 1 else f"the first of {len(problems)} problems"
        )
        raise DataError(
            first.path,
            f"{first.problem} ({which} in the data; condet data check lists them all; "
            "without --strict they are skipped)",
        )
    where = "" if listing is None else f"; see {listing}"
    logger.warning("%s%s", summary_line(counts), where)
    if listing is not None:
        lines = [f"# {summary_line(counts)}"]
        for source, split in splits.items():
            if split.problems:
                lines += ["", f"{source}:"]
                lines += [f"  {problem}  [{problem.kind}]" for problem in split.problems]
        write_text_atomic(listing, "\n".join(lines) + "\n")
    return counts


def summary_line(counts: dict[str, Any]) -> str:
    """``skipped 2 of 40 images and 1 of 90 objects: 1 malformed annotation, ...``."""
    skipped = []
    for unit in ("images", "objects"):
        if counts[unit]:
            skipped.append(f"{counts[unit]} of {counts[f'of_{unit}']} {unit}")
    kinds = ", ".join(
        f"{count} {kind if count == 1 else PROBLEM_KINDS[kind]}"
        for kind, count in counts["by_kind"].items()
    )
    return f"skipped {' and '.join(skipped)}: {kinds}"
