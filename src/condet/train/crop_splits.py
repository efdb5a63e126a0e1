"""What a crop encoder trains and is tested on (``condet classify-train`` / ``ood``): the two
splits with withheld and dropped classes, and the loss's rank matrix over the classes left."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import Tensor

from condet.config.classify import ClassifyConfig
from condet.data.annotations import Annotations
from condet.data.crops import ObjectCropDataset
from condet.data.load import DataSets
from condet.data.splits import (
    drop_classes,
    known_class_ids,
    labelled_subset,
    mark_withheld,
    rare_classes,
    refuse_shared_images,
    withhold_classes,
)
from condet.errors import CondetError
from condet.losses import (
    load_groups,
    load_rankings,
    rank_matrix_from_groups,
    rank_matrix_from_rankings,
)

logger = logging.getLogger("condet")


def rank_matrix_for(
    config: ClassifyConfig, classes: list[str], untrained: list[str] | None = None
) -> Tensor | None:
    """The loss's rank matrix: ranked (rankings file, ``r``), RINCE (groups file), else None.

    Classes ``untrained``, those without training crops (withheld, or dropped for too few),
    leave the rankings before they are cut at ``r``, so that they take no rank a trained class
    would have had (a file may leave them out). A withheld class is treated as if it did not
    exist, which is what withholding it stands for.
    """
    if config.loss in ("supcon", "ce"):
        return None  # the config has made sure the other losses name their --rankings
    if config.loss == "rince":
        matrix = rank_matrix_from_groups(classes, load_groups(config.rankings))
    else:
        rankings = load_rankings(config.rankings)
        untrained = untrained or []
        # in place: the mapping keeps its file's path for the errors
        for name, neighbours in rankings.items():
            rankings[name] = [other for other in neighbours if other not in untrained]
        rankings.update({name: [] for name in untrained})
        matrix = rank_matrix_from_rankings(classes, rankings, config.r)
    if len(config.temperatures) < int(matrix.max()):
        raise CondetError(
            f"{int(matrix.max())} ranks need as many --temperatures, got {config.temperatures}"
        )
    return matrix


def load_splits(config: ClassifyConfig, data: DataSets) -> tuple[Annotations, Annotations]:
    """Training annotations (of the ``--labeled-images`` only, when given) without the withheld
    classes, test annotations (of the ``--test-image-ids`` only) with them marked; both read
    through ``data``, which counts what their readers skipped. Classes with fewer than
    ``--min-crops`` training crops are dropped from both; the training side lists them among
    its withheld classes, so they are not known classes either."""
    train = data.load(config.data, config.split, image_root=config.images)
    test = data.load(
        config.data, config.test_split, image_root=config.images, classes=train.classes
    )
    if config.labeled_images is not None:
        train = labelled_subset(train, ids_file=config.labeled_images)
    if config.test_image_ids is not None:
        test = labelled_subset(test, ids_file=config.test_image_ids)
    refuse_shared_images(
        train,
        test,
        "give --labeled-images and --test-image-ids that do not overlap, or a --test-split of "
        "other images",
    )
    dropped = rare_classes(train, config.min_crops, exclude=config.withhold)
    if dropped:
        logger.warning(
            "dropped %d classes with fewer than %d training crops: %s",
            len(dropped),
            config.min_crops,
            ", ".join(dropped),
        )
    if config.withhold or dropped:
        train = withhold_classes(train, [*config.withhold, *dropped])
        test = mark_withheld(drop_classes(test, dropped), config.withhold)
        known = known_class_ids(train)
        if not known and not dropped:
            raise CondetError(
                f"--withhold names every class of {config.data} ({', '.join(train.classes)}); "
                "leave at least one class to train on"
            )
        if not known:
            raise CondetError(
                f"--withhold and --min-crops {config.min_crops} leave no class of {config.data} "
                f"to train on ({', '.join(train.classes)}); leave at least one class"
            )
        if train.num_objects == 0:
            raise CondetError(
                f"--withhold leaves no objects to train on: the split {config.split!r} has none "
                f"of the other classes ({', '.join(train.classes[i] for i in known)})"
            )
    return train, test


def load_crops(
    config: ClassifyConfig, data: DataSets, cache_dir: Path
) -> tuple[ObjectCropDataset, ObjectCropDataset]:
    """The training and test crops of :func:`load_splits`' annotations (each crop set keeps
    them as ``.annotations``), cut at ``--crop-size`` with ``--context`` and cached under
    ``cache_dir``."""
    train, test = (
        ObjectCropDataset(
            annotations,
            size=config.crop_size,
            context=config.context,
            cache_dir=cache_dir,
            progress=config.progress,
        )
        for annotations in load_splits(config, data)
    )
    return train, test
