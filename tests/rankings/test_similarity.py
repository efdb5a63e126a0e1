from __future__ import annotations

import torch

from condet.rankings.similarity import (
    confusion_similarity,
    prototype_similarity,
    rankings_from_similarity,
)


def test_rankings_recover_a_known_similarity():
    classes = ["cat", "dog", "car", "bus", "person"]
    similarity = torch.tensor(
        [
            [1.0, 0.9, 0.1, 0.2, 0.3],
            [0.9, 1.0, 0.0, 0.1, 0.4],
            [0.1, 0.0, 1.0, 0.8, 0.2],
            [0.2, 0.1, 0.8, 1.0, 0.2],
            [0.3, 0.4, 0.2, 0.2, 1.0],
        ]
    )
    rankings = rankings_from_similarity(similarity, classes, neighbours=2)
    assert rankings == {
        "cat": ["dog", "person"],
        "dog": ["cat", "person"],
        "car": ["bus", "person"],
        "bus": ["car", "cat"],
        "person": ["dog", "cat"],
    }
    strict = rankings_from_similarity(similarity, classes, neighbours=2, min_similarity=0.5)
    assert strict == {"cat": ["dog"], "dog": ["cat"], "car": ["bus"], "bus": ["car"], "person": []}


def test_prototypes_of_embeddings_built_from_a_known_structure():
    generator = torch.Generator().manual_seed(0)
    family = torch.randn(2, 16, generator=generator)
    # classes 0 and 1 share family 0, classes 2 and 3 family 1
    centres = torch.stack(
        [family[0] + 0.3 * torch.randn(16, generator=generator) for _ in range(2)]
        + [family[1] + 0.3 * torch.randn(16, generator=generator) for _ in range(2)]
    )
    labels = torch.arange(4).repeat_interleave(50)
    embeddings = centres[labels] + 0.2 * torch.randn(200, 16, generator=generator)
    similarity = prototype_similarity(embeddings, labels, 4)
    torch.testing.assert_close(similarity.diagonal(), torch.ones(4))
    rankings = rankings_from_similarity(similarity, ["a", "b", "c", "d"], neighbours=1)
    assert rankings == {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}


def test_confusion_similarity_is_symmetric_confusion_rate():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    predictions = torch.tensor([0, 0, 1, 1, 1, 0, 2, 2])
    logits = torch.nn.functional.one_hot(predictions, 3).float()
    similarity = confusion_similarity(logits, labels, 3)
    # P(1|0) = 2/4, P(0|1) = 1/2 -> 0.5; class 2 never confused
    assert similarity[0, 1] == similarity[1, 0] == 0.5
    assert similarity[0, 2] == similarity[2, 1] == 0.0
