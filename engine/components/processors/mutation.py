"""The `mutation` processor: a Bloblang mapping that edits each message in place (or drops it)."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...bloblang import Mapping
from ...registry import register
from .mapping import BloblangProcessor, compile_or_raise


class MutationProcessor(BloblangProcessor):
    """Edits each message where it stands; `root = deleted()` drops it."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.process = mapping.mutate  # type: ignore[method-assign]  # no wrapper frame per message


def _factory(conf: str, ctx: Any) -> MutationProcessor:
    return MutationProcessor(compile_or_raise(conf or ""))


_DESCRIPTION = """\
Bloblang is a language for mapping, transforming and filtering documents (see the Bloblang guide). \
The mapping is compiled once, when the stream is built; a mapping that does not parse is a config \
error reported at its line and column in the config file.

## Input document mutability

A mutation edits the input document directly instead of building a new one, which saves copying \
the data when only a few fields change. It also means that `this` changes as the mutation goes: \
after `root.invitees = this.invitees.filter(i -> i.mood >= 0.5)`, `this.invitees` is the filtered \
list. So with

```coffee
root.rejected = this.invitees.filter(i -> i.mood < 0.5)
root.invitees = this.invitees.filter(i -> i.mood >= 0.5)
```

both fields are subsets of the original list, while in the reverse order `rejected` would be empty. \
Order the assignments carefully, or capture the original value first (`let invitees = this.invitees`). \
When the result has a very different shape from the input, the `mapping` processor is more convenient.

Metadata is edited in place too (`meta foo = "bar"`, `meta foo = deleted()`). `root = deleted()` drops \
the message on purpose (it is acknowledged at its source and not delivered). A payload that is not \
JSON is replaced by a new document when a field of `root` is assigned.

## Error handling

A mutation can fail at run time, in which case the error is logged and the message is flagged as \
failed (the error text is available to `error()`), so that `catch`, `try`, `reject_errored` or \
`fallback` can deal with it. The assignments made before the failing one are kept, as in Bento.

`batch_index()`, `batch_size()` and `count()` see the message's position within its batch."""

register(s.ComponentSpec(
    name="mutation", kind="processor", category="mapping",
    summary="Executes a Bloblang mapping and directly transforms the contents of messages, mutating "
            "(or deleting) them.",
    description=_DESCRIPTION,
    config=s.Field(
        "mutation", "string",
        "The Bloblang mapping to execute on each message, editing it in place.",
        examples=(
            "root.description = deleted()\nroot.fans = this.fans.filter(fan -> fan.obsession > 0.5)",
            "root.total_cents = (this.total * 100).round()",
        ),
        bloblang="mapping",
    ),
    factory=_factory,
    examples=(
        "# Remove the description and keep the fans with an obsession above 0.5; other fields stay.\n"
        "pipeline:\n  processors:\n    - mutation: |\n        root.description = deleted()\n"
        "        root.fans = this.fans.filter(fan -> fan.obsession > 0.5)",
    ),
))
