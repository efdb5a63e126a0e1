"""``load_annotations`` tells the formats apart and asks for a split where one is needed."""

from __future__ import annotations

import pytest

from condet.data import DataError
from condet.data.load import load_annotations
from tests.helpers import make_voc, voc_xml


def test_a_voc_folder_needs_a_split(tmp_path):
    with pytest.raises(DataError, match="needs a split"):
        load_annotations(make_voc(tmp_path / "v", {"a": voc_xml([])}, {"train": ["a"]}))
