"""Contrastive losses: NT-Xent, SupCon and ranked InfoNCE.

Every loss L2-normalises its inputs and returns a scalar mean over anchors. The ranked loss
reads a rank matrix, made from class rankings or groups by :mod:`condet.rankings`, whose
matrix and file functions are named here too (the public API of DESIGN.md).
"""

from condet.losses.contrastive import NTXentLoss, SupConLoss, ntxent_loss, supcon_loss
from condet.losses.ranked import RankedInfoNCELoss, ranked_infonce_loss
from condet.rankings import (
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
