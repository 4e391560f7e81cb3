"""engine._fast.messages: messages made in bulk are the messages engine/message.py makes one by one
(the Cython kit and its pure-Python twin, one body)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from engine import _fast
from engine import message as M
from engine._fast import _messages_py
from engine.message import Message, SharedMeta, share_meta


def _impls() -> list[Any]:
    impls = [pytest.param(_messages_py, id="python")]
    try:
        from engine._fast import _messages  # type: ignore[attr-defined]
    except ImportError:
        if _fast.USE_EXTENSIONS:
            impls.append(pytest.param(None, id="cython", marks=pytest.mark.skip("extension not built")))
    else:
        impls.append(pytest.param(_messages, id="cython"))
    return impls


@pytest.fixture(params=_impls())
def kit(request: pytest.FixtureRequest) -> Any:
    return request.param.MessageKit(Message, M._UNSET, SharedMeta)


def state(m: Message) -> tuple[Any, ...]:
    return (type(m), m._raw, m._structured if m.has_structured else "unset", type(m._meta), m._meta,
            m.error, m.reply)


def test_build_is_the_constructor(kit: Any) -> None:
    meta = share_meta({"path": "x"})
    got = kit.build([b"a", b"", b"c"], meta)
    assert [state(m) for m in got] == [state(Message(p, meta)) for p in (b"a", b"", b"c")]
    assert all(m._meta is meta for m in got)
    assert kit.build([], None) == []


def test_copy_is_the_copy_method(kit: Any) -> None:
    plain = Message(b"p", {"k": 1})
    plain.error = "boom"
    plain.reply = object()
    shared = Message(b"s", share_meta({"k": 2}))
    structured = Message.from_structured({"a": [1]}, {"z": 3})
    decoded = Message(b'{"a":1}')
    _ = decoded.structured
    batch = [plain, shared, structured, decoded, Message(b"none")]
    got = kit.copy(batch)
    assert [state(m) for m in got] == [state(m.copy()) for m in batch]
    assert got[0]._meta is not plain._meta and got[1]._meta is shared._meta
    assert got[2]._structured is not structured._structured  # a deep copy, as Message.copy does
    got[0].meta["k"] = 9
    got[1].meta["k"] = 9
    assert plain.meta == {"k": 1} and shared.meta == {"k": 2}


def test_derive(kit: Any) -> None:
    a = Message(b"a", {"k": 1})
    a.error = "e"
    a.reply = object()
    b = Message(b"b", share_meta({"s": 1}))
    c = Message(b"c")
    got = kit.derive([a, b, c], [b"A", None, b"C"])
    assert got[1] is None
    assert state(got[0]) == (Message, b"A", "unset", dict, {"k": 1}, "e", None)
    assert got[0]._meta is not a._meta
    assert state(got[2]) == (Message, b"C", "unset", type(None), None, None, None)
    assert kit.derive([b], [b"B"])[0]._meta is b._meta
    with pytest.raises(ValueError):
        kit.derive([a], [])


def test_undecoded_payloads(kit: Any) -> None:
    decoded = Message(b'{"a":1}')
    _ = decoded.structured
    batch = [Message(b"x"), Message.from_structured({"a": 1}), Message(b""), decoded]
    assert kit.undecoded_payloads(batch) == [b"x", None, b"", None]


def test_no_reference_leaks(kit: Any) -> None:
    payload = b"payload-for-refcount"
    meta = share_meta({"a": 1})
    before = sys.getrefcount(payload), sys.getrefcount(meta)
    for _ in range(200):
        batch = kit.build([payload], meta)
        kit.copy(batch)
        kit.derive(batch, [payload])
        kit.derive(batch, [None])
        kit.undecoded_payloads(batch)
    del batch
    assert (sys.getrefcount(payload), sys.getrefcount(meta)) == before


def test_compiled_kit_refuses_a_class_it_does_not_know() -> None:
    compiled = pytest.importorskip("engine._fast._messages")

    class Other:
        __slots__ = ("_meta", "_raw", "_structured", "error", "extra", "reply")

    class NoSlots:
        pass

    for cls in (Other, NoSlots):
        with pytest.raises(TypeError):
            compiled.MessageKit(cls, M._UNSET, SharedMeta)


def test_kit_in_use_matches_environment() -> None:
    if _fast.USE_EXTENSIONS:
        pytest.importorskip("engine._fast._messages")
        assert type(M._KIT).__module__ == "engine._fast._messages"
    else:
        assert isinstance(M._KIT, _messages_py.MessageKit)


def test_shared_metadata_is_copy_on_write() -> None:
    shared = share_meta({"a": 1})
    assert isinstance(shared, SharedMeta) and share_meta(shared) is shared and share_meta({}) is None
    one, two = Message(b"1", shared), Message(b"2", shared)
    one.meta["a"] = 2
    assert one.meta == {"a": 2} and two.meta == {"a": 1} and shared == {"a": 1}
    assert two.has_meta and type(two.meta) is dict
    with pytest.raises(TypeError):
        shared["b"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        shared.update(b=1)
