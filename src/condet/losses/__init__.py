"""Contrastive losses: NT-Xent, SupCon and ranked InfoNCE, with class rankings.

Every loss L2-normalises its inputs and returns a scalar mean over anchors.
"""

from condet.losses.contrastive import NTXentLoss, SupConLoss, ntxent_loss, supcon_loss
from condet.losses.ranked import RankedInfoNCELoss, ranked_infonce_loss
from condet.losses.rankings import (
    RankingError,
    load_groups,
    load_rankings,
    rank_matrix_from_groups,
    rank_matrix_from_rankings,
)

__all__ = [
    "NTXentLoss",
    "RankedInfoNCELoss",
    "RankingError",
    "SupConLoss",
    "load_groups",
    "load_rankings",
    "ntxent_loss",
    "rank_matrix_from_groups",
    "rank_matrix_from_rankings",
    "ranked_infonce_loss",
    "supcon_loss",
]
