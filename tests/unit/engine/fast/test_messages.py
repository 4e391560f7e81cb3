"""engine._fast.messages: messages made in bulk are the messages engine/message.py makes one by one
(the Cython kit and its pure-Python twin, one body)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from engine import _fast
from engine import message as M
from engine._fast import _messages_py
from engine.message import Message, MetaSource, SharedMeta, inherit_meta, meta_copy, share_meta
from tests.twins import twin_params


@pytest.fixture(params=twin_params("messages"))
def kit(request: pytest.FixtureRequest) -> Any:
    return request.param.MessageKit(Message, M._UNSET, SharedMeta, MetaSource)


def state(m: Message) -> tuple[Any, ...]:
    return (type(m), m._raw, m._structured if m.has_structured else "unset", type(m._meta), m._meta,
            m._meta_origin, m.error, m.reply)


def _made(origin: Any) -> dict[str, Any]:
    return {"from": origin}


SOURCE = MetaSource(_made)


def test_build_is_the_constructor(kit: Any) -> None:
    meta = share_meta({"path": "x"})
    got = kit.build([b"a", b"", b"c"], meta)
    assert [state(m) for m in got] == [state(Message(p, meta)) for p in (b"a", b"", b"c")]
    assert all(m._meta is meta for m in got)
    assert kit.build([], None) == []


def test_build_sourced_is_the_sourced_constructor(kit: Any) -> None:
    got = kit.build_sourced([b"a", b"b"], SOURCE, ["x", "y"])
    assert [state(m) for m in got] == [state(Message.sourced(p, SOURCE, o)) for p, o in ((b"a", "x"), (b"b", "y"))]
    assert [m.meta for m in got] == [{"from": "x"}, {"from": "y"}]
    assert kit.build_sourced([], SOURCE, []) == []
    with pytest.raises(ValueError):
        kit.build_sourced([b"a"], SOURCE, [])
    with pytest.raises(TypeError):
        kit.build_sourced([b"a"], {"k": 1}, ["x"])


def test_copy_is_the_copy_method(kit: Any) -> None:
    plain = Message(b"p", {"k": 1})
    plain.error = "boom"
    plain.reply = object()
    shared = Message(b"s", share_meta({"k": 2}))
    structured = Message.from_structured({"a": [1]}, {"z": 3})
    decoded = Message(b'{"a":1}')
    _ = decoded.structured
    lazy = Message.sourced(b"l", SOURCE, "o")
    lazy.error = "e"
    batch = [plain, shared, structured, decoded, Message(b"none"), lazy]
    got = kit.copy(batch)
    assert [state(m) for m in got] == [state(m.copy()) for m in batch]
    assert got[5]._meta is SOURCE and got[5]._meta_origin == "o"  # still not made
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
    lazy = Message.sourced(b"l", SOURCE, "o")
    assert state(kit.derive([lazy], [b"L"])[0]) == (Message, b"L", "unset", MetaSource, SOURCE, "o", None, None)
    got = kit.derive([a, b, c], [b"A", None, b"C"])
    assert got[1] is None
    assert state(got[0]) == (Message, b"A", "unset", dict, {"k": 1}, None, "e", None)
    assert got[0]._meta is not a._meta
    assert state(got[2]) == (Message, b"C", "unset", type(None), None, None, None, None)
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
    origin = object()
    before = sys.getrefcount(payload), sys.getrefcount(meta), sys.getrefcount(SOURCE), sys.getrefcount(origin)
    for _ in range(200):
        batch = kit.build([payload], meta)
        kit.copy(batch)
        kit.derive(batch, [payload])
        kit.derive(batch, [None])
        kit.undecoded_payloads(batch)
        lazy = kit.build_sourced([payload], SOURCE, [origin])
        kit.copy(lazy)
        kit.derive(lazy, [payload])
    del batch, lazy
    assert (sys.getrefcount(payload), sys.getrefcount(meta), sys.getrefcount(SOURCE),
            sys.getrefcount(origin)) == before


def test_compiled_kit_refuses_a_class_it_does_not_know() -> None:
    compiled = pytest.importorskip("engine._fast._messages")

    class Other:
        __slots__ = ("_meta", "_meta_origin", "_raw", "_structured", "error", "extra", "reply")

    class NoSlots:
        pass

    for cls in (Other, NoSlots):
        with pytest.raises(TypeError):
            compiled.MessageKit(cls, M._UNSET, SharedMeta, MetaSource)


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


def test_metadata_from_a_source_is_made_on_first_use() -> None:
    made: list[Any] = []

    def make(origin: Any) -> dict[str, Any]:
        made.append(origin)
        return {"k": origin, "n": 1}

    source = MetaSource(make)
    msg = Message.sourced(b"p", source, "o")
    copy = msg.copy()
    assert made == [] and copy._meta is source and copy._meta_origin == "o"
    assert "'k': 'o'" in repr(msg) and meta_copy(msg) == {"k": "o", "n": 1}
    assert inherit_meta(msg) == {"k": "o", "n": 1} and msg._meta is source  # neither stores it
    made.clear()
    assert msg.has_meta and made == ["o"]
    assert msg._meta == {"k": "o", "n": 1} and msg._meta_origin is None  # made once, kept
    msg.meta["k"] = "changed"
    assert msg.meta == {"k": "changed", "n": 1} and made == ["o"]
    assert copy.meta == {"k": "o", "n": 1}  # the copy made its own
    again = msg.copy()
    assert again._meta == {"k": "changed", "n": 1} and again._meta is not msg._meta


def test_a_source_may_make_no_metadata() -> None:
    msg = Message.sourced(b"p", MetaSource(lambda origin: {}), None)
    assert inherit_meta(msg) is None and meta_copy(msg) == {}
    assert not msg.has_meta and msg.meta == {}
