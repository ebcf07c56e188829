"""ferry.files: the output path checked before any work, and atomic replacement."""

from __future__ import annotations

import os
import stat

import pytest

from ferry.files import atomic_path, check_output_path

SUFFIXES = (".keras", ".tflite")


def test_a_good_path_comes_back_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_output_path("net.keras", SUFFIXES) == str(tmp_path / "net.keras")
    assert check_output_path(tmp_path / "net.tflite", ["tflite"]) == str(tmp_path / "net.tflite")
    assert os.listdir(tmp_path) == []  # nothing created


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "net.h5",
            "ferry: cannot write 'net.h5': the output must end in .keras or .tflite "
            "(ends in '.h5')",
        ),
        (
            "net",
            "ferry: cannot write 'net': the output must end in .keras or .tflite "
            "(has no extension)",
        ),
        ("", "ferry: no output file given"),
    ],
)
def test_an_unknown_extension_names_the_allowed_ones(tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as info:
        check_output_path(name, SUFFIXES)
    assert str(info.value) == message


def test_a_missing_directory_is_named(tmp_path):
    target = tmp_path / "missing" / "net.keras"
    with pytest.raises(ValueError, match="the directory '.*missing' does not exist"):
        check_output_path(target, SUFFIXES)


def test_a_file_in_place_of_the_directory(tmp_path):
    (tmp_path / "plain").write_text("")
    with pytest.raises(ValueError, match="'.*plain' is not a directory"):
        check_output_path(tmp_path / "plain" / "net.keras", SUFFIXES)


def test_an_existing_directory_is_not_a_file_name(tmp_path):
    (tmp_path / "out.keras").mkdir()
    with pytest.raises(
        ValueError, match=r"is a directory; give a file name, e\.g\. .*model\.keras"
    ):
        check_output_path(tmp_path / "out.keras", SUFFIXES)


def test_a_directory_without_write_permission(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: stand in for a read-only directory
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: False if p == str(locked) else real(p, mode)
        )
    else:
        locked.chmod(0o555)
    try:
        with pytest.raises(ValueError, match=f"the directory '{locked}' is not writable"):
            check_output_path(locked / "net.keras", SUFFIXES)
    finally:
        locked.chmod(0o755)


def test_atomic_path_replaces_the_target_on_success(tmp_path):
    target = tmp_path / "net.keras"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert tmp.endswith(".keras") and tmp != str(target)
        assert os.path.exists(tmp)  # created empty, ready to be written
        assert target.read_text() == "old"  # untouched until the block succeeds
        with open(tmp, "w") as f:
            f.write("new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["net.keras"]


@pytest.mark.parametrize("error", [RuntimeError("writer failed"), KeyboardInterrupt()])
def test_atomic_path_leaves_nothing_on_failure(tmp_path, error):
    target = tmp_path / "net.tflite"
    target.write_text("old")
    with pytest.raises(type(error)), atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("partial")
        raise error
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["net.tflite"]


def test_atomic_path_leaves_no_file_when_there_was_none(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "net.keras"):
        raise RuntimeError("conversion failed")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_path_gives_the_mode_open_would_give(tmp_path, umask):
    old = os.umask(umask)
    try:
        with open(tmp_path / "reference.keras", "w"):
            pass
        with atomic_path(tmp_path / "net.keras") as tmp, open(tmp, "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "net.keras").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "reference.keras").st_mode)
    assert mode == 0o666 & ~umask


def test_atomic_path_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "net.keras"
    target.write_text("old")
    target.chmod(0o640)
    old = os.umask(0o077)
    try:
        with atomic_path(target) as tmp, open(tmp, "w") as f:
            f.write("new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


def test_atomic_path_writes_through_a_symbolic_link(tmp_path):
    real = tmp_path / "models" / "net.keras"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.keras"
    link.symlink_to(real)
    with atomic_path(link) as tmp, open(tmp, "w") as f:
        f.write("new")
    assert link.is_symlink() and real.read_text() == "new"
