"""The `file` input: order, globs, codecs, metadata, bounded memory for big files, errors, deletion."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from engine.component import EndOfInput
from engine.components.inputs.file import READ_SIZE
from engine.errors import ComponentError

from .support import build, payloads, run_to_end

MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z


def _write(path: Path, data: bytes, mtime: int = MTIME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def _config(paths: list[str], extra: str = "") -> str:
    listed = ", ".join(f"'{p}'" for p in paths)
    return f"input:\n  file:\n    paths: [ {listed} ]\n{extra}output:\n  inproc: out\n"


def test_several_files_and_a_glob_in_order_with_metadata(tmp_path: Path, run: Any) -> None:
    first = _write(tmp_path / "first.txt", b"f1\r\nf2\n\nf3")
    _write(tmp_path / "logs" / "b.log", b"b1\n", mtime=MTIME + 1)
    _write(tmp_path / "logs" / "a.log", b"a1\na2\n", mtime=MTIME + 2)
    _write(tmp_path / "logs" / "skip.txt", b"not matched\n")
    delivered, batches = run(run_to_end(_config([str(first), f"{tmp_path}/logs/*.log"])))
    assert delivered
    assert payloads(batches) == [b"f1", b"f2", b"f3", b"a1", b"a2", b"b1"]
    metas = [m.meta for batch in batches for m in batch]
    assert [m["path"] for m in metas] == [str(first)] * 3 + [f"{tmp_path}/logs/a.log"] * 2 + [f"{tmp_path}/logs/b.log"]
    assert metas[0]["mod_time_unix"] == MTIME and metas[0]["mod_time"] == "2023-11-14T22:13:20Z"
    assert metas[-1]["mod_time_unix"] == MTIME + 1 and metas[-1]["mod_time"] == "2023-11-14T22:13:21Z"


def test_super_glob_reaches_nested_directories(tmp_path: Path, run: Any) -> None:
    _write(tmp_path / "d" / "x" / "y" / "deep.jsonl", b"deep\n")
    _write(tmp_path / "d" / "top.jsonl", b"top\n")
    delivered, batches = run(run_to_end(_config([f"{tmp_path}/d/**/*.jsonl"])))
    assert delivered
    assert sorted(payloads(batches)) == [b"deep", b"top"]


def test_each_message_has_its_own_metadata(tmp_path: Path, run: Any) -> None:
    path = _write(tmp_path / "a.txt", b"1\n2\n")
    delivered, batches = run(run_to_end(_config([str(path)])))
    assert delivered
    first, second = [m for batch in batches for m in batch]
    first.meta["path"] = "changed"
    assert second.meta["path"] == str(path)


@pytest.mark.parametrize("codec, expected", [
    ("all-bytes", [b"a\r\nb\n\n", b"c"]),
    ("'delim:|'", [b"a\r\nb\n\n", b"c"]),
])
def test_other_codecs(tmp_path: Path, run: Any, codec: str, expected: list[bytes]) -> None:
    one = _write(tmp_path / "1.txt", b"a\r\nb\n\n" + (b"|" if "delim" in codec else b""))
    two = _write(tmp_path / "2.txt", b"c")
    delivered, batches = run(run_to_end(_config([str(one), str(two)], f"    codec: {codec}\n")))
    assert delivered
    assert payloads(batches) == expected


def test_empty_file_yields_nothing_and_input_moves_on(tmp_path: Path, run: Any) -> None:
    empty = _write(tmp_path / "empty.txt", b"")
    full = _write(tmp_path / "full.txt", b"x\n")
    delivered, batches = run(run_to_end(_config([str(empty), str(full)])))
    assert delivered and payloads(batches) == [b"x"]


def test_big_file_is_read_in_bounded_chunks(tmp_path: Path, run: Any) -> None:
    lines = [f"{i:08d} {'abcdefghij' * (i % 13)}".encode() for i in range(80_000)]
    content = b"\n".join(lines) + b"\n"
    big = _write(tmp_path / "big.txt", content)
    assert big.stat().st_size > 5_000_000
    longest = max(len(line) for line in lines) + 1
    del lines

    async def read_all() -> tuple[str, int, list[int], int]:
        inp = build("input", f"file:\n  paths: [ '{big}' ]")
        await inp.connect()
        digest = hashlib.sha256()
        count = 0
        sizes: list[int] = []
        tracemalloc.start()
        try:
            while True:
                try:
                    batch, ack = await inp.read()
                except EndOfInput:
                    break
                sizes.append(sum(len(m.raw) + 1 for m in batch))
                for m in batch:
                    digest.update(m.raw + b"\n")
                count += len(batch)
                await ack(None)
                del batch
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await inp.close()
        return digest.hexdigest(), count, sizes, peak

    digest, count, sizes, peak = run(read_all(), timeout=60)
    assert count == 80_000 and digest == hashlib.sha256(content).hexdigest()
    assert len(sizes) >= len(content) // READ_SIZE  # a batch per chunk, not one for the file
    assert max(sizes) <= READ_SIZE + longest
    # One chunk, its messages and the unfinished line at a time: far below the 5 MB file.
    assert peak < 1_500_000, peak


def test_big_file_through_a_stream(tmp_path: Path, run: Any) -> None:
    lines = [f"{i}".encode() * 3 for i in range(400_000)]
    big = _write(tmp_path / "big.txt", b"\n".join(lines))
    assert big.stat().st_size > 5_000_000
    delivered, batches = run(run_to_end(_config([str(big)])), timeout=60)
    assert delivered
    assert payloads(batches) == lines
    assert len(batches) > 50


def test_a_nacked_batch_is_delivered_again(tmp_path: Path, run: Any) -> None:
    path = _write(tmp_path / "a.txt", b"1\n2\n3\n")
    delivered, batches = run(run_to_end(_config([str(path)]), fail=1))
    assert delivered
    assert payloads(batches) == [b"1", b"2", b"3"]


def test_without_auto_replay_a_nacked_batch_is_dropped(tmp_path: Path, run: Any) -> None:
    one = _write(tmp_path / "1.txt", b"1\n2\n")
    two = _write(tmp_path / "2.txt", b"3\n")
    delivered, batches = run(run_to_end(_config([str(one), str(two)], "    auto_replay_nacks: false\n"), fail=1))
    assert delivered
    assert payloads(batches) == [b"3"]


def test_delete_on_finish_removes_each_file_once_delivered(tmp_path: Path, run: Any) -> None:
    one = _write(tmp_path / "1.txt", b"1\n2\n")
    two = _write(tmp_path / "2.txt", b"")
    keep = _write(tmp_path / "keep.txt", b"k\n")
    delivered, batches = run(run_to_end(_config([str(one), str(two)], "    delete_on_finish: true\n"), fail=1))
    assert delivered and payloads(batches) == [b"1", b"2"]
    assert not one.exists() and not two.exists()
    delivered, _ = run(run_to_end(_config([str(keep)])))
    assert keep.exists()


def test_delete_on_finish_keeps_a_file_whose_messages_were_dropped(tmp_path: Path, run: Any) -> None:
    one = _write(tmp_path / "1.txt", b"1\n")
    extra = "    delete_on_finish: true\n    auto_replay_nacks: false\n"
    run(run_to_end(_config([str(one)], extra), fail=1))
    assert one.exists()


def test_a_message_longer_than_max_buffer_skips_the_rest_of_that_file(tmp_path: Path, run: Any) -> None:
    one = _write(tmp_path / "1.txt", b"ok\n" + b"x" * (3 * READ_SIZE) + b"\nlost\n")
    two = _write(tmp_path / "2.txt", b"next\n")
    delivered, batches = run(run_to_end(_config([str(one), str(two)], f"    max_buffer: {READ_SIZE}\n")))
    assert delivered
    assert payloads(batches) == [b"ok", b"next"]


def test_lines_before_an_overlong_one_in_the_same_chunk_are_kept(tmp_path: Path, run: Any) -> None:
    one = _write(tmp_path / "1.txt", b"a\nb\n" + b"x" * 5000 + b"\nlost\n")
    two = _write(tmp_path / "2.txt", b"next\n")
    delivered, batches = run(run_to_end(_config([str(one), str(two)], "    max_buffer: 1000\n")))
    assert delivered
    assert payloads(batches) == [b"a", b"b", b"next"]


@pytest.mark.parametrize("name, problem", [
    ("missing.txt", "does not exist"),
    ("none-*.log", "matches no file"),
    ("", "is a directory"),
])
def test_connect_names_the_bad_path(tmp_path: Path, run: Any, name: str, problem: str) -> None:
    _write(tmp_path / "fine.txt", b"x\n")
    bad = str(tmp_path / name) if name else str(tmp_path)
    inp = build("input", f"file:\n  paths: [ '{tmp_path}/fine.txt', '{bad}' ]")
    with pytest.raises(ComponentError) as caught:
        run(inp.connect())
    text = str(caught.value)
    assert bad in text and problem in text and "input.file" in text


def test_a_file_removed_after_connect_is_reported_and_skipped(tmp_path: Path, run: Any) -> None:
    one = _write(tmp_path / "1.txt", b"1\n")
    two = _write(tmp_path / "2.txt", b"2\n")

    async def scenario() -> tuple[list[bytes], str]:
        inp = build("input", f"file:\n  paths: [ '{one}', '{two}' ]")
        await inp.connect()
        one.unlink()
        with pytest.raises(OSError) as caught:
            await inp.read()
        batch, _ = await inp.read()
        with pytest.raises(EndOfInput):
            await inp.read()
        return [m.raw for m in batch], str(caught.value)

    got, error = run(scenario())
    assert got == [b"2"] and str(one) in error


def test_scanner_is_accepted_with_a_warning(tmp_path: Path) -> None:
    from tests.helpers import load

    config = load(f"input:\n  file:\n    paths: [ '{tmp_path}/x' ]\n    scanner: {{ lines: {{}} }}\n"
                  "output:\n  drop: {}\n")
    assert any("scanner" in str(w) and "not supported" in str(w) for w in config.warnings)


def test_empty_paths_is_rejected(run: Any) -> None:
    with pytest.raises(ValueError, match="at least one path"):
        build("input", "file:\n  paths: []")
