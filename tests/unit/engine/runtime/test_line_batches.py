"""Chunks of lines moved whole (LineBatch): file input → flat mappings → file/drop output give exactly
what the message-per-line path gives, and any stage that cannot keep a chunk whole gets the messages."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from engine.bloblang import Mapping
from engine.components.inputs.file import FileInput
from engine.config.loader import load_text
from engine.message import LineBatch, Message
from engine.runtime.manager import Manager
from engine.runtime.processors import apply_processors

F_TO_C = "root.device = this.device\nroot.f = this.temp * 1.8 + 32"

LINES = [
    b'{"device":"a","temp":21.37,"x":[1,{"y":"\\u00e9"}]}',
    b'{"device":"caf\xc3\xa9","temp":-0.0}',
    b'{"device":{"nested":true},"temp":1e300}',  # out of the fast path: whole chunk by messages
    b'{"temp":"hot"}',  # a mapping error: flagged, kept unchanged
    b"not json",
    b'{"device":"b","temp":12345678901234567890}',
    b'{"device":"c","temp":3}\r',  # CRLF
    b"",  # an empty line: no message
    b'{"device":"d","temp":0.1}',
]


def _config(src: Path, out: Path, mapping: str, output_path: str | None = None) -> str:
    return f"""
input:
  file:
    paths: [{json.dumps(str(src))}]
    codec: lines
pipeline:
  processors:
    - mapping: {json.dumps(mapping)}
output:
  file:
    path: {json.dumps(output_path or str(out))}
    codec: lines
"""


def _run_stream(config: str, run: Any) -> Manager:
    manager = Manager(load_text(config, "test.yaml", {}), logging.getLogger("test"))
    manager.build()
    assert run(manager.run())
    return manager


@pytest.fixture
def line_batches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """(count, kept whole) for every LineBatch a mapping was given."""
    seen: list[tuple[int, bool]] = []
    apply_lines = Mapping.apply_lines

    def spy(self: Mapping, batch: LineBatch) -> LineBatch | None:
        result = apply_lines(self, batch)
        seen.append((batch.count, result is not None))
        return result

    monkeypatch.setattr(Mapping, "apply_lines", spy)
    return seen


def _both_paths(tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch, data: bytes,
                mapping: str = F_TO_C) -> tuple[bytes, bytes]:
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    lines_out, messages_out = tmp_path / "lines.jsonl", tmp_path / "messages.jsonl"
    _run_stream(_config(src, lines_out, mapping), run)
    monkeypatch.setattr(FileInput, "pack_lines", lambda self: False)
    _run_stream(_config(src, messages_out, mapping), run)
    return lines_out.read_bytes(), messages_out.read_bytes()


def test_plain_chunks_go_through_whole_and_match_the_message_path(
        tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch, line_batches: list[tuple[int, bool]]) -> None:
    data = b"".join(b'{"device":"s-%d","temp":%d.%d,"ok":true}\n' % (i, i % 50 - 20, i % 7) for i in range(20000))
    whole, by_message = _both_paths(tmp_path, run, monkeypatch, data)
    assert whole == by_message
    assert whole.splitlines()[0] == b'{"device":"s-0","f":-4}'  # -20.0 * 1.8 + 32: a whole float prints as an int
    assert sum(count for count, _ in line_batches) == 20000
    assert len(line_batches) > 1 and all(kept for _, kept in line_batches)


@pytest.mark.parametrize("cut", range(len(LINES)))
def test_unusual_lines_give_what_the_message_path_gives(
        tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch, cut: int) -> None:
    plain = [b'{"device":"p","temp":%d}' % i for i in range(5)]
    data = b"\n".join(plain + LINES[cut:cut + 1] + plain) + b"\n"
    whole, by_message = _both_paths(tmp_path, run, monkeypatch, data)
    assert whole == by_message


def test_a_file_without_a_final_newline(tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, by_message = _both_paths(tmp_path, run, monkeypatch, b'{"device":"a","temp":1}\n{"device":"b","temp":2.5}')
    assert whole == by_message == b'{"device":"a","f":33.8}\n{"device":"b","f":36.5}\n'


def test_a_mapping_that_is_not_flat_gets_messages(
        tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch, line_batches: list[tuple[int, bool]]) -> None:
    whole, by_message = _both_paths(tmp_path, run, monkeypatch, b'{"a":"x"}\n{"a":"y"}\n', "root.a = this.a.uppercase()")
    assert whole == by_message == b'{"a":"X"}\n{"a":"Y"}\n'
    assert line_batches == []  # the stream never packed its chunks


def test_an_output_path_from_metadata_gets_messages_with_the_input_metadata(tmp_path: Path, run: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"device":"a","temp":0}\n')
    _run_stream(_config(src, tmp_path, F_TO_C, output_path=str(tmp_path) + '/${! meta("path").filepath_split().index(-1) }.out'), run)
    assert (tmp_path / "in.jsonl.out").read_bytes() == b'{"device":"a","f":32}\n'


def _state(messages: list[Message]) -> list[tuple[Any, ...]]:
    return [(m.raw, dict(m.meta), m.error) for m in messages]


def test_a_chunk_the_flat_mapping_cannot_keep_whole_is_flagged_per_message(run: Any) -> None:
    from engine.components.processors.mapping import MappingProcessor
    from engine.bloblang import compile_mapping

    processor = MappingProcessor(compile_mapping(F_TO_C))
    processor.log = logging.getLogger("test")
    meta = {"path": "in.jsonl", "mod_time_unix": 1}
    good = LineBatch(b'{"device":"a","temp":1}\n{"device":"b","temp":2}\n', 2, meta)
    kept = run(apply_processors([processor], good))
    assert type(kept) is LineBatch and kept.meta is meta and kept.count == 2
    assert _state(kept.messages()) == _state(run(apply_processors([processor], good.messages())))

    mixed = LineBatch(b'{"device":"a","temp":1}\n{"temp":"hot"}\n', 2, meta)
    made = run(apply_processors([processor], mixed))
    assert type(made) is list
    assert _state(made) == _state(run(apply_processors([processor], mixed.messages())))
    assert made[0].raw == b'{"device":"a","f":33.8}' and made[0].error is None
    assert made[1].raw == b'{"temp":"hot"}' and made[1].error and "hot" not in made[1].meta
    assert all(dict(m.meta) == meta for m in made)


def test_passthrough_to_drop_counts_every_line(tmp_path: Path, run: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(b'{"i":%d}\n' % i for i in range(30000)) + b"\n\r\nlast")
    config = f"input:\n  file:\n    paths: [{json.dumps(str(src))}]\n    codec: lines\noutput:\n  drop: {{}}\n"
    manager = _run_stream(config, run)
    assert sum(s.read_messages for s in manager.streams.values()) == 30001
