"""Atomic writes: the old file or the whole new one, never a partial one or a stray temporary."""

from __future__ import annotations

import os
import stat

import pytest

from condet.io import atomic_path, write_bytes_atomic, write_text_atomic


def entries(folder):
    return sorted(path.name for path in folder.iterdir())


def test_write_text_and_bytes_round_trip(tmp_path):
    text = "ünïcode\nand lines\n"
    assert write_text_atomic(tmp_path / "a.txt", text) == tmp_path / "a.txt"
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == text
    data = bytes(range(256))
    assert write_bytes_atomic(tmp_path / "b.bin", data) == tmp_path / "b.bin"
    assert (tmp_path / "b.bin").read_bytes() == data
    assert entries(tmp_path) == ["a.txt", "b.bin"]


def test_an_existing_file_is_replaced(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("old, and longer than the new one")
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and entries(tmp_path) == ["results.json"]
    write_bytes_atomic(path, b"newer")
    assert path.read_bytes() == b"newer" and entries(tmp_path) == ["results.json"]


def test_missing_parent_folders_are_made(tmp_path):
    path = write_text_atomic(tmp_path / "a" / "b" / "c.txt", "x")
    assert path.read_text() == "x"


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_text("complete")
    with pytest.raises(RuntimeError, match="killed"), atomic_path(path) as temporary:
        assert temporary.parent == tmp_path and temporary != path
        temporary.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "complete"
    assert entries(tmp_path) == ["last.ckpt"]


def test_a_failure_before_any_file_existed_leaves_nothing(tmp_path):
    with pytest.raises(ValueError), atomic_path(tmp_path / "new.txt") as temporary:
        temporary.write_text("half")
        raise ValueError
    assert entries(tmp_path) == []


def test_a_temporary_removed_by_the_block_is_not_an_error_on_failure(tmp_path):
    with pytest.raises(KeyError), atomic_path(tmp_path / "x") as temporary:
        temporary.unlink()
        raise KeyError
    assert entries(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask_as_open_would(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic = write_text_atomic(tmp_path / "atomic.txt", "x")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        replaced = tmp_path / "replaced.txt"
        replaced.write_text("old")
        os.chmod(replaced, 0o600)
        write_text_atomic(replaced, "new")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(atomic.stat().st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(replaced.stat().st_mode) == 0o666 & ~umask


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names descriptors by /proc")
def test_the_data_is_synced_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    """A machine that crashes right after the rename must not find an empty file there, so
    the new file's data reaches the disk first (issue 32: a cut last.ckpt)."""
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(descriptor):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        fsync(descriptor)

    def recording_replace(source, target):
        events.append(("replace", str(source)))
        replace(source, target)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    with atomic_path(tmp_path / "last.ckpt") as temporary:
        temporary.write_bytes(b"checkpoint")
    assert events == [
        ("fsync", str(temporary)),
        ("replace", str(temporary)),
        ("fsync", str(tmp_path)),
    ]
