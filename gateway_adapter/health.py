"""`GET /healthz` (the process is up) and `GET /readyz` (every active API's streams are connected)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .gateway import Gateway


def _json(value: object, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


def health_endpoints(gateway: Gateway) -> tuple:  # type: ignore[type-arg]
    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        waiting = gateway.not_ready()
        if waiting:
            return _json({"status": "not ready", "waiting_for": waiting}, 503)
        return _json({"status": "ready", "apis": sum(1 for r in gateway.apis.values() if r.api.active)})

    return healthz, readyz
