from __future__ import annotations

import json
from typing import Any

from engine.bloblang import compile_mapping
from engine.message import Message


def run(mapping: str, doc: Any = None, meta: dict[str, Any] | None = None, raw: bytes | None = None) -> Any:
    """Apply a mapping to a JSON document; returns the output decoded as JSON (or text)."""
    payload = raw if raw is not None else json.dumps({} if doc is None else doc).encode()
    out = compile_mapping(mapping).apply(Message(payload, meta))
    if out is None:
        return None
    try:
        return json.loads(out.raw)
    except ValueError:
        return out.raw.decode()


def value(expr: str, doc: Any = None) -> Any:
    """The value of one expression, via `root.v = <expr>`."""
    return run(f"root.v = {expr}", doc)["v"]
