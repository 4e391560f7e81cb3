"""The `http_client` output: each message sent as an HTTP request (webhooks), retried as Bento does,
optionally signed with Standard Webhooks headers."""

from __future__ import annotations

from typing import Any

from ... import spec as s
from ...component import Output, PartialDelivery
from ...message import Batch, Message
from ...registry import register
from .._http import encode_multipart
from .._http_client import (
    MetaHeaders,
    RequestFailed,
    RetryPolicy,
    common_fields,
    compile_headers,
    compile_text,
    make_client,
    rate_limiter,
    send_with_retries,
    wait_for_rate_limit,
)
from .._webhooks import WebhookSigner, new_message_id


class HttpClientOutput(Output):
    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.conf = conf
        self.url = compile_text("url", conf["url"])
        if self.url.is_static and not conf["url"].strip():
            raise ValueError("url must not be empty")
        self.verb = conf["verb"].upper()
        self.headers = compile_headers(conf["headers"])
        self.meta_headers = MetaHeaders(conf["metadata"])
        self.policy = RetryPolicy(conf)
        self.batch_as_multipart = conf["batch_as_multipart"]
        self.max_in_flight = conf["max_in_flight"]
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        signing = conf["webhook_signing"]
        self.signer = WebhookSigner(signing["secret"]) if signing.get("secret") else None
        self.id_template = compile_text("webhook_signing.id", signing["id"]) if signing.get("id") else None
        self.rate_limit_label = conf["rate_limit"]
        self.limiter = rate_limiter(conf, ctx)
        self.client: Any = None

    async def connect(self) -> None:
        if self.client is None:
            self.client = make_client(self.conf, self.max_in_flight)

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.aclose()

    # -- requests ------------------------------------------------------------------
    def _headers(self, msg: Message, batch: Batch, index: int) -> list[tuple[str, str]]:
        out = [(name, value.render(msg, batch, index)) for name, value in self.headers]
        out.extend(self.meta_headers.headers(msg))
        return out

    def _url(self, msg: Message, batch: Batch, index: int) -> str:
        url = self.url.render(msg, batch, index)
        if not url:
            raise RequestFailed("the interpolated url is empty")
        return url

    def _message_id(self, msg: Message, batch: Batch, index: int) -> str:
        if self.id_template is not None:
            rendered = self.id_template.render(msg, batch, index)
            if rendered:
                return rendered
        return new_message_id()

    async def _send(self, url: str, headers: list[tuple[str, str]], body: bytes, msg_id: str | None) -> None:
        assert self.client is not None, "http_client output used before connect()"
        client, signer, verb = self.client, self.signer, self.verb

        def build(attempt: int) -> Any:
            extra = list(headers)
            if signer is not None and msg_id is not None:
                # The id stays the same across attempts; the timestamp (and so the signature) is fresh.
                extra.extend(signer.headers(msg_id, body).items())
            return client.build_request(verb, url, headers=extra, content=body)

        before = None
        if self.limiter is not None:
            limiter, log, label = self.limiter, self.log, self.rate_limit_label

            async def before() -> None:
                await wait_for_rate_limit(limiter, log, label)

        response = await send_with_retries(client, self.policy, build, f"{verb} {url}", self.log, before)
        await response.aclose()

    async def write(self, batch: Batch) -> None:
        if not batch:
            return
        if self.batch_as_multipart and len(batch) > 1:
            await self._write_multipart(batch)
            return
        failed: list[Message] = []
        errors: list[str] = []
        # Like Bento: the messages of a batch go one request after another.
        for index, msg in enumerate(batch):
            try:
                msg_id = self._message_id(msg, batch, index) if self.signer is not None else None
                await self._send(self._url(msg, batch, index), self._headers(msg, batch, index), msg.raw, msg_id)
            except RequestFailed as exc:
                failed.append(msg)
                errors.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - e.g. an interpolation failing for this message
                failed.append(msg)
                errors.append(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if failed:
            if len(batch) == 1:
                raise RequestFailed(errors[0])
            raise PartialDelivery(failed, errors, total=len(batch))

    async def _write_multipart(self, batch: Batch) -> None:
        parts = []
        for index, msg in enumerate(batch):
            part_headers = [(name, value) for name, value in self._headers(msg, batch, index)
                            if name.lower() == "content-type"] or [("Content-Type", "application/octet-stream")]
            parts.append((part_headers, msg.raw))
        content_type, body = encode_multipart(parts)
        headers = [(name, value) for name, value in self._headers(batch[0], batch, 0) if name.lower() != "content-type"]
        headers.append(("Content-Type", content_type.decode()))
        msg_id = self._message_id(batch[0], batch, 0) if self.signer is not None else None
        await self._send(self._url(batch[0], batch, 0), headers, body, msg_id)


_DESCRIPTION = """\
Each message is sent as the body of one request (or, with `batch_as_multipart`, a batch as one
multipart request). A request is retried as Bento does: a status in `drop_on` fails at once; one in
`backoff_on` (default 429) is retried after waits growing exponentially from `retry_period` with
jitter, up to `max_retry_backoff`; any other non-2XX status (unless in `successful_on`) or a
connection error is retried after `retry_period`. A `Retry-After` header on a failed response
(seconds or an HTTP date) sets the wait instead (capped at `max_retry_backoff`). After the last of
`retries` retries the message is nacked: redelivered by the input, or taken by a `fallback`
output's next tier as a dead letter. In a batch, only the messages that failed are nacked.

### Webhook signing (AsyncGate extension)

With `webhook_signing.secret` set (`whsec_` followed by the base64 of the key, as Standard Webhooks
issues them), every request carries the [Standard Webhooks](https://www.standardwebhooks.com)
headers `webhook-id` (`msg_<random>` per message, the same for every attempt of that message, or
the rendered `webhook_signing.id`), `webhook-timestamp` (seconds since the epoch, fresh for each
attempt) and `webhook-signature` (`v1,` then the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`).
An id generated here is new when the input redelivers a nacked message; set `webhook_signing.id`
(e.g. from a Kafka offset) for an id that stays the same across redeliveries too.
"""

register(s.ComponentSpec(
    name="http_client", kind="output", category="network",
    summary="Sends messages to an HTTP server (webhooks), with retries and optional Standard Webhooks signing.",
    description=_DESCRIPTION,
    config=s.obj(
        "http_client", "",
        *common_fields("POST"),
        s.unsupported("extract_headers", "Response headers as metadata of propagated responses."),
        s.boolean("batch_as_multipart", "Send message batches as a single request using RFC1341. If disabled "
                                        "messages in batches will be sent as individual requests.", False,
                  advanced=True),
        s.unsupported("propagate_response", "Propagate responses back to the input (not implemented)."),
        s.integer("max_in_flight", "The maximum number of parallel message batches to have in flight at any "
                                   "given time.", 64),
        s.batching_field(),
        s.unsupported("multipart", "Explicit multipart request parts (not implemented)."),
        s.obj("webhook_signing", "AsyncGate extension: sign each request with the Standard Webhooks headers.",
              s.string("secret", "The signing secret, `whsec_` followed by base64. Empty disables signing.", "",
                       examples=("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "${WEBHOOK_SECRET}")),
              s.string("id", "The `webhook-id` of each message; empty means a random `msg_<hex>` made once per "
                             "message (kept across this output's retries).", "", interpolated=True,
                       examples=('msg_${! meta("kafka_partition") }_${! meta("kafka_offset") }',)),
              default={}),
    ),
    factory=lambda conf, ctx: HttpClientOutput(conf, ctx),
    examples=(
        ("output:\n  http_client:\n    url: https://example.com/webhooks\n    headers:\n"
        "      Content-Type: application/json\n    retries: 5\n"
        "    webhook_signing:\n      secret: ${WEBHOOK_SECRET}"),
        ("# Dead letters after the last retry:\noutput:\n  fallback:\n    - http_client:\n"
        "        url: https://example.com/webhooks\n    - file:\n        path: ./dead_letters.jsonl"),
    ),
))
