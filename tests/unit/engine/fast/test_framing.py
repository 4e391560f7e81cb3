"""The Cython framing module and its pure-Python twin give identical results (one body, both implementations)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine._fast import _framing_py

delimiters = st.sampled_from([b"\n", b"\t", b"\x00", b"\r\n", b"||", b"abc"])
chunks = st.binary(max_size=300) | st.lists(st.sampled_from([b"a", b"\n", b"\r", b"|", b"bc", b"\r\n"]), max_size=60).map(b"".join)


def test_split_cuts_at_delimiters(framing_impl: Any) -> None:
    parts, rest = framing_impl.split(b"one\ntwo\r\n\nthree", b"\n", False, True)
    assert parts == [b"one", b"two"]
    assert rest == b"three"


def test_split_final_returns_tail(framing_impl: Any) -> None:
    assert framing_impl.split(b"a\nb\r", b"\n", True, True) == ([b"a", b"b"], b"")
    assert framing_impl.split(b"a\nb\r", b"\n", True, False) == ([b"a", b"b\r"], b"")


def test_split_multibyte_delimiter(framing_impl: Any) -> None:
    assert framing_impl.split(b"x||y|z||", b"||", False, False) == ([b"x", b"y|z"], b"")


def test_split_without_delimiter_returns_same_object(framing_impl: Any) -> None:
    data = b"no delimiter here"
    parts, rest = framing_impl.split(data, b"\n", False, False)
    assert parts == [] and rest == data


def test_frame_follows_each_payload_with_the_delimiter(framing_impl: Any) -> None:
    assert framing_impl.frame([b"a", b"", b"bc"], b"\n") == b"a\n\nbc\n"
    assert framing_impl.frame([], b"\n") == b""


def test_module_in_use_matches_environment() -> None:
    import engine._fast as fast

    if fast.USE_EXTENSIONS:
        pytest.importorskip("engine._fast._framing")
        assert fast.COMPILED
    else:
        assert fast.framing is _framing_py


@settings(max_examples=300, deadline=None)
@given(data=chunks, delim=delimiters, final=st.booleans(), strip_cr=st.booleans())
def test_split_twins_agree(data: bytes, delim: bytes, final: bool, strip_cr: bool) -> None:
    compiled = pytest.importorskip("engine._fast._framing")
    assert compiled.split(data, delim, final, strip_cr) == _framing_py.split(data, delim, final, strip_cr)


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=50), max_size=30), delim=delimiters)
def test_frame_twins_agree_and_round_trip(payloads: list[bytes], delim: bytes) -> None:
    compiled = pytest.importorskip("engine._fast._framing")
    framed = compiled.frame(payloads, delim)
    assert framed == _framing_py.frame(payloads, delim)
    nonempty = [p for p in payloads if p]
    if all(delim not in p and not p.endswith(delim[:1]) for p in nonempty):
        assert _framing_py.split(framed, delim, True, False)[0] == nonempty


@settings(max_examples=200, deadline=None)
@given(data=chunks, cut=st.integers(min_value=0, max_value=300), delim=delimiters)
def test_split_is_incremental(data: bytes, cut: int, delim: bytes) -> None:
    """Feeding the bytes in two chunks gives the same messages as feeding them at once."""
    whole = _framing_py.split(data, delim, True, False)[0]
    first, rest = _framing_py.split(data[:cut], delim, False, False)
    second, _ = _framing_py.split(rest + data[cut:], delim, True, False)
    assert first + second == whole


def test_frame_adds_the_delimiter_only_where_missing(framing_impl: Any) -> None:
    assert framing_impl.frame([b"a", b"b\n", b"", b"c"], b"\n") == b"a\nb\n\nc\n"
    assert framing_impl.frame([b"x||", b"y|"], b"||") == b"x||y|||"
    assert framing_impl.frame([], b"\n") == b""


def test_pack_lines_keeps_the_chunk_when_it_is_already_framed(framing_impl: Any) -> None:
    data = b'{"a":1}\n{"a":2}\n{"a'
    assert framing_impl.pack_lines(data, False) == (b'{"a":1}\n{"a":2}\n', 2, b'{"a')
    assert framing_impl.pack_lines(b"x\ny", True) == (b"x\ny\n", 2, b"")
    assert framing_impl.pack_lines(b"", True) == (b"", 0, b"")
    for needs_rewriting in (b"a\n\nb\n", b"\na\n", b"a\r\nb\n", b"a\nb\r"):
        assert framing_impl.pack_lines(needs_rewriting, True) is None


@settings(max_examples=400, deadline=None)
@given(data=chunks, final=st.booleans())
def test_pack_lines_twins_agree_with_split(data: bytes, final: bool) -> None:
    compiled = pytest.importorskip("engine._fast._framing")
    packed = compiled.pack_lines(data, final)
    assert packed == _framing_py.pack_lines(data, final)
    if packed is not None:  # exactly what split cuts, framed
        body, count, rest = packed
        parts, split_rest = _framing_py.split(data, b"\n", final, True)
        assert (body, count, rest) == (_framing_py.frame(parts, b"\n"), len(parts), split_rest)


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(chunks, max_size=20), delim=delimiters)
def test_frame_twins_agree(payloads: list[bytes], delim: bytes) -> None:
    compiled = pytest.importorskip("engine._fast._framing")
    assert compiled.frame(payloads, delim) == _framing_py.frame(payloads, delim)


def _parse_ws(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each frame in DATA, read by wsproto as a client reads a server."""
    from wsproto.frame_protocol import FrameProtocol

    reader = FrameProtocol(client=True, extensions=[])
    reader.receive_bytes(data)
    frames = [(int(f.opcode), bytes(f.payload) if isinstance(f.payload, (bytes, bytearray)) else f.payload.encode())
              for f in reader.received_frames()]
    return frames


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_ws_frames_are_read_back_by_wsproto_at_every_length_boundary(framing_impl: Any, size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert _parse_ws(b"".join(framing_impl.ws_frames([payload, b"next"], False))) == [(2, payload), (2, b"next")]
    text = "é".encode() * (size // 2)
    assert _parse_ws(framing_impl.ws_frames([text], True)[0]) == [(1, text)]


def test_sse_events_number_the_events_and_split_lines(framing_impl: Any) -> None:
    assert framing_impl.sse_events(7, [b"a", b"b\nc", b"", b"x\r\ny\rz"]) == [
        b"id: 7\ndata: a\n\n", b"id: 8\ndata: b\ndata: c\n\n", b"id: 9\ndata: \n\n",
        b"id: 10\ndata: x\ndata: y\ndata: z\n\n"]
    assert framing_impl.sse_events(2**40, [b"big"]) == [b"id: 1099511627776\ndata: big\n\n"]


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=300) | chunks, max_size=20), text=st.booleans(),
       first=st.integers(0, 2**62))
def test_ws_and_sse_framing_twins_agree(payloads: list[bytes], text: bool, first: int) -> None:
    compiled = pytest.importorskip("engine._fast._framing")
    assert compiled.ws_frames(payloads, text) == _framing_py.ws_frames(payloads, text)
    assert compiled.sse_events(first, payloads) == _framing_py.sse_events(first, payloads)
    assert _parse_ws(b"".join(compiled.ws_frames(payloads, False))) == [(2, p) for p in payloads]
