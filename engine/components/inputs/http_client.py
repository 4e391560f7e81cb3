"""The `http_client` input: polls an HTTP endpoint, each response body a message (or, in stream
mode, each line of one long response)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from ... import spec as s
from ...component import AckFn, EndOfInput, Input, noop_ack
from ...message import Batch, Message
from ...registry import register
from .._http import split_multipart
from .._http_client import (
    MetaHeaders,
    RetryPolicy,
    common_fields,
    compile_headers,
    compile_text,
    make_client,
    metadata_filter_field,
    rate_limiter,
    send_with_retries,
    wait_for_rate_limit,
)

STREAM_RECONNECT_MAX = 30.0


class HttpClientInput(Input):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.conf = conf
        if not conf["url"].strip():
            raise ValueError("url must not be empty")
        self.url = compile_text("url", conf["url"])
        self.verb = conf["verb"].upper()
        self.headers = compile_headers(conf["headers"])
        self.meta_headers = MetaHeaders(conf["metadata"])
        self.extract = MetaHeaders(conf["extract_headers"], "extract_headers")
        self.payload = compile_text("payload", conf["payload"]) if conf["payload"] else None
        self.policy = RetryPolicy(conf)
        self.drop_empty = conf["drop_empty_bodies"]
        self.poll_interval = conf["poll_interval"] or 0.0
        self.rate_limit_label = conf["rate_limit"]
        self.limiter = rate_limiter(conf, ctx)
        stream = conf["stream"]
        self.streaming = stream["enabled"]
        self.reconnect = stream["reconnect"]
        scanner = stream["scanner"]
        if self.streaming and not (isinstance(scanner, dict) and list(scanner) == ["lines"]):
            raise ValueError("stream.scanner: only the `lines` scanner is supported")
        # Without replays a nacked message is dropped (Bento's auto_replay_nacks: false).
        self.supports_nack = not conf["auto_replay_nacks"]
        self.client: httpx.AsyncClient | None = None
        self._last = Message(b"")
        self._next_poll = 0.0
        self._response: httpx.Response | None = None
        self._meta: dict[str, Any] = {}
        self._lines: Any = None
        self._stream_failures = 0

    async def connect(self) -> None:
        if self.client is None:
            self.client = make_client(self.conf, 2)

    async def close(self) -> None:
        await self._close_stream()
        if self.client is not None:
            client, self.client = self.client, None
            await client.aclose()

    # -- requests ------------------------------------------------------------------
    def _build(self, attempt: int) -> httpx.Request:
        assert self.client is not None, "http_client input used before connect()"
        last, batch = self._last, [self._last]
        url = self.url.render(last, batch, 0)
        headers = [(name, value.render(last, batch, 0)) for name, value in self.headers]
        headers.extend(self.meta_headers.headers(last))
        body = self.payload.render(last, batch, 0).encode() if self.payload is not None else None
        return self.client.build_request(self.verb, url, headers=headers, content=body)

    def _describe(self) -> str:
        return f"{self.verb} {self.url.render(self._last, [self._last], 0)}"

    async def _before(self) -> None:
        if self.limiter is not None:
            await wait_for_rate_limit(self.limiter, self.log, self.rate_limit_label)

    def _metadata(self, response: httpx.Response) -> dict[str, Any]:
        meta: dict[str, Any] = {"http_status_code": response.status_code}
        if self.extract:
            for key, value in response.headers.items():  # httpx gives the keys lower case, as Bento matches them
                if self.extract.matches(key):
                    meta.setdefault(key, value)
        return meta

    async def read(self) -> tuple[Batch, AckFn]:
        if self.streaming:
            return await self._read_line()
        assert self.client is not None, "http_client input used before connect()"
        loop = asyncio.get_running_loop()
        while True:
            if self.poll_interval:
                wait = self._next_poll - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_poll = loop.time() + self.poll_interval
            response = await send_with_retries(self.client, self.policy, self._build, self._describe(), self.log,
                                               self._before)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            if not body and self.drop_empty:
                continue
            meta = self._metadata(response)
            try:
                parts = split_multipart(body, response.headers.get("content-type", ""))
            except ValueError:
                parts = None
            if parts is None:
                batch = [Message(body, meta)]
            else:
                batch = [Message(payload, dict(meta)) for _, payload in parts]
                if self.drop_empty:
                    batch = [m for m in batch if m.raw]
                if not batch:
                    continue
            self._last = batch[-1]
            return batch, noop_ack

    # -- stream mode ---------------------------------------------------------------
    async def _open_stream(self) -> None:
        assert self.client is not None, "http_client input used before connect()"
        response = await send_with_retries(self.client, self.policy, self._build, self._describe(), self.log,
                                           self._before, stream=True)
        self._response = response
        self._meta = self._metadata(response)
        self._lines = response.aiter_lines()

    async def _close_stream(self) -> None:
        if self._response is not None:
            response, self._response, self._lines = self._response, None, None
            await response.aclose()

    async def _read_line(self) -> tuple[Batch, AckFn]:
        while True:
            if self._lines is None:
                # A failure here is raised: the stream logs it and reads again after a backoff.
                await self._open_stream()
                if self._stream_failures:
                    self.log.info("%s: stream reconnected", self.where)
                self._stream_failures = 0
            try:
                line = await self._lines.__anext__()
            except (StopAsyncIteration, httpx.HTTPError) as exc:
                await self._close_stream()
                if not self.reconnect:
                    raise EndOfInput from None
                self._stream_failures += 1
                self.log.warning("%s: stream ended (%s); reconnecting", self.where,
                                 type(exc).__name__ if isinstance(exc, httpx.HTTPError) else "end of body")
                await asyncio.sleep(min(self.policy.retry_period, STREAM_RECONNECT_MAX))
                continue
            if not line and self.drop_empty:
                continue
            msg = Message(line.encode(), dict(self._meta))
            self._last = msg
            return [msg], noop_ack


_DESCRIPTION = """\
Without `stream.enabled`, each request's response body becomes a message (a multipart response a
batch, one message per part), with the metadata `http_status_code` and the response headers that
`extract_headers` selects (keys lower case). Requests follow one another as fast as the responses
come, as in Bento: throttle them with `rate_limit` (a rate limit resource) or with AsyncGate's
`poll_interval` (the least time between the starts of two polls). A failed request is retried as
the `http_client` output's are (`retries`, `retry_period`, `backoff_on`, `drop_on`,
`successful_on`, `Retry-After`); when the retries run out the error is logged and polling goes on
after a backoff.

The `url`, `headers` and `payload` interpolations see the last message consumed (basic pagination).

With `stream.enabled`, one request is kept open and each line of its body is a message (only the
`lines` scanner is supported); with `stream.reconnect` the request is made again when the body
ends or breaks, otherwise the input ends.

Nothing is redelivered by the server: a nacked message is re-sent by AsyncGate
(`auto_replay_nacks: true`) or dropped (`false`).
"""

register(s.ComponentSpec(
    name="http_client", kind="input", category="network",
    summary="Connects to a server and continuously performs requests for a single message.",
    description=_DESCRIPTION,
    config=s.obj(
        "http_client", "",
        *common_fields("GET"),
        metadata_filter_field("extract_headers", "Which response headers are added to messages as metadata "
                                                 "(header keys are lower case before matching).", advanced=True),
        s.string("payload", "An optional payload to deliver for each request.", "", interpolated=True,
                 advanced=True),
        s.boolean("drop_empty_bodies", "Whether empty payloads received from the target server should be dropped.",
                  True, advanced=True),
        s.obj("stream", "Streaming mode: the request is kept open and its body read line by line.",
              s.boolean("enabled", "Enables streaming mode.", False),
              s.boolean("reconnect", "Sets whether to re-establish the connection once it is lost.", True),
              s.Field("scanner", "any", "How the body is cut into messages; only `lines` is supported.",
                      default={"lines": {}}),
              default={}),
        s.boolean("auto_replay_nacks", "Whether messages that are rejected (nacked) at the output level should be "
                                       "automatically replayed indefinitely. If false they are dropped.", True),
        s.duration("poll_interval", "AsyncGate extension: the least time between the starts of two requests "
                                    "(empty: none, as Bento, which relies on `rate_limit`).", "",
                   examples=("1s", "30s")),
    ),
    factory=lambda conf, ctx: HttpClientInput(conf, ctx),
    examples=(
        "input:\n  http_client:\n    url: https://example.com/api/status\n    poll_interval: 10s",
        "input:\n  http_client:\n    url: https://example.com/events\n    stream:\n      enabled: true",
    ),
))
