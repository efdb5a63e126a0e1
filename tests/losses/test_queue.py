from __future__ import annotations

import pytest
import torch

from condet.losses import ranked_infonce_loss, supcon_loss
from condet.losses.queue import LabelledQueue
from tests.losses.reference import ranked_reference, supcon_reference


class TestLabelledQueue:
    def test_keeps_the_last_pushed_embeddings_with_their_labels(self):
        queue = LabelledQueue(size=5, dim=2)
        assert queue.contents() is None
        for start in (0, 3, 6):  # labels 0..8 pushed three at a time
            labels = torch.arange(start, start + 3)
            queue.push(labels[:, None].float().expand(3, 2), labels)
        embeddings, labels = queue.contents()
        assert sorted(labels.tolist()) == [4, 5, 6, 7, 8]
        assert torch.equal(embeddings[:, 0], labels.float())

    def test_a_batch_larger_than_the_queue_keeps_its_end(self):
        queue = LabelledQueue(size=3, dim=1)
        queue.push(torch.arange(7.0)[:, None], torch.arange(7))
        assert sorted(queue.contents()[1].tolist()) == [4, 5, 6]

    def test_is_saved_with_the_model(self):
        queue = LabelledQueue(size=4, dim=3)
        queue.push(torch.ones(2, 3), torch.tensor([1, 2]))
        restored = LabelledQueue(size=4, dim=3)
        restored.load_state_dict(queue.state_dict())
        assert restored.contents()[1].tolist() == [1, 2]


@pytest.fixture
def batch_and_memory():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(6, 2, 8, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 3])
    memory = torch.randn(7, 8, generator=generator, dtype=torch.float64)
    memory_labels = torch.tensor([0, 0, 1, 2, 3, 3, 2])
    return features, labels, (memory, memory_labels)


def test_supcon_with_memory_matches_the_loop_reference(batch_and_memory):
    features, labels, memory = batch_and_memory
    expected = supcon_reference(features, labels, 0.2, memory)
    assert supcon_loss(features, labels, 0.2, memory=memory).item() == pytest.approx(expected)
    assert expected != pytest.approx(supcon_reference(features, labels, 0.2))


@pytest.mark.parametrize("mode", ["in", "out"])
def test_ranked_with_memory_matches_the_loop_reference(batch_and_memory, mode):
    features, labels, memory = batch_and_memory
    rank_matrix = torch.tensor([[1, 2, 3, 0], [2, 1, 0, 0], [3, 0, 1, 2], [0, 0, 2, 1]])
    temperatures = [0.1, 0.2, 0.3]
    expected = ranked_reference(features, labels, rank_matrix, temperatures, mode, memory)
    loss = ranked_infonce_loss(features, labels, rank_matrix, temperatures, mode, memory=memory)
    assert loss.item() == pytest.approx(expected)


def test_memory_receives_no_gradient(batch_and_memory):
    features, labels, (memory, memory_labels) = batch_and_memory
    features.requires_grad_(True)
    memory.requires_grad_(True)
    supcon_loss(features, labels, memory=(memory, memory_labels)).backward()
    assert features.grad is not None and memory.grad is None
