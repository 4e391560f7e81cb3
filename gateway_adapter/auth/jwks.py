"""The keys published at a JWKS URL, for JWT verification: fetched (httpx, asynchronously) on first use, kept
for TTL seconds, fetched again early when a token names a `kid` the set does not have, but never more than
once per MIN_INTERVAL seconds (a stream of tokens with made-up kids must not turn the gateway into a load
generator against the issuer). When the set cannot be fetched and the cached one is stale, tokens are
refused: an unreachable JWKS never waves a token through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import orjson
from jwt import PyJWKSet

log = logging.getLogger("asyncgate.auth")


class Jwks:
    TTL = 300.0
    MIN_INTERVAL = 10.0
    TIMEOUT = 5.0
    MAX_BYTES = 1 << 20

    def __init__(self, url: str) -> None:
        self.url = url
        self._keys: dict[str | None, Any] = {}  # kid → PyJWK
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._error = "not fetched yet"
        self._task: asyncio.Future[None] | None = None

    async def key(self, kid: str | None, key_type: str) -> Any | str:
        """The PyJWK for KID (of KEY_TYPE: RSA, EC, oct), or why there is none."""
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        now = time.monotonic()
        stale = now - self._fetched_at >= self.TTL
        if (stale or kid not in self._keys) and now - self._attempted_at >= self.MIN_INTERVAL:
            await self._refresh()
            stale = time.monotonic() - self._fetched_at >= self.TTL
        if stale:
            return f"the JWKS at {self.url} cannot be fetched ({self._error})"
        if kid is None:
            if len(self._keys) != 1:
                return "the JWT names no key (kid) and the JWKS holds several"
            (jwk,) = self._keys.values()
        else:
            jwk = self._keys.get(kid)
            if jwk is None:
                return "the JWT's key (kid) is not in the JWKS"
        if jwk.key_type != key_type:
            return f"the JWKS key for the JWT's kid is of type {jwk.key_type}, not {key_type}"
        return jwk

    async def _refresh(self) -> None:
        if self._task is None or self._task.done():
            self._attempted_at = time.monotonic()
            self._task = asyncio.ensure_future(self._fetch())
        await asyncio.shield(self._task)

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.TIMEOUT) as client:
                async with client.stream("GET", self.url, headers={"accept": "application/json"}) as response:
                    if response.status_code != 200:
                        raise ValueError(f"HTTP {response.status_code}")
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self.MAX_BYTES:
                            raise ValueError(f"larger than {self.MAX_BYTES} bytes")
            document = orjson.loads(body)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            keys = PyJWKSet.from_dict(document).keys
        except Exception as exc:  # whatever the issuer sends or fails to send: the tokens are refused
            self._error = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("JWKS %s cannot be fetched: %s", self.url, self._error)
            return
        self._keys = {jwk.key_id: jwk for jwk in keys}
        self._fetched_at = time.monotonic()
        self._error = ""
        log.info("JWKS %s fetched: %d key(s)", self.url, len(self._keys))
