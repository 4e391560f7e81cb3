"""The baseline: a bare Starlette endpoint that reads the request body and answers 200 with an empty body
(as the gateway's `http_server` input does), served by Hypercorn on uvloop like the gateway, one worker.

    python -m benchmarks.post_ingest.bare --port P
"""

from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def publish(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


def create_app() -> Starlette:
    return Starlette(routes=[Route("/ingest/publish", publish, methods=["POST"])])


async def serve(port: int) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    await hypercorn_serve(create_app(), config)  # type: ignore[arg-type]


if __name__ == "__main__":
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))
