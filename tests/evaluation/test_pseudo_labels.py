import torch

from condet.evaluation.pseudo_labels import matched_pseudo_labels, pseudo_label_quality


def boxes(*rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def test_each_true_box_is_matched_once_by_the_most_confident_pseudo_label_of_its_class():
    truth = {"boxes": boxes([0, 0, 10, 10], [20, 20, 30, 30]), "labels": torch.tensor([1, 2])}
    pseudo = {
        # a duplicate of the first box, a right box of the wrong class, a box off by a third
        "boxes": boxes([0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [23, 20, 33, 30]),
        "labels": torch.tensor([1, 1, 1, 2]),
        "scores": torch.tensor([0.9, 0.8, 0.95, 0.7]),
    }
    # [23, 20, 33, 30] overlaps [20, 20, 30, 30] by 70 / 130 = 0.54: a match at IoU 0.5
    assert matched_pseudo_labels(pseudo, truth) == 2
    quality = pseudo_label_quality([(pseudo, truth)])
    assert (quality["precision"], quality["recall"]) == (0.5, 1.0)
    assert (quality["pseudo_labels_per_image"], quality["true_boxes_per_image"]) == (4.0, 2.0)


def test_no_pseudo_labels_have_no_precision_and_no_truth_no_recall():
    nothing = {"boxes": boxes(), "labels": torch.zeros(0, dtype=torch.long)}
    pseudo = {"boxes": boxes([0, 0, 5, 5]), "labels": torch.tensor([1]), "scores": torch.ones(1)}
    empty = pseudo_label_quality([(nothing | {"scores": torch.zeros(0)}, {**pseudo})])
    assert empty["precision"] is None and empty["recall"] == 0.0
    unseen = pseudo_label_quality([(pseudo, nothing)])
    assert unseen["precision"] == 0.0 and unseen["recall"] is None
