"""Small pure-ASGI middleware of the gateway app."""

from __future__ import annotations

import hmac
import logging

from engine.runtime.http import ASGIApp, Receive, Scope, Send

from .gateway import Gateway
from .problems import deny

log = logging.getLogger("asyncgate.gateway")


class LazyStart:
    """Starts the gateway on its first request when no lifespan started it.

    A Starlette/FastAPI app does not run the lifespan of an app mounted inside it; pass `gateway.lifespan`
    to the host app so the streams start with it and stop (draining) with it. Without that, this starts
    them on the first request, and nothing stops them before the process ends."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self.gateway
        if scope["type"] in ("http", "websocket") and not gateway.started and not gateway.stopped:
            if not self._warned:
                self._warned = True
                log.warning("the gateway was not started by a lifespan: starting its streams on the first "
                            "request; pass gateway.lifespan to the host app to start and stop them with it")
            try:
                await gateway.start()
            except Exception as exc:  # a request cannot fix it; say what is wrong
                log.error("the gateway cannot start: %s", exc)
                await deny(scope, receive, send, 500, "Internal Server Error", f"the gateway cannot start: {exc}",
                           close_code=1011)
                return
        await self.app(scope, receive, send)


class BearerAuth:
    """Lets a request through only with `Authorization: Bearer <secret>`: 401 without a bearer token,
    403 with a wrong one. Compared in constant time; the secret is never logged."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        if not secret:
            raise ValueError("BearerAuth needs a secret")
        self.app = app
        self._secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = b""
        for name, value in scope.get("headers") or []:
            if name.lower() == b"authorization":
                header = value
                break
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            await deny(scope, receive, send, 401, "Unauthorized",
                       "the management API needs an `Authorization: Bearer <admin secret>` header",
                       headers=[(b"www-authenticate", b'Bearer realm="asyncgate-admin"')])
            return
        if not hmac.compare_digest(token, self._secret):
            await deny(scope, receive, send, 403, "Forbidden", "the admin secret is not valid")
            return
        await self.app(scope, receive, send)
