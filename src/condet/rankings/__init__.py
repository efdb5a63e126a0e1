"""Class rankings for the ranked contrastive loss, in one package.

- :mod:`.matrix`: the rank matrix the loss reads, from rankings or superclass groups;
- :mod:`.files`: reading a rankings or groups YAML file;
- :mod:`.similarity`: rankings from a similarity between classes (prototypes, confusions);
- :mod:`.derive`: ``condet rankings derive``, which measures that similarity on a data set's
  crops with an encoder or a backbone.

The first three sit with the losses (:mod:`condet.losses` re-exports the matrices); ``derive``
reads data and runs encoders, so it sits above the evaluation (``tests/test_layers.py``), and
this package's ``__init__`` does not import it.
"""

from condet.rankings.files import load_groups, load_rankings
from condet.rankings.matrix import RankingError, rank_matrix_from_groups, rank_matrix_from_rankings
from condet.rankings.similarity import (
    confusion_similarity,
    prototype_similarity,
    rankings_from_similarity,
)

__all__ = [
    "RankingError",
    "confusion_similarity",
    "load_groups",
    "load_rankings",
    "prototype_similarity",
    "rank_matrix_from_groups",
    "rank_matrix_from_rankings",
    "rankings_from_similarity",
]
