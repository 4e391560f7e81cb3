"""The `sync_response` output: the processed message answers the request it came from."""

from __future__ import annotations

from ... import spec as s
from ...component import Output
from ...message import Batch
from ...registry import register


class SyncResponseOutput(Output):
    async def write(self, batch: Batch) -> None:
        for msg in batch:
            reply = msg.reply
            if reply is not None:
                reply.add(msg)


register(s.ComponentSpec(
    name="sync_response", kind="output", category="utility",
    summary="Returns the final message payload back to the input origin of the message, where it is dealt "
            "with according to that specific input type.",
    description=(
        "For most inputs this mechanism is ignored entirely, in which case the sync response is dropped "
        "without penalty (and the message acknowledged). It is therefore safe to use this output even when "
        "combining input types that might not have support for sync responses. An input able to use it is "
        "`http_server`: the HTTP response to a POST is the message as it reaches this output (several "
        "messages: a multipart response), sent once the whole batch was delivered; over its websocket the "
        "response is sent back on the socket.\n\n"
        "It is safe to combine this output with others using broker types: with `broker: {pattern: fan_out}` "
        "the message can go to Kafka and back to the client at once. The link between a message and its "
        "request survives processors, including `mapping`, which builds new messages."),
    config=s.obj("sync_response", "", default={}, allow_scalar=True),
    factory=lambda conf, ctx: SyncResponseOutput(),
    examples=(
        "# Pass each message on (here to another stream) and answer the client with it, uppercased:\n"
        "output:\n  broker:\n    pattern: fan_out\n    outputs:\n      - inproc: jobs\n"
        "      - sync_response: {}\n        processors:\n"
        "          - mapping: 'root = content().uppercase()'",
    ),
))
