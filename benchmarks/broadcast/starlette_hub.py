"""The hand-written baseline: a Starlette WebSocket hub, one asyncio.Queue per client, served by Hypercorn on
uvloop like the gateway. A producer task puts the same payloads into every client's queue (broadcast) or
into the next client's queue in turn (round_robin); each client's handler sends what its queue holds, one
`send_bytes` per message.

    python -m benchmarks.broadcast.starlette_hub --port P --mode broadcast|round_robin
"""

from __future__ import annotations

import argparse
import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .producer import parse_start, produce


def create_app(mode: str) -> Starlette:
    queues: list[asyncio.Queue[bytes]] = []
    tasks: set[asyncio.Task[None]] = set()
    rotation = 0

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        queues.append(queue)

        async def sender() -> None:
            while True:
                await websocket.send_bytes(await queue.get())

        task = asyncio.ensure_future(sender())
        try:
            while True:
                if (await websocket.receive())["type"] == "websocket.disconnect":
                    break
        except WebSocketDisconnect:
            pass
        finally:
            task.cancel()
            queues.remove(queue)

    def broadcast(p: bytes) -> None:
        for q in queues:
            q.put_nowait(p)

    def round_robin(p: bytes) -> None:
        nonlocal rotation
        queues[rotation % len(queues)].put_nowait(p)
        rotation += 1

    async def start(request: Request) -> PlainTextResponse:
        count, interval, batch = parse_start(request.url.query)
        task = asyncio.ensure_future(produce(count, interval, batch,
                                             broadcast if mode == "broadcast" else round_robin))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return PlainTextResponse("started\n")

    return Starlette(routes=[WebSocketRoute("/ws", ws), Route("/start", start, methods=["POST"])])


async def serve(port: int, mode: str) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    await hypercorn_serve(create_app(mode), config)  # type: ignore[arg-type]


if __name__ == "__main__":
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("broadcast", "round_robin"), required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.mode))
