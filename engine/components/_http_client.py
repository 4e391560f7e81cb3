"""What the `http_client` input and output share: the Bento fields, the httpx client, which
metadata becomes request headers, and the retry policy (Bento's `successful_on` / `backoff_on` /
`drop_on`, `retry_period`, `max_retry_backoff`, plus `Retry-After`)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .. import spec as s
from ..message import Message

# Bento (cenkalti/backoff defaults): each `backoff_on` wait is 1.5× the previous, ±50% at random.
BACKOFF_MULTIPLIER = 1.5
BACKOFF_RANDOMISATION = 0.5
# How long to wait after a rate limit itself failed (as the rate_limit processor does).
RATE_LIMIT_FAILURE_DELAY = 1.0


# -- spec ----------------------------------------------------------------------
def metadata_filter_field(name: str, description: str, **kw: Any) -> s.Field:
    return s.obj(
        name, description,
        s.Field("include_prefixes", "string", "Provide a list of explicit metadata key prefixes to match against.",
                default=[], kind="list", examples=(["foo_", "bar_"], ["kafka_"], ["content-"])),
        s.Field("include_patterns", "string", "Provide a list of explicit metadata key regular expression "
                                              "patterns to match against.",
                default=[], kind="list", examples=([".*"], ["_timestamp_unix$"])),
        default={}, **kw)


def common_fields(verb: str) -> list[s.Field]:
    """The fields Bento's http_client input and output share (in Bento's order)."""
    return [
        s.string("url", "The URL to connect to.", interpolated=True,
                 examples=("http://localhost:4195/post", 'https://example.com/hooks/${! meta("tenant") }')),
        s.string("verb", "A verb to connect with.", verb, examples=("POST", "GET", "DELETE")),
        s.Field("headers", "string", "A map of headers to add to the request; values are interpolated.",
                default={}, kind="map", interpolated=True,
                examples=({"Content-Type": "application/octet-stream",
                           "traceparent": "${! tracing_span().traceparent }"},)),
        metadata_filter_field("metadata", "Which metadata keys are added to the request as headers.",
                              advanced=True),
        s.unsupported("dump_request_log_level"),
        s.unsupported("oauth", "OAuth 1 request signing (not implemented: use `headers`)."),
        s.unsupported("oauth2", "OAuth 2 client credentials (not implemented: use `headers`)."),
        s.obj("basic_auth", "Allows you to specify basic authentication.",
              s.boolean("enabled", "Whether to use basic authentication in requests.", False),
              s.string("username", "A username to authenticate as.", ""),
              s.string("password", "A password to authenticate with.", ""),
              default={}, advanced=True),
        s.unsupported("jwt"),
        s.unsupported("tls", "Custom TLS settings (not implemented: the system's trust store is used)."),
        s.string("rate_limit", "An optional rate limit resource (label) to throttle requests by.", "",
                 advanced=True),
        s.duration("timeout", "A static timeout to apply to requests.", "5s"),
        s.duration("retry_period", "The base period to wait between failed requests.", "1s", advanced=True),
        s.duration("max_retry_backoff", "The maximum period to wait between failed requests.", "300s",
                   advanced=True),
        s.integer("retries", "The maximum number of retry attempts to make.", 3, advanced=True),
        s.boolean("follow_redirects", "Whether or not to transparently follow redirects (3xx responses).", True,
                  advanced=True),
        s.Field("backoff_on", "int", "Status codes whereby the request should be considered to have failed and "
                                     "retries should be attempted, with the period between them increased "
                                     "gradually (exponentially, with jitter, up to `max_retry_backoff`).",
                default=[429], kind="list", advanced=True),
        s.Field("drop_on", "int", "Status codes whereby the request should be considered to have failed but "
                                  "retries should not be attempted. The _request_ is dropped, the _message_ "
                                  "is not: it is nacked.",
                default=[], kind="list", advanced=True),
        s.Field("successful_on", "int", "Status codes whereby the attempt should be considered successful "
                                        "(e.g. 303 or 409). All 2XX codes are successful unless they are listed "
                                        "in `backoff_on` or `drop_on`.",
                default=[], kind="list", advanced=True),
        s.string("proxy_url", "An optional HTTP proxy URL.", "", advanced=True),
        s.unsupported("transport"),
    ]


# -- pieces built from the config --------------------------------------------------
class MetaHeaders:
    """Which metadata keys become request headers (`include_prefixes` / `include_patterns`)."""

    def __init__(self, conf: dict[str, Any], field: str = "metadata") -> None:
        self.prefixes: list[str] = list(conf["include_prefixes"])
        try:
            self.patterns = [re.compile(p) for p in conf["include_patterns"]]
        except re.error as exc:
            raise ValueError(f"{field}.include_patterns: {exc}") from None

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.patterns)

    def matches(self, key: str) -> bool:
        return any(key.startswith(p) for p in self.prefixes) or any(p.search(key) for p in self.patterns)

    def headers(self, msg: Message) -> list[tuple[str, str]]:
        if not (self.prefixes or self.patterns) or not msg.has_meta:
            return []
        return [(key, value if isinstance(value, str) else _text(value))
                for key, value in msg.meta.items() if self.matches(key)]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    from ..message import encode_value

    return encode_value(value).decode("utf-8", "replace")


def compile_headers(conf: dict[str, Any]) -> list[tuple[str, Any]]:
    from ..bloblang import ParseError, compile_interpolation

    out = []
    for name, value in (conf or {}).items():
        try:
            out.append((str(name), compile_interpolation(str(value))))
        except ParseError as exc:
            raise ValueError(f"headers.{name}: line {exc.line} column {exc.column}: {exc.explanation}") from None
    return out


def compile_text(name: str, text: str) -> Any:
    from ..bloblang import ParseError, compile_interpolation

    try:
        return compile_interpolation(text)
    except ParseError as exc:
        raise ValueError(f"{name}: line {exc.line} column {exc.column}: {exc.explanation}") from None


def make_client(conf: dict[str, Any], connections: int) -> httpx.AsyncClient:
    auth = None
    basic = conf.get("basic_auth") or {}
    if basic.get("enabled"):
        auth = httpx.BasicAuth(basic.get("username", ""), basic.get("password", ""))
    timeout = conf["timeout"] or None
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=conf["follow_redirects"],
        auth=auth,
        proxy=conf.get("proxy_url") or None,
        limits=httpx.Limits(max_connections=max(1, connections), max_keepalive_connections=max(1, connections)),
    )


def rate_limiter(conf: dict[str, Any], ctx: Any) -> Any:
    label = conf.get("rate_limit") or ""
    if not label:
        return None
    from ..errors import ComponentError

    try:
        return ctx.rate_limit(label)
    except ComponentError as exc:
        if label in getattr(ctx, "rate_limit_configs", {}):
            raise
        text, prefix = str(exc), f"{exc.where}: "
        raise ValueError(text.removeprefix(prefix)) from None


async def wait_for_rate_limit(limiter: Any, log: logging.Logger, label: str) -> None:
    while True:
        try:
            wait = await limiter.access()
        except Exception as exc:  # noqa: BLE001 - a failing limiter delays, never drops
            log.error('failed to access rate limit "%s": %s', label, exc)
            wait = RATE_LIMIT_FAILURE_DELAY
        if wait <= 0:
            return
        await asyncio.sleep(wait)


# -- retries --------------------------------------------------------------------------
SUCCESS, DROP, BACKOFF, RETRY = "success", "drop", "backoff", "retry"


class RequestFailed(Exception):
    """Every attempt of a request failed (or the server's status was in `drop_on`)."""

    def __init__(self, text: str, status: int | None = None) -> None:
        super().__init__(text)
        self.status = status


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        import datetime as _dt

        when = when.replace(tzinfo=_dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryPolicy:
    def __init__(self, conf: dict[str, Any]) -> None:
        self.retries = conf["retries"]
        if self.retries < 0:
            raise ValueError(f"retries must not be negative, got {self.retries}")
        self.retry_period = conf["retry_period"]
        self.max_backoff = conf["max_retry_backoff"]
        self.successful_on = frozenset(conf["successful_on"])
        self.backoff_on = frozenset(conf["backoff_on"])
        self.drop_on = frozenset(conf["drop_on"])

    def classify(self, status: int) -> str:
        """As Bento: drop_on, then backoff_on, then successful_on, then 2XX is success, anything else retries."""
        if status in self.drop_on:
            return DROP
        if status in self.backoff_on:
            return BACKOFF
        if status in self.successful_on or 200 <= status <= 299:
            return SUCCESS
        return RETRY

    def delay(self, kind: str, backoffs: int, retry_after: float | None) -> float:
        """How long to wait before the next attempt. A server's Retry-After wins (capped at max_retry_backoff);
        `backoff_on` statuses grow exponentially with jitter; other failures wait `retry_period`."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        if kind == BACKOFF:
            interval = self.retry_period * (BACKOFF_MULTIPLIER ** backoffs)
            low, high = interval * (1 - BACKOFF_RANDOMISATION), interval * (1 + BACKOFF_RANDOMISATION)
            return min(random.uniform(low, high), self.max_backoff)
        return self.retry_period


async def send_with_retries(client: httpx.AsyncClient, policy: RetryPolicy, build: Callable[[int], httpx.Request],
                            describe: str, log: logging.Logger,
                            before_attempt: Callable[[], Awaitable[None]] | None = None,
                            stream: bool = False) -> httpx.Response:
    """Send the request BUILD(attempt) makes (afresh for each attempt: headers such as a signature's
    timestamp change) until it succeeds, fails for good or the retries run out; RequestFailed then.
    With STREAM the successful response's body is left unread (the caller closes the response)."""
    backoffs = 0
    attempt = 0
    while True:
        if before_attempt is not None:
            await before_attempt()
        request = build(attempt)
        retry_after: float | None = None
        status: int | None = None
        try:
            response = await client.send(request, stream=stream)
        except httpx.HTTPError as exc:
            kind = RETRY
            reason = f"{describe}: {type(exc).__name__}: {exc}" if str(exc) else f"{describe}: {type(exc).__name__}"
        else:
            status = response.status_code
            kind = policy.classify(status)
            if kind == SUCCESS:
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            reason = f"{describe}: HTTP {status} {response.reason_phrase}".rstrip()
            await response.aclose()
            if kind == DROP:
                raise RequestFailed(f"{reason} (a drop_on status: not retried)", status)
        if attempt >= policy.retries:
            attempts = attempt + 1
            raise RequestFailed(f"{reason} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})", status)
        wait = policy.delay(kind, backoffs, retry_after)
        if kind == BACKOFF:
            backoffs += 1
        log.debug("%s; retrying in %.2fs (attempt %d of %d)", reason, wait, attempt + 2, policy.retries + 1)
        attempt += 1
        if wait > 0:
            await asyncio.sleep(wait)
