"""Embedding the AsyncGate gateway in your own Starlette (or FastAPI) application.

    .venv/bin/python examples/embed_starlette.py          # serves http://127.0.0.1:8000 (PORT to change)
    curl http://127.0.0.1:8000/                            # a route of the host app
    curl -N http://127.0.0.1:8000/gw/clock/sse             # the gateway's API, mounted under /gw
    curl -d hello http://127.0.0.1:8000/gw/clock/say       # goes to every subscriber

`create_app(...)` returns an ASGI app; mount it anywhere. Starlette does not run the lifespan of a
mounted app, so the host passes the gateway's lifespan on: the API's streams start with the host app
and stop with it (draining what is in flight, closing clients with 1001). With FastAPI it is the same:
`FastAPI(lifespan=lifespan)` and `app.mount("/gw", gateway_app)`.
"""

from __future__ import annotations

import contextlib
import os
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from gateway_adapter import create_app, load_api_text

# An API definition (usually a file: create_app(apis=["apis/"])): a clock every 500ms and whatever is
# POSTed to /say, to every subscriber of /clock/sse and /clock/ws.
API = """
openapi: 3.0.3
info: {title: clock, version: 1.0.0}
x-tyk-api-gateway:
  info: {id: clock, name: clock, state: {active: true}}
  server: {listenPath: {value: /clock/, strip: true}}
x-tyk-streaming:
  streams:
    clock:
      input:
        broker:
          inputs:
            - generate: {interval: 500ms, mapping: 'root = {"now": now()}'}
            - inproc: clock_said
      output:
        http_server: {stream_path: /sse, stream_format: event_source, ws_path: /ws, path: "", fan_out: broadcast}
    say:
      input: {http_server: {path: /say, ws_path: ""}}
      pipeline: {processors: [{mapping: 'root = {"said": content().string()}'}]}
      output: {inproc: clock_said}
"""

gateway_app = create_app(apis=[load_api_text(API, "clock-api.yaml")])
gateway = gateway_app.state.gateway


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # ... the host app's own startup ...
    async with gateway.lifespan(app):  # the gateway's streams run while the host app runs
        yield
    # ... the host app's own shutdown ...


async def home(request: Request) -> JSONResponse:
    return JSONResponse({"app": "host", "gateway": "/gw", "streams": len(gateway.instances())})


app = Starlette(routes=[Route("/", home), Mount("/gw", app=gateway_app)], lifespan=lifespan)


if __name__ == "__main__":
    import asyncio

    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
    config.accesslog = "-"
    uvloop.install()
    asyncio.run(serve(app, config))  # Ctrl-C / SIGTERM: the lifespan stops the gateway
