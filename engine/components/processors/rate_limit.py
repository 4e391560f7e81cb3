"""The `rate_limit` processor: holds each message until a shared rate limit resource lets it through."""

from __future__ import annotations

import asyncio
from typing import Any

from ... import spec as s
from ...component import Processor
from ...errors import ComponentError
from ...message import Batch
from ...registry import register

# How long to back off when the rate limit itself fails (Bento waits a second and tries again).
ACCESS_FAILURE_DELAY = 1.0


class RateLimitProcessor(Processor):
    def __init__(self, resource: str, limiter: Any) -> None:
        self.resource = resource
        self.limiter = limiter

    async def process_batch(self, batch: Batch) -> Batch:
        # One access per message: a batch of N waits for N tokens. Waiting here slows the
        # whole stream (the bounded queues push back to the input); nothing is dropped.
        access = self.limiter.access
        for _ in batch:
            while True:
                try:
                    wait = await access()
                except Exception as exc:  # noqa: BLE001 - a failing limiter delays, never drops
                    self.log.error('failed to access rate limit "%s": %s', self.resource, exc)
                    wait = ACCESS_FAILURE_DELAY
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
        return batch


def _factory(conf: dict[str, Any], ctx: Any) -> RateLimitProcessor:
    label = conf["resource"]
    try:
        limiter = ctx.rate_limit(label)
    except ComponentError as exc:
        if label in getattr(ctx, "rate_limit_configs", {}):
            raise  # the resource itself is misconfigured; its own location says where
        # No such label: reported by the build with this processor's config path in front.
        text = str(exc)
        prefix = f"{exc.where}: "
        raise ValueError(text[len(prefix):] if text.startswith(prefix) else text) from None
    return RateLimitProcessor(label, limiter)


register(s.ComponentSpec(
    name="rate_limit", kind="processor", category="utility",
    summary="Throttles the pipeline according to a `rate_limit` resource, shared by label across components.",
    description=(
        "Each message waits until the named rate limit grants it an access; the processor never drops "
        "messages. While it waits, the stream's bounded queues fill and the input is slowed down "
        "(backpressure). Because rate limit resources are shared, every `rate_limit` processor that names "
        "the same resource draws from the same budget, across all streams of the config.\n\n"
        "The resource is declared at the top level of the config under `rate_limit_resources`; naming a "
        "label that is not declared is an error when the stream is built."
    ),
    config=s.obj(
        "rate_limit", "",
        s.string("resource", "The label of the `rate_limit_resources` entry to use.", examples=("foo_ratelimit",)),
    ),
    factory=_factory,
    examples=(
        "rate_limit_resources:\n  - label: foo_ratelimit\n    local:\n      count: 100\n      interval: 1s\n\n"
        "pipeline:\n  processors:\n    - rate_limit:\n        resource: foo_ratelimit",
    ),
))
