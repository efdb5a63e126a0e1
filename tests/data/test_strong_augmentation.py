import torch
from torchvision import tv_tensors

from condet.data.strong_augmentation import StrongAugmentation


def test_boxes_move_with_the_object_under_flips_zooms_and_colour():
    """A bright object on a dark image is still inside its transformed box, however it was
    flipped, zoomed, recoloured or partly erased."""
    augment = StrongAugmentation()
    for seed in range(20):
        torch.manual_seed(seed)
        image = torch.full((3, 96, 128), 0.1)
        image[:, 20:50, 70:110] = 0.9
        boxes = tv_tensors.BoundingBoxes([[70, 20, 110, 50]], format="XYXY", canvas_size=(96, 128))
        out, target = augment(
            tv_tensors.Image(image), {"boxes": boxes, "labels": torch.tensor([3])}
        )
        assert out.shape == image.shape and target["labels"].tolist() == [3]
        x1, y1, x2, y2 = target["boxes"][0].round().int().tolist()
        brightness = out.mean(0)
        inside = brightness[y1:y2, x1:x2].mean()
        outside = torch.cat([brightness[:, :x1].flatten(), brightness[:, x2:].flatten()]).mean()
        assert inside > outside, f"seed {seed}: the box left its object"


def test_a_box_pushed_out_of_the_image_is_dropped_with_its_label():
    torch.manual_seed(0)
    boxes = tv_tensors.BoundingBoxes(
        [[0, 0, 1, 1], [10, 10, 60, 60]], format="XYXY", canvas_size=(64, 64)
    )
    labels = torch.tensor([1, 2])
    found = set()
    for seed in range(30):
        torch.manual_seed(seed)
        _, target = StrongAugmentation()(
            tv_tensors.Image(torch.rand(3, 64, 64)), {"boxes": boxes, "labels": labels}
        )
        assert len(target["boxes"]) == len(target["labels"])
        found.add(len(target["labels"]))
    assert found == {1, 2}  # the corner box falls out under some zooms, and stays under others
