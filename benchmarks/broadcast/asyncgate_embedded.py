"""The gateway embedded: the app of `gateway_adapter.create_app(...)` served by plain Hypercorn on uvloop,
as someone else's ASGI server would serve it (no `asyncgate serve`, hence no server extension: the pure-ASGI
path, one `websocket.send` per message per client). Same API and producer as asyncgate.py.

    python -m benchmarks.broadcast.asyncgate_embedded --port P --mode broadcast|round_robin
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .asyncgate import BENCH_API, SECRET


async def serve(port: int, mode: str) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from gateway_adapter import create_app

    api = Path(tempfile.mkdtemp(prefix="asyncgate-bench-")) / "bench.yaml"
    api.write_text(BENCH_API.format(mode=mode))
    app = create_app(apis=[str(api)], admin_secret=SECRET)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    await hypercorn_serve(app, config)  # type: ignore[arg-type]


if __name__ == "__main__":
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("broadcast", "round_robin"), required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.mode))
