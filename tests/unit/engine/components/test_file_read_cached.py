"""The `file` input copies what the page cache holds on the event loop (preadv2 RWF_NOWAIT) and
reads in a thread only what would wait for the disk; both give the same messages."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from engine.components.inputs import file as file_input
from engine.components.inputs.file import READ_SIZE, _read_cached

from .support import payloads, run_to_end


def _lines(count: int) -> bytes:
    return b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, hashlib.sha1(b"%d" % i).hexdigest().encode()) for i in range(count))


def _config(path: Path) -> str:
    return f"input:\n  file:\n    paths: [ '{path}' ]\noutput:\n  inproc: out\n"


@pytest.mark.parametrize("cached", [True, False])
def test_same_messages_from_the_cache_or_a_thread(tmp_path: Path, run: Any, cached: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = _lines(20_000)  # several READ_SIZE chunks, lines cut across them
    assert len(data) > 3 * READ_SIZE
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    calls = {"cache": 0}
    if not cached:
        monkeypatch.setattr(file_input, "_read_cached", lambda fd: None)  # as if nothing were cached
    else:
        def counting(fd: int) -> bytes | None:
            calls["cache"] += 1
            return _read_cached(fd)

        monkeypatch.setattr(file_input, "_read_cached", counting)
    delivered, batches = run(run_to_end(_config(path)))
    assert delivered
    assert payloads(batches) == data.split(b"\n")[:-1]
    assert (calls["cache"] > 0) is cached


def test_read_cached_reads_at_the_file_position(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789" * 10)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 5)  # the file is in the page cache now (just written); position 5
        got = _read_cached(fd)
        if got is None:
            pytest.skip("no RWF_NOWAIT reads here")
        assert got == (b"0123456789" * 10)[5:]
        assert _read_cached(fd) == b""  # end of file
    finally:
        os.close(fd)


def test_read_cached_on_a_pipe_never_blocks(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        assert _read_cached(r) in (None, b"")  # nothing written: would wait
        os.write(w, b"abc")
        assert _read_cached(r) in (None, b"abc")
    finally:
        os.close(r)
        os.close(w)
