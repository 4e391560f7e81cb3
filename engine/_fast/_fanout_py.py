"""The broadcast dispatch loop of the http_server output's writer (pure-Python twin of _fanout.pyx)."""

from __future__ import annotations

from typing import Any


def dispatch(subscribers: list[Any], data: bytes, count: int) -> tuple[int, list[Any], list[Any], list[Any]]:
    # Keep in step with _fanout.pyx (the twin tests hold them equal).
    written = 0
    skipped: list[Any] = []
    refused: list[Any] = []
    failed: list[Any] = []
    for sub in subscribers:
        if sub.buffer is not None or sub.window is not None:
            skipped.append(sub)
            continue
        try:
            ok = sub.write(data)
        except Exception:  # noqa: BLE001 - a connection that cannot be written to is gone, whatever the error
            failed.append(sub)
            continue
        if ok:
            sub.delivered += count
            sub.bytes_written += len(data)
            written += 1
        else:
            refused.append(sub)
    return written, skipped, refused, failed
