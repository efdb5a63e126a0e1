"""What a command skipped in its data: counted, said in one line, listed in ``RUN/skipped.txt``.

Commands read their data with ``skip_invalid=True`` and keep going past bad records (a malformed
annotation, a missing image or one that does not decode, a degenerate box), which is what users
of a large data set with a few broken files expect, but never silently. :class:`SkippedRecords`
reads every data set a command uses, then :meth:`~SkippedRecords.report` logs one line counting
what was skipped, by kind, writes every skipped file and why to ``RUN/skipped.txt``, and returns
the counts for the run's results. With ``strict`` it raises instead: one :class:`DataError`
naming the first problem and how many there are.

    skipped = SkippedRecords(strict=config.strict)
    train = skipped.load(config.data, "train")
    test = skipped.load(config.data, "test", classes=train.classes)
    results["skipped"] = skipped.report(run)
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from condet.data.annotations import (
    PROBLEM_KINDS,
    Annotations,
    DataError,
    DataProblem,
    problem_warnings_off,
)
from condet.data.decode_check import DecodeCheck
from condet.data.images import default_cache_dir
from condet.data.load import load_annotations
from condet.io import write_text_atomic

logger = logging.getLogger("condet")

SKIPPED_FILE = "skipped.txt"


class SkippedRecords:
    """The data sets one command read, and what their readers and the decode check skipped.

    Args:
        strict: :meth:`report` raises at the first problem instead of reporting the skips.
        cache_dir: where the decode check keeps what it found (default: the cache folder of
            :func:`~condet.data.images.default_cache_dir`).
        progress: show a progress bar while images are decoded for the first time.
    """

    def __init__(
        self, strict: bool = False, cache_dir: str | Path | None = None, progress: bool = False
    ) -> None:
        self.strict = strict
        # By source (data set and split): a split read twice (test = train) is counted once.
        self.loaded: dict[str, Annotations] = {}
        self.decode_check = DecodeCheck(cache_dir or default_cache_dir(), progress)

    def load(
        self,
        path: str | Path,
        split: str | None = None,
        image_root: str | Path | None = None,
        classes: list[str] | None = None,
    ) -> Annotations:
        """:func:`~condet.data.load.load_annotations` with ``skip_invalid=True``, without the
        images that do not decode (:class:`~condet.data.decode_check.DecodeCheck`), counted here.

        The reader's own warning is held back: :meth:`report` says it once for all the data.
        """
        with problem_warnings_off():
            annotations = load_annotations(
                path, split, image_root=image_root, classes=classes, skip_invalid=True
            )
        broken = self.decode_check.problems(annotations)
        if broken:
            paths = {problem.path for problem in broken}
            annotations = annotations.derive(
                [image for image in annotations if str(image.image_path) not in paths],
                problems=[*annotations.problems, *broken],
            )
        self.loaded.setdefault(annotations.source, annotations)
        return annotations

    @property
    def problems(self) -> list[DataProblem]:
        return [problem for split in self.loaded.values() for problem in split.problems]

    def counts(self) -> dict[str, Any]:
        """What was skipped, for a run's results.

        ``images`` / ``objects`` are the records skipped, ``of_images`` the images the splits
        list and ``of_objects`` the objects in the images that were read (an image skipped
        whole is not opened, so its objects are not counted); ``by_kind`` counts every skip by
        its kind (a key of :data:`~condet.data.annotations.PROBLEM_KINDS`).
        """
        problems = self.problems
        images = sum(problem.unit == "image" for problem in problems)
        objects = len(problems) - images
        kept_images = sum(len(split) for split in self.loaded.values())
        kept_objects = sum(split.num_objects for split in self.loaded.values())
        return {
            "records": len(problems),
            "images": images,
            "of_images": kept_images + images,
            "objects": objects,
            "of_objects": kept_objects + objects,
            "by_kind": dict(Counter(problem.kind for problem in problems)),
        }

    def report(self, run: Path | None) -> dict[str, Any]:
        """Raise (``strict``) or report what was skipped; returns :meth:`counts`.

        Reporting logs one summary line and writes ``run/skipped.txt`` (``run`` None: no file).
        With nothing skipped it says nothing and removes a ``skipped.txt`` left by an earlier
        run in the same folder, so the folder never lists skips that did not happen.

        Raises:
            DataError: ``strict`` and a problem was found: the first one, with the total count.
        """
        problems = self.problems
        counts = self.counts()
        listing = None if run is None else run / SKIPPED_FILE
        if not problems:
            if listing is not None:
                listing.unlink(missing_ok=True)
            return counts
        if self.strict:
            first = problems[0]
            which = (
                "the only problem"
                if len(problems) == 1
                else f"the first of {len(problems)} problems"
            )
            raise DataError(
                first.path,
                f"{first.problem} ({which} in the data; condet data check lists them all; "
                "without --strict they are skipped)",
            )
        where = "" if listing is None else f"; see {listing}"
        logger.warning("%s%s", summary_line(counts), where)
        if listing is not None:
            write_text_atomic(listing, self._listing(counts))
        return counts

    def _listing(self, counts: dict[str, Any]) -> str:
        lines = [f"# {summary_line(counts)}"]
        for source, split in self.loaded.items():
            if split.problems:
                lines += ["", f"{source}:"]
                lines += [f"  {problem}  [{problem.kind}]" for problem in split.problems]
        return "\n".join(lines) + "\n"


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
