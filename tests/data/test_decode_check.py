"""The decode check: every image decoded once, as training decodes it, and what it found cached."""

from __future__ import annotations

import os

import pytest

from condet.data import decode_check, load_voc
from condet.data.check import check_dataset
from condet.data.decode_check import DecodeCheck
from tests.helpers import make_voc, voc_xml


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def voc(tmp_path):
    """Four images: whole, cut to half (its header is whole), a text file, and 100x80 where
    its annotation says 120x80."""
    ids = ["whole", "cut", "text", "small"]
    annotations = {image_id: voc_xml([("cat", (5, 5, 40, 40))]) for image_id in ids}
    annotations["small"] = voc_xml([("cat", (5, 5, 40, 40))], width=120)
    root = make_voc(tmp_path / "voc", annotations, {"train": ids})
    images = root / "JPEGImages"
    data = (images / "cut.jpg").read_bytes()
    (images / "cut.jpg").write_bytes(data[: len(data) // 2])
    (images / "text.jpg").write_text("not an image\n")
    return root


EXPECTED = [
    ("cut.jpg", "cannot decode the image (Image is incomplete or truncated)", "unreadable image"),
    ("text.jpg", "cannot decode the image (Unsupported image file)", "unreadable image"),
    ("small.jpg", "image is 100x80 but its annotation says 120x80", "image size mismatch"),
]


def found(problems):
    return [(os.path.basename(p.path), p.problem, p.kind) for p in problems]


def test_images_that_do_not_decode_or_not_to_their_size_are_found(voc, tmp_path):
    problems = DecodeCheck(tmp_path / "cache").problems(load_voc(voc, "train"))
    assert found(problems) == EXPECTED
    assert all(problem.unit == "image" for problem in problems)


def test_a_second_check_decodes_nothing_and_finds_the_same(voc, tmp_path, monkeypatch):
    annotations = load_voc(voc, "train")
    DecodeCheck(tmp_path / "cache").problems(annotations)

    def no_decoding(path):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(decode_check, "decode_rgb", no_decoding)
    assert found(DecodeCheck(tmp_path / "cache").problems(annotations)) == EXPECTED
    # the same images named by another path are the same images
    monkeypatch.chdir(voc.parent)
    relative = load_voc(voc.name, "train")
    assert found(DecodeCheck(tmp_path / "cache").problems(relative)) == EXPECTED


def test_an_image_in_two_splits_decodes_once_per_check(voc, tmp_path, monkeypatch):
    decoded = []
    decode = decode_check.decode_rgb
    monkeypatch.setattr(
        decode_check, "decode_rgb", lambda path: decoded.append(path) or decode(path)
    )
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("whole\ntext\n")
    check = DecodeCheck(None)
    check.problems(load_voc(voc, "train"))
    assert len(decoded) == 4
    assert found(check.problems(load_voc(voc, "trainval"))) == [EXPECTED[1]]
    assert len(decoded) == 4


def test_a_mended_image_is_checked_again(voc, tmp_path):
    check = DecodeCheck(tmp_path / "cache")
    check.problems(load_voc(voc, "train"))
    (voc / "JPEGImages" / "text.jpg").write_bytes((voc / "JPEGImages" / "whole.jpg").read_bytes())
    problems = DecodeCheck(tmp_path / "cache").problems(load_voc(voc, "train"))
    assert found(problems) == [EXPECTED[0], EXPECTED[2]]


def test_a_damaged_cache_file_is_decoded_again(voc, tmp_path):
    cache = tmp_path / "cache"
    DecodeCheck(cache).problems(load_voc(voc, "train"))
    (cached,) = cache.glob("decode-check-*.json")
    for damage in ("[[", '[["0", "x", "y"]]'):
        cached.write_text(damage)
        assert found(DecodeCheck(cache).problems(load_voc(voc, "train"))) == EXPECTED


def test_data_check_lists_what_training_would_skip(voc):
    problems = [(os.path.basename(p.path), p.problem) for p in check_dataset(voc).problems]
    assert problems == [(name, problem) for name, problem, _ in EXPECTED]
