"""The `branch` processor: child processors run on a mapped copy of each message, their result
is mapped back into the original."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...bloblang import Mapping
from ...component import Processor
from ...message import Batch, Message
from ...registry import register
from ...runtime.processors import apply_processors
from .catch import close_all
from .mapping import compile_or_raise


class BranchProcessor(Processor):
    def __init__(self, request_map: Mapping | None, children: list[Processor], result_map: Mapping | None) -> None:
        self.request_map = request_map
        self.children = children
        self.result_map = result_map

    def _fail(self, msg: Message, text: str) -> None:
        msg.error = text
        self.log.error("branch error: %s", text)

    async def process_batch(self, batch: Batch) -> Batch:
        # 1. The request messages: a copy of each original (without its error flag), or what
        #    request_map builds from it; None where the message skips the branch.
        requests: list[Message | None] = []
        request_map = self.request_map
        for index, msg in enumerate(batch):
            if request_map is None:
                req: Message | None = msg.copy()
                req.error = None  # type: ignore[union-attr]
            else:
                try:
                    req = request_map.apply_onto(_empty_copy(msg), msg, batch, index)
                except Exception as exc:  # noqa: BLE001 - flags this message, the others carry on
                    self._fail(msg, f"request mapping failed: {exc}")
                    req = None
                else:
                    if req is not None:
                        req.error = None
            requests.append(req)

        sent = [r for r in requests if r is not None]
        if not sent:
            return batch

        # 2. The child processors, on all the requests of the batch together.
        results = await apply_processors(self.children, sent)
        if len(results) != len(sent):
            text = ("child processors resulted in zero messages" if not results else
                    f"message count from branch processors does not match request, started with "
                    f"{len(sent)} messages, finished with {len(results)}")
            self.log.error("%s; avoid processors that filter, split or group messages inside a branch, "
                           "apply them before or after it", text)
            for msg, req in zip(batch, requests):
                if req is not None:
                    msg.error = text
            return batch

        # 3. Map each result back onto its original message.
        aligned: list[Message] = []
        it = iter(results)
        for msg, req in zip(batch, requests):
            aligned.append(next(it) if req is not None else msg)
        result_map = self.result_map
        out: Batch = list(batch)
        for index, (msg, req) in enumerate(zip(batch, requests)):
            if req is None:
                continue
            result = aligned[index]
            if result.error is not None:
                self._fail(msg, f"processors failed: {result.error}")
                continue
            if result_map is None:
                continue
            try:
                mapped = result_map.apply_onto(msg, result, aligned, index)
            except Exception as exc:  # noqa: BLE001 - the original stays unchanged, flagged
                self._fail(msg, f"result mapping failed: {exc}")
                continue
            if mapped is not None:  # deleted() in result_map leaves the original as it was
                out[index] = mapped
        return out

    async def close(self) -> None:
        await close_all(self.children)


def _empty_copy(msg: Message) -> Message:
    """The message the request map writes onto: no payload, the original's metadata."""
    return Message(b"", dict(msg.meta) if msg.has_meta else None)


def _factory(conf: dict[str, Any], ctx: Any) -> BranchProcessor:
    request_map = compile_or_raise(conf["request_map"], "request_map") if conf["request_map"] else None
    result_map = compile_or_raise(conf["result_map"], "result_map") if conf["result_map"] else None
    procs = [p for p in conf["processors"] if p is not None]
    if not procs:
        raise ValueError("the branch processor requires at least one child processor")
    return BranchProcessor(request_map, ctx.build_processors(procs), result_map)


_DESCRIPTION = """\
This is useful for preserving the original message contents when using processors that would \
otherwise replace the entire contents (an HTTP call, a cache lookup...).

For each message, `request_map` builds the request message the child `processors` work on: `this` \
is the original message, and the request starts with no payload and a copy of the original's \
metadata. With no `request_map` the request is an exact copy of the original (with its metadata). \
The error flag of the original is not carried into the branch.

The child processors run on the requests of a batch together. Then `result_map` maps each result \
back onto its original message: in it `this` (and `content()`, `metadata()`) is the branch result, \
while `root` starts as the original document and `@`/`meta` are the original's metadata. With no \
`result_map` the original message is left unchanged (the branch is run for its side effects).

### Metadata

Metadata added to messages inside the branch is not copied into the resulting message \
automatically. Copy it in `result_map`, wholesale with `meta = metadata()` or key by key with \
`meta foo = metadata("bar")`. `@foo` in `result_map` reads the original message's metadata.

### Error handling

If `request_map` fails for a message, the child processors are not run for it and the message is \
flagged (`request mapping failed: ...`). If the child processors flag a result as failed, \
`result_map` is not run for it and the original is flagged (`processors failed: ...`). If \
`result_map` fails, the message is left unchanged and flagged (`result mapping failed: ...`). In \
all cases the standard error handling (`catch`, `try`, `reject_errored`, `fallback`) applies to the \
flagged messages.

The child processors must give back one message per request, in order: filtering, splitting or \
grouping inside a branch flags every message of the batch; do that before or after the branch.

### Conditional branching

If `request_map` sets the root to `deleted()` the branch is skipped for that message, which \
passes on unchanged."""

register(s.ComponentSpec(
    name="branch", kind="processor", category="composition",
    summary="Creates a new request message via a Bloblang mapping, executes a list of processors on the "
            "request messages and maps the result back into the source message using another mapping.",
    description=_DESCRIPTION,
    config=s.obj(
        "branch", "",
        s.string("request_map", "A Bloblang mapping that builds the request payload for the child processors "
                 "of this branch. Empty means the branch begins with an exact copy of the origin message "
                 "(including metadata). `root = deleted()` skips the branch for that message.", "",
                 examples=('root = {\n  "id": this.doc.id,\n  "content": this.doc.body.text\n}',
                           'root = if this.type == "foo" {\n  this.foo.request\n} else {\n  deleted()\n}'),
                 bloblang="mapping"),
        s.Field("processors", "processor", "The processors applied to the request messages. They must give back "
                "one message per request, in order: no filtering, splitting or grouping here.", kind="list"),
        s.string("result_map", "A Bloblang mapping that maps each result of the branch back into its origin "
                 "message: `this` is the result, `root` the origin document. Empty means the origin message "
                 "is left unchanged (including metadata).", "",
                 examples=('meta foo_code = metadata("code")\nroot.foo_result = this',
                           "meta = metadata()\nroot.bar.body = this.body\nroot.bar.id = this.user.id",
                           "root.raw_result = content().string()",
                           'root.enrichments.foo = if metadata("request_failed") != null {\n'
                           '  throw(metadata("request_failed"))\n} else {\n  this\n}',
                           "# Retain only the updated metadata fields which were present in the origin message\n"
                           "meta = metadata().filter(v -> @.get(v.key) != null)"),
                 bloblang="mapping"),
    ),
    factory=_factory,
    examples=(
        "# Look a description up in a cache by the document id and store it in the document:\n"
        '#   {"document":{"id":"foo","content":"hello world"}}\n'
        '#   → {"document":{"content":"hello world","description":"this is a cool doc","id":"foo"}}\n'
        "pipeline:\n  processors:\n    - branch:\n        request_map: 'root = this.document.id'\n"
        "        processors:\n          - cache:\n              resource: descriptions_cache\n"
        "              key: ${! content() }\n              operator: get\n"
        "        result_map: root.document.description = content().string()",
        "# Enrich high-value orders with the customer's email from an HTTP API:\n"
        "pipeline:\n  processors:\n    - branch:\n        request_map: |-\n"
        '          root = {\n            "customer_id": this.customer_id\n          }\n'
        "        processors:\n          - http:\n              url: http://customer-api.local/emails\n"
        "              verb: POST\n        result_map: root.customer_email = this.customer_email",
    ),
))
