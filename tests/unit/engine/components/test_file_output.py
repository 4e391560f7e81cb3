"""The `file` output: interpolated paths, codecs, appends, big batches, and failures that redeliver."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.components.outputs.file import INLINE_WRITE_MAX
from engine.errors import ComponentError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import load

from .support import LogWaiter, build, msg


def _output(path: str, codec: str = "") -> Any:
    return build("output", f"file:\n  path: '{path}'\n" + (f"  codec: '{codec}'\n" if codec else ""))


def test_interpolated_path_per_message_creates_directories(tmp_path: Path, run: Any) -> None:
    out = _output(f'{tmp_path}/out/${{! meta("kafka_key") }}/data.txt')

    async def scenario() -> None:
        await out.write([msg(b"a1", kafka_key="a"), msg(b"b1", kafka_key="b"), msg(b"a2", kafka_key="a")])
        await out.write([msg(b"b2", kafka_key="b")])
        await out.close()

    run(scenario())
    assert (tmp_path / "out" / "a" / "data.txt").read_bytes() == b"a1\na2\n"
    assert (tmp_path / "out" / "b" / "data.txt").read_bytes() == b"b1\nb2\n"


def test_lines_append_to_an_existing_file(tmp_path: Path, run: Any) -> None:
    target = tmp_path / "log.txt"
    target.write_bytes(b"before\n")
    out = _output(str(target))
    run(out.write([msg(b"x"), msg(b""), msg(b"y")]))
    run(out.close())
    again = _output(str(target))
    run(again.write([msg(b"z")]))
    run(again.close())
    assert target.read_bytes() == b"before\nx\n\ny\nz\n"


def test_a_message_ending_with_the_delimiter_gets_no_second_one(tmp_path: Path, run: Any) -> None:
    target = tmp_path / "t.txt"
    out = _output(str(target))
    run(out.write([msg(b"one\n"), msg(b"two"), msg(b"\n")]))
    run(out.close())
    assert target.read_bytes() == b"one\ntwo\n\n"


@pytest.mark.parametrize("codec, expected", [
    ("delim:|", b"a|b|c|"),
    ("delim:\\t", b"a\tb\tc\t"),
    ("append", b"abc"),
])
def test_delimited_codecs(tmp_path: Path, run: Any, codec: str, expected: bytes) -> None:
    target = tmp_path / "t.bin"
    out = _output(str(target), codec)
    run(out.write([msg(b"a"), msg(b"b")]))
    run(out.write([msg(b"c")]))
    run(out.close())
    assert target.read_bytes() == expected


def test_all_bytes_writes_each_message_as_the_whole_file(tmp_path: Path, run: Any) -> None:
    out = _output(f"{tmp_path}/docs/${{! meta(\"id\") }}.json", "all-bytes")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "1.json").write_bytes(b"old content that is longer")

    async def scenario() -> None:
        await out.write([msg(b'{"v":1}\n', id="1"), msg(b'{"v":2}', id="2")])
        await out.write([msg(b"first", id="3"), msg(b"second", id="3")])
        await out.close()

    run(scenario())
    assert (tmp_path / "docs" / "1.json").read_bytes() == b'{"v":1}\n'
    assert (tmp_path / "docs" / "2.json").read_bytes() == b'{"v":2}'
    assert (tmp_path / "docs" / "3.json").read_bytes() == b"second"


def test_structured_messages_are_written_as_json(tmp_path: Path, run: Any) -> None:
    target = tmp_path / "s.jsonl"
    out = _output(str(target))
    run(out.write([Message.from_structured({"b": 1, "a": [1, 2]}), Message.from_structured("text")]))
    run(out.close())
    assert target.read_bytes() == b'{"a":[1,2],"b":1}\ntext\n'


def test_a_big_batch_is_written_whole_off_the_loop(tmp_path: Path, run: Any) -> None:
    target = tmp_path / "big.txt"
    line = b"y" * 999
    batch = [Message(line) for _ in range(2 * INLINE_WRITE_MAX // 1000 + 10)]
    out = _output(str(target))

    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        await out.write(batch)
        await out.write(batch)
        ticking.cancel()
        await out.close()
        return ticks

    ticks = run(scenario())
    assert target.read_bytes() == (line + b"\n") * (2 * len(batch))
    assert ticks >= 3  # the loop kept running while the big writes were in a thread


def test_write_failure_raises(tmp_path: Path, run: Any) -> None:
    (tmp_path / "taken").mkdir()
    out = _output(str(tmp_path / "taken"))
    with pytest.raises(IsADirectoryError):
        run(out.write([msg(b"x")]))
    blocker = tmp_path / "file-not-dir"
    blocker.write_bytes(b"")
    out = _output(f"{blocker}/inside.txt")
    with pytest.raises(OSError):
        run(out.write([msg(b"x")]))


def test_path_interpolation_errors_fail_the_write(tmp_path: Path, run: Any) -> None:
    out = _output(f'{tmp_path}/${{! this.id }}.txt')
    with pytest.raises(Exception, match="JSON|structured"):
        run(out.write([msg(b"not json")]))


def test_bad_interpolation_is_refused(tmp_path: Path) -> None:
    from engine.components.outputs.file import FileOutput
    from engine.errors import ConfigError

    with pytest.raises(ValueError, match=r"path: line 1 column \d+"):
        FileOutput({"path": f"{tmp_path}/${{! meta( }}", "codec": "lines"})
    with pytest.raises((ConfigError, ComponentError), match="path"):
        Manager(load(f"input:\n  stdin: {{}}\noutput:\n  file:\n    path: '{tmp_path}/${{! meta( }}'\n")).build()


def test_a_directory_in_the_way_leads_to_redelivery_not_loss(tmp_path: Path, run: Any) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"m1\nm2\nm3\n")
    target = tmp_path / "out" / "result.txt"
    target.mkdir(parents=True)  # a directory where the file should be: every write fails
    (target / "keep").write_bytes(b"")
    config = f"input:\n  file:\n    paths: [ '{source}' ]\noutput:\n  file:\n    path: '{target}'\n"

    async def scenario() -> tuple[bool, list[str]]:
        manager = Manager(load(config))
        manager.build()
        with LogWaiter("retrying") as waiter:
            running = asyncio.ensure_future(manager.run())
            await waiter.seen.wait()  # the write failed and the input will send the batch again
            assert not running.done()
            shutil.rmtree(target)  # clear the way
            delivered = await running
        return delivered, waiter.messages

    delivered, logged = run(scenario(), timeout=20)
    assert delivered
    assert target.read_bytes() == b"m1\nm2\nm3\n"
    assert any("Is a directory" in m for m in logged)
