"""The unit that moves through a stream.

A message keeps the payload exactly as the source produced it. Metadata and the
structured (decoded JSON) view are created only when something asks for them, and
a message whose structure was never replaced leaves as the very bytes it came in as.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import msgspec
import orjson

_decode_json = msgspec.json.decode
_UNSET: Any = object()


class MetaSource:
    """Metadata made only when something asks for it.

    An input that would otherwise build a metadata dict for every message gives its messages one
    MetaSource (say, per batch) and each message the object its dict is made from, its *origin*
    (`Message.sourced`, `sourced_batch`). The first use of the message's metadata (`.meta`,
    `has_meta`, `meta_copy`, ...) calls ``make(origin)``, which must return a new dict each time
    and depend on nothing but ORIGIN (and what the MetaSource was made with): copies of a message
    share its source and origin, and each makes a dict of its own when asked."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[Any], dict[str, Any]]) -> None:
        self.make = make

    def __repr__(self) -> str:
        return f"MetaSource({self.make!r})"


class Message:
    # `_meta`: None, a dict, a SharedMeta, or a MetaSource (then `_meta_origin` is what it makes
    # the dict from; otherwise `_meta_origin` is None).
    __slots__ = ("_raw", "_structured", "_meta", "_meta_origin", "error", "reply")

    def __init__(self, raw: bytes = b"", meta: dict[str, Any] | None = None) -> None:
        self._raw: bytes | None = raw
        self._structured: Any = _UNSET
        self._meta: dict[str, Any] | MetaSource | None = meta
        self._meta_origin: Any = None
        self.error: str | None = None
        # Where a synchronous response to this message goes (Bento's sync responses): an object
        # with `add(msg)`, set by inputs that can answer their client (http_server) and used by the
        # `sync_response` output. Not metadata: mappings never see it; `copy()` keeps it, and the
        # processor chain carries it onto messages a processor builds anew (`carry_replies`).
        self.reply: Any = None

    @classmethod
    def from_structured(cls, value: Any, meta: dict[str, Any] | None = None) -> "Message":
        msg = cls.__new__(cls)
        msg._raw = None
        msg._structured = value
        msg._meta = meta
        msg._meta_origin = None
        msg.error = None
        msg.reply = None
        return msg

    @classmethod
    def sourced(cls, raw: bytes, source: MetaSource, origin: Any) -> "Message":
        """A message whose metadata is ``source.make(origin)``, made on first use (`MetaSource`)."""
        msg = cls(raw)
        msg._meta = source
        msg._meta_origin = origin
        return msg

    # -- payload -----------------------------------------------------------
    @property
    def raw(self) -> bytes:
        """The payload as bytes; re-encoded only if the structure was replaced."""
        raw = self._raw
        if raw is None:
            raw = self._raw = encode_value(self._structured)
        return raw

    def set_raw(self, raw: bytes) -> None:
        self._raw = raw
        self._structured = _UNSET

    @property
    def structured(self) -> Any:
        """The payload parsed as JSON, decoded on first use.

        Raises ``ValueError`` naming the problem when the payload is not JSON.
        """
        value = self._structured
        if value is _UNSET:
            try:
                value = self._structured = _decode_json(self._raw)
            except msgspec.DecodeError as exc:
                raise ValueError(f"payload is not valid JSON: {exc}") from None
        return value

    def set_structured(self, value: Any) -> None:
        self._structured = value
        self._raw = None

    @property
    def has_structured(self) -> bool:
        return self._structured is not _UNSET

    # -- metadata ----------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        meta = self._meta
        if meta is None:
            meta = self._meta = {}
        elif type(meta) is SharedMeta:  # shared copy-on-write: this message now gets its own
            meta = self._meta = dict(meta)
        elif type(meta) is MetaSource:  # made on first use
            meta = self._meta = meta.make(self._meta_origin)
            self._meta_origin = None
        return meta  # type: ignore[return-value]

    @property
    def has_meta(self) -> bool:
        meta = self._meta
        if type(meta) is MetaSource:
            return bool(self.meta)
        return bool(meta)

    def copy(self) -> "Message":
        """A shallow copy: payload bytes are shared, metadata is copied, structure is not decoded."""
        msg = Message.__new__(Message)
        msg._raw = self._raw
        msg._structured = _UNSET if self._raw is not None else _deep_copy(self._structured)
        meta = self._meta
        if type(meta) is MetaSource:  # not made yet: the copy makes its own when asked
            msg._meta = meta
            msg._meta_origin = self._meta_origin
        else:
            msg._meta = inherit_meta(self)
            msg._meta_origin = None
        msg.error = self.error
        msg.reply = self.reply
        return msg

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        body = self.raw
        shown = body[:60] + (b"..." if len(body) > 60 else b"")
        meta = meta_copy(self) if type(self._meta) is MetaSource else self._meta
        return f"Message({shown!r}, meta={meta!r}, error={self.error!r})"


class SharedMeta(dict):  # type: ignore[type-arg]
    """Metadata shared by several messages, copy-on-write: a message's `.meta` turns it into a dict
    of its own before anything can change it, so it is never modified (its mutators raise).
    Messages of one input chunk share one (`share_meta`), and copies share their original's."""

    __slots__ = ()

    def _frozen(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("shared message metadata is read-only (go through Message.meta)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _frozen  # type: ignore[assignment]
    __ior__ = _frozen  # type: ignore[assignment]


def share_meta(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """METADATA to give several new messages (`Message(raw, shared)`) without copying it for each."""
    if not meta:
        return None
    return meta if type(meta) is SharedMeta else SharedMeta(meta)


def meta_copy(msg: "Message") -> dict[str, Any]:
    """A new dict of MSG's metadata, for a message being built from it (without giving MSG a dict
    of its own first, as `msg.meta` would for shared metadata)."""
    meta = msg._meta
    if type(meta) is MetaSource:
        return meta.make(msg._meta_origin)
    return dict(meta) if meta else {}


def inherit_meta(msg: "Message") -> dict[str, Any] | None:
    """MSG's metadata for a message made from it: the same shared copy-on-write dict when it is one,
    else a copy (None when it has none)."""
    meta = msg._meta
    if type(meta) is MetaSource:
        return meta.make(msg._meta_origin) or None
    if not meta:
        return None
    return meta if type(meta) is SharedMeta else dict(meta)


def encode_value(value: Any) -> bytes:
    """Serialise a structured value the way Bento does: strings and bytes raw, the rest as JSON."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


Batch = list[Message]


class LineBatch:
    """A batch kept as the one buffer it was read as: the messages are DATA cut at each b"\\n" (COUNT
    of them, none empty), all with metadata META and no error flag nor reply.

    A stream whose stages all take it (`Stream.run`: the file input with the `lines` codec, the
    flat mappings, the file and drop outputs) moves whole chunks this way, without a Message per
    line; a stage that cannot handle one turns it into messages (`messages()`), exactly those the
    input would have made, and the rest of the stream goes on with them."""

    __slots__ = ("count", "data", "meta")

    def __init__(self, data: bytes, count: int, meta: dict[str, Any] | None) -> None:
        self.data = data
        self.count = count
        self.meta = meta

    def __len__(self) -> int:
        return self.count

    def messages(self) -> Batch:
        from ._fast import framing

        return new_batch(framing.split(self.data, b"\n", True, False)[0], self.meta)

    def __repr__(self) -> str:
        return f"LineBatch({self.count} messages, {len(self.data)} bytes, meta={self.meta!r})"


def as_messages(batch: "Batch | LineBatch") -> Batch:
    """BATCH as a list of messages (a LineBatch made into one)."""
    return batch.messages() if type(batch) is LineBatch else batch  # type: ignore[return-value]


def batch_bytes(batch: Batch) -> int:
    return sum(len(m.raw) for m in batch)


def copy_batch(batch: Batch) -> Batch:
    """``[m.copy() for m in batch]``, made in bulk (a LineBatch, which nothing changes, as it is)."""
    if type(batch) is LineBatch:
        return batch
    return _KIT.copy(batch)


def new_batch(parts: list[bytes], meta: dict[str, Any] | None = None) -> Batch:
    """``[Message(p, meta) for p in parts]``, made in bulk, the metadata shared copy-on-write."""
    return _KIT.build(parts, share_meta(meta))


def sourced_batch(parts: list[bytes], source: MetaSource, origins: list[Any]) -> Batch:
    """``[Message.sourced(p, source, o) for p, o in zip(parts, origins)]``, made in bulk: the
    metadata made from each origin on first use (`MetaSource`)."""
    return _KIT.build_sourced(parts, source, origins)


def derive_batch(batch: Batch, payloads: list[bytes | None]) -> list[Message | None]:
    """For each message of BATCH and payload: a new message with that payload, the message's
    metadata (`inherit_meta`; metadata not made yet stays so, from the same source) and error flag
    (None where the payload is None)."""
    return _KIT.derive(batch, payloads)


def undecoded_payloads(batch: Batch) -> list[bytes | None]:
    """Each message's payload bytes when its structured view was never decoded nor set (so nothing
    can have changed it behind the bytes), else None."""
    return _KIT.undecoded_payloads(batch)


def _make_kit() -> Any:
    # The compiled kit fills Message's slots directly (engine/_fast/_messages.pyx): keep both in
    # step with Message.__init__ and Message.copy. It refuses a Message whose slots it does not
    # know, and the pure-Python kit (which calls the class itself) is used instead.
    from . import _fast
    from ._fast import _messages_py

    try:
        return _fast.messages.MessageKit(Message, _UNSET, SharedMeta, MetaSource)
    except TypeError:
        return _messages_py.MessageKit(Message, _UNSET, SharedMeta, MetaSource)


_KIT = _make_kit()


def carry_replies(before: Batch, after: Batch) -> None:
    """Keep the sync-response link (`Message.reply`) of BEFORE on the messages a processor made
    from them (AFTER): `mapping` and friends build new Message objects, which start without one.

    Same length: position by position. Otherwise (a filter, a split) only when every message of
    BEFORE had the same link, which then goes to each message of AFTER that has none. Messages
    that kept their link (the same objects, or copies) are left alone."""
    if after is before or not after:
        return
    if len(before) == len(after):
        for old, new in zip(before, after):
            if new.reply is None:
                new.reply = old.reply
        return
    reply = before[0].reply if before else None
    if reply is None or any(m.reply is not reply for m in before):
        return
    for new in after:
        if new.reply is None:
            new.reply = reply


def has_replies(batch: Batch) -> bool:
    for m in batch:
        if m.reply is not None:
            return True
    return False


def iter_payloads(batch: Batch) -> Iterator[bytes]:
    for m in batch:
        yield m.raw
