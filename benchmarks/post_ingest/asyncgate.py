"""The gateway as `asyncgate serve` runs it (Hypercorn on uvloop, one worker): an API with API-key
authentication (a header key, created through the management API by the scenario) and a rate limit far
above any rate reached here, so the limiter counts every request and refuses none; its stream takes the
POSTed bodies (`http_server` input) into a `drop` output.

    python -m benchmarks.post_ingest.asyncgate --port P [--open]

--open: the same API without authentication and rate limit, to show what those cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

SECRET = "bench-secret"
API_ID = "ingest"
PATH = "/ingest/publish"
NEVER_REFUSING = 1_000_000_000  # requests per second: the limiter runs, and never refuses

INGEST_API = f"""\
openapi: 3.0.3
info: {{title: ingest, version: 1.0.0}}
paths: {{}}
components:
  securitySchemes:
    authToken: {{type: apiKey, in: header, name: Authorization}}
security:
  - authToken: []
x-tyk-api-gateway:
  info: {{id: {API_ID}, name: ingest, state: {{active: true}}}}
  server:
    listenPath: {{value: /ingest/, strip: true}}
    authentication:
      enabled: true
      securitySchemes: {{authToken: {{enabled: true}}}}
  upstream:
    rateLimit: {{enabled: true, requests: {NEVER_REFUSING}, per: 1s}}
x-tyk-streaming:
  streams:
    ingest:
      input: {{http_server: {{path: /publish}}}}
      output: {{drop: {{}}}}
"""

# The key the scenario creates: its own rate limit too (also never reached), so both counters are hit.
KEY_BODY = {"alias": "bench", "rate": NEVER_REFUSING, "per": 1, "access_rights": {API_ID: {"api_id": API_ID}}}


def open_api() -> str:
    """INGEST_API without its authentication and rate limit."""
    text = INGEST_API.replace("security:\n  - authToken: []\n", "").replace("enabled: true", "enabled: false")
    assert "authToken: []" not in text and "enabled: true" not in text
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--open", action="store_true", help="no authentication, no rate limit")
    args = parser.parse_args()
    api = Path(tempfile.mkdtemp(prefix="asyncgate-bench-")) / "ingest.yaml"
    api.write_text(open_api() if args.open else INGEST_API)
    os.environ["ASYNCGATE_ADMIN_SECRET"] = SECRET
    from engine.cli import main as cli

    sys.exit(cli(["serve", "--apis", str(api), "--port", str(args.port), "--log-level", "error"]))


if __name__ == "__main__":
    main()
