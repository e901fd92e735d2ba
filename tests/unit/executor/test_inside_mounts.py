"""Cleanup without recursion and the layout salt, in this process (no sandbox needed)."""

from __future__ import annotations

import os
import time

from azr_executor.inside.layout import apply_salt
from azr_executor.inside.mounts import RunDir, remove_tree


def _deep(root, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as fh:
            fh.write("x")
    finally:
        os.close(fd)


def test_remove_tree_is_not_limited_by_recursion_depth(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    _deep(str(target), 1200)  # deeper than Python's recursion limit (1000), and PATH_MAX
    assert remove_tree(str(target))
    assert not target.exists()


def test_remove_tree_stops_at_its_deadline(tmp_path):
    # A run may leave more than any budget removes: past the deadline the answer is False (the
    # zygote retires), never a wait as long as the tree is deep or wide.
    target = tmp_path / "run"
    target.mkdir()
    _deep(str(target), 300)
    for i in range(300):
        (target / f"f{i}").touch()
    assert not remove_tree(str(target), deadline=time.monotonic() - 1)
    assert target.exists()
    assert remove_tree(str(target), deadline=time.monotonic() + 60)
    assert not target.exists()


def test_remove_tree_fixes_modes_and_never_follows_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    target = tmp_path / "run"
    (target / "a" / "b").mkdir(parents=True)
    (target / "a" / "b" / "f").write_text("x")
    (target / "a" / "link").symlink_to(outside)
    (target / "loop").symlink_to(target)
    for p in (target / "a" / "b", target / "a"):
        p.chmod(0)
    assert remove_tree(str(target))
    assert not target.exists() and (outside / "keep").read_text() == "keep"


def test_remove_tree_of_a_missing_path_is_true(tmp_path):
    assert remove_tree(str(tmp_path / "nothing"))


def test_plain_run_dir_is_created_empty_and_cleaned(tmp_path):
    rundir = RunDir(str(tmp_path / "run"), None)
    rundir.setup()
    rundir.create()
    assert oct((tmp_path / "run").stat().st_mode & 0o777) == "0o700"
    _deep(str(tmp_path / "run"), 1100)
    assert rundir.clean() and not (tmp_path / "run").exists()


def _first_ids(salt: int) -> list[int]:
    """The addresses of 64 new objects in a fresh child (as a zygote's child would see them)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        objs = [None] * 64  # made before the salt: no allocation of the measured size below
        keep = apply_salt(salt)
        for i in range(64):
            objs[i] = object()
        os.write(w, repr([id(o) for o in objs]).encode())
        del keep
        os._exit(0)
    os.close(w)
    data = os.read(r, 4096)
    os.close(r)
    os.waitpid(pid, 0)
    return [int(x) for x in data.decode().strip("[]").split(", ")]


def _both_from_one_heap() -> tuple[list[int], list[int]]:
    """Plain and salted children forked from one single-threaded process (this test process
    may run server threads that change its heap between two forks)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        import gc

        gc.disable()
        os.write(w, repr((_first_ids(0), _first_ids(12345))).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while data := os.read(r, 65536):
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    plain, salted = eval(b"".join(chunks).decode())  # our own child's repr of two int lists
    return plain, salted


def test_layout_salt_reverses_the_next_allocations():
    assert apply_salt(0) is None
    # Forked from the same heap: the salted child gets the plain child's blocks, reversed.
    plain, salted = _both_from_one_heap()
    # The salted child gets the plain child's blocks, in the reverse order within each 16 KiB
    # pymalloc pool (when they span two pools, pymalloc serves the pool freed into last first).
    assert sorted(salted) == sorted(plain) and salted != plain
    for pool in {i >> 14 for i in plain}:
        in_pool = [i for i in plain if i >> 14 == pool]
        assert [i for i in salted if i >> 14 == pool] == in_pool[::-1]
