"""The `mapping` processor: a Bloblang mapping builds a new document for each message (or drops it)."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...bloblang import BloblangError, Mapping, compile_mapping
from ...component import MessageProcessor
from ...message import Batch, Message
from ...registry import register


def compile_or_raise(source: str, what: str = "mapping") -> Mapping:
    """Compile a mapping for a factory; a parse error becomes a ValueError naming the field."""
    try:
        return compile_mapping(source)
    except BloblangError as exc:
        raise ValueError(f"{what}: {exc}") from None


class BloblangProcessor(MessageProcessor):
    """A failing mapping flags the message with Bento's error text and logs it, as Bento does."""

    def failed(self, msg: Message, exc: Exception) -> None:
        msg.error = str(exc) or type(exc).__name__
        self.log.error("%s", msg.error)


class MappingProcessor(BloblangProcessor):
    """Replaces each message by what the mapping builds; `root = deleted()` drops it."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.process = mapping.apply  # type: ignore[method-assign]  # no wrapper frame per message
        self.takes_lines = mapping.maps_lines
        self.process_lines = mapping.apply_lines  # type: ignore[method-assign]

    async def process_batch(self, batch: Batch) -> Batch:
        # One call per batch: a failing message is flagged (`failed`) and kept unchanged.
        return self.mapping.apply_batch(batch, self.failed)


def _factory(conf: str, ctx: Any) -> MappingProcessor:
    return MappingProcessor(compile_or_raise(conf or ""))


_DESCRIPTION = """\
Bloblang is a language for mapping, transforming and filtering documents (see the Bloblang guide). \
The mapping is compiled once, when the stream is built; a mapping that does not parse is a config \
error reported at its line and column in the config file.

## Input document immutability

A mapping builds an entirely new document: `this` always refers to the input message, unchanged, so \
it can be queried at any point of the mapping, while `root` is the document being built:

```coffee
root.id = this.id
root.invitees = this.invitees.filter(i -> i.mood >= 0.5)
root.rejected = this.invitees.filter(i -> i.mood < 0.5)
```

Here `rejected` is still computed from the original `invitees`. When a mapping only makes small \
changes to the input document, the `mutation` processor avoids copying it.

Metadata is copied from the input message to the new one; `meta foo = "bar"` sets a key, \
`meta foo = deleted()` removes it, `meta = {}` clears them all. `metadata("foo")` reads the input \
message's metadata, `@foo` the new message's. If `root` is never assigned the payload stays as it was \
(only the metadata changes).

## Dropping messages

`root = deleted()` drops the message on purpose: it is acknowledged at its source and not delivered \
to the output. For example `root = if this.type == "noise" { deleted() }` filters out noise and lets \
the rest through unchanged.

## Error handling

A mapping can fail at run time (a type error, `throw("...")`, a field of the wrong type...). The \
message then passes on unchanged, the error is logged and the message is flagged as failed, with \
the error text (e.g. `failed assignment (line 1): ...`) available to `error()`, so that the usual \
patterns apply: `catch`, `try`, `switch` on `errored()`, the `reject_errored` and `fallback` \
outputs. Bloblang's own fallbacks (`|`, `.catch(...)`, `.or(...)`) avoid the failure altogether.

`batch_index()`, `batch_size()` and `count()` see the message's position within its batch.

`bloblang` is accepted as an alias of this processor (its old name in Benthos and Tyk Streams)."""

register(s.ComponentSpec(
    name="mapping", kind="processor", category="mapping", aliases=("bloblang",),
    summary="Executes a Bloblang mapping on messages, creating a new document that replaces (or filters) "
            "the original message.",
    description=_DESCRIPTION,
    config=s.Field(
        "mapping", "string",
        "The Bloblang mapping to execute on each message.",
        examples=(
            "root.id = this.id\nroot.fans = this.fans.filter(fan -> fan.obsession > 0.5)",
            'root.Cities = this.locations.filter(loc -> loc.state == "WA").map_each(loc -> loc.name).sort().join(", ")',
            'root = if this.user_id != "alice" { deleted() }',
        ),
        bloblang="mapping",
    ),
    factory=_factory,
    examples=(
        "# Keep the id and the fans with an obsession above 0.5:\n"
        '#   {"id":"foo","fans":[{"name":"bev","obsession":0.57},{"name":"grace","obsession":0.21}]}\n'
        '#   → {"fans":[{"name":"bev","obsession":0.57}],"id":"foo"}\n'
        "pipeline:\n  processors:\n    - mapping: |\n        root.id = this.id\n"
        "        root.fans = this.fans.filter(fan -> fan.obsession > 0.5)",
        "# Drop the events of other users, pass the rest through unchanged:\n"
        "pipeline:\n  processors:\n    - mapping: |\n"
        '        root = if this.user_id != "alice" {\n          deleted()\n        }',
    ),
))
