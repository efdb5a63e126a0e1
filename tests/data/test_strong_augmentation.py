import pytest
import torch
from torchvision import tv_tensors

from condet.data.strong_augmentation import InputScaleGaussianBlur, StrongAugmentation


def test_boxes_move_with_the_object_under_flips_zooms_and_colour():
    """A bright object on a dark image is still inside its transformed box, however it was
    flipped, zoomed, recoloured or partly erased."""
    augment = StrongAugmentation(min_size=96, max_size=128)
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
        _, target = StrongAugmentation(min_size=64, max_size=64)(
            tv_tensors.Image(torch.rand(3, 64, 64)), {"boxes": boxes, "labels": labels}
        )
        assert len(target["boxes"]) == len(target["labels"])
        found.add(len(target["labels"]))
    assert found == {1, 2}  # the corner box falls out under some zooms, and stays under others


class TestInputScaleGaussianBlur:
    @staticmethod
    def spread(height: int, width: int, min_size: int, max_size: int) -> float:
        """The standard deviation, in the image's pixels, of a blurred point of light."""
        image = torch.zeros(1, height, width)
        image[0, height // 2, width // 2] = 1.0
        blur = InputScaleGaussianBlur(min_size, max_size, sigma=(1.0, 1.0))
        blurred = blur(tv_tensors.Image(image))[0]
        profile = blurred.sum(0) / blurred.sum()
        offsets = torch.arange(width, dtype=torch.float64) - width // 2
        return float((profile.double() * offsets**2).sum().sqrt())

    def test_sigma_is_in_pixels_of_the_detectors_input(self):
        # short side 640 shrunk to 320: one input pixel is two image pixels
        assert self.spread(640, 960, 320, 640) == pytest.approx(2.0, abs=0.02)
        # the long side's limit decides: 1600 shrunk to 640 is a factor 0.4
        assert self.spread(400, 1600, 320, 640) == pytest.approx(2.5, abs=0.02)
        # an image already at the input size is blurred by sigma itself
        assert self.spread(320, 480, 320, 640) == pytest.approx(1.0, abs=0.02)

    def test_sigma_is_drawn_from_its_range(self):
        blur = InputScaleGaussianBlur(320, 640)
        sigmas = {blur.make_params([torch.zeros(3, 640, 800)])["sigma"][0] for _ in range(50)}
        assert len(sigmas) == 50 and all(0.2 <= sigma <= 4.0 for sigma in sigmas)
