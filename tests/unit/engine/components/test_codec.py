"""The codec splitter and framer, run against both framing implementations (Cython and its twin)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.components.codec import Codec, parse_delimiter


def _split_in_pieces(codec: Codec, data: bytes, size: int) -> list[bytes]:
    out: list[bytes] = []
    for i in range(0, len(data), size):
        out.extend(codec.feed(data[i:i + size]))
    out.extend(codec.finish())
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_lines_across_chunk_boundaries(framing_impl: Any, size: int) -> None:
    data = b"one\r\ntwo\n\n\nthree\r\n\r\nfour"
    assert _split_in_pieces(Codec("lines"), data, size) == [b"one", b"two", b"three", b"four"]


def test_lines_keeps_a_cr_that_is_not_at_the_line_end(framing_impl: Any) -> None:
    assert _split_in_pieces(Codec("lines"), b"a\rb\nc\r", 100) == [b"a\rb", b"c"]


def test_lines_feed_returns_only_complete_lines(framing_impl: Any) -> None:
    codec = Codec("lines")
    assert codec.feed(b"abc") == []
    assert codec.feed(b"def\ngh") == [b"abcdef"]
    assert codec.finish() == [b"gh"]
    assert codec.finish() == []


@pytest.mark.parametrize("size", [1, 2, 5, 100])
def test_multibyte_delimiter_split_across_chunks(framing_impl: Any, size: int) -> None:
    data = b"x||y|z||||w"
    assert _split_in_pieces(Codec("delim:||"), data, size) == [b"x", b"y|z", b"w"]


def test_delim_escape_and_cr_kept(framing_impl: Any) -> None:
    codec = Codec("delim:\\t")
    assert codec.delimiter == b"\t"
    # Only `lines` drops a trailing CR.
    assert _split_in_pieces(codec, b"a\r\tb\t", 3) == [b"a\r", b"b"]


def test_all_bytes_is_one_message(framing_impl: Any) -> None:
    codec = Codec("all-bytes")
    assert codec.feed(b"a\nb") == []
    assert codec.feed(b"\n\nc") == []
    assert codec.finish() == [b"a\nb\n\nc"]
    assert Codec("all-bytes").finish() == []


def test_frame(framing_impl: Any) -> None:
    assert Codec("lines").frame([b"a", b"", b"b"]) == b"a\n\nb\n"
    assert Codec("delim:;").frame([b"a", b"b"]) == b"a;b;"
    assert Codec("all-bytes").frame([b"a", b"b"]) == b"ab"
    assert Codec("lines").frame([]) == b""


def test_unknown_codec_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown codec"):
        parse_delimiter("csv")
    with pytest.raises(ValueError, match="unknown codec"):
        parse_delimiter("delim:")


def test_frame_adds_no_second_delimiter(framing_impl) -> None:
    from engine.components.codec import Codec

    assert Codec("lines").frame([b"a\n", b"b"]) == b"a\nb\n"
    assert Codec("delim:||").frame([b"x||", b"y"]) == b"x||y||"
    assert Codec("all-bytes").frame([b"a\n", b"b"]) == b"a\nb"
