"""Logging to stderr in logfmt or JSON, as the config's `logger` block asks."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_LEVELS = {"OFF": logging.CRITICAL + 10, "FATAL": logging.CRITICAL, "ERROR": logging.ERROR,
           "WARN": logging.WARNING, "INFO": logging.INFO, "DEBUG": logging.DEBUG,
           "TRACE": logging.DEBUG, "ALL": logging.DEBUG}

# Bento's level names.
_LEVEL_NAMES = {logging.CRITICAL: "fatal", logging.ERROR: "error", logging.WARNING: "warn", logging.INFO: "info",
                logging.DEBUG: "debug"}


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str, timestamps: bool) -> None:
        super().__init__()
        self.fmt = fmt
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if self.timestamps:
            fields["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z"
        fields["level"] = _LEVEL_NAMES.get(record.levelno) or record.levelname.lower()
        fields["msg"] = record.getMessage()
        if record.name != "asyncgate":
            fields["path"] = record.name.removeprefix("asyncgate.")
        extra = getattr(record, "fields", None)  # structured fields, e.g. from the `log` processor
        if isinstance(extra, dict):
            for key, value in extra.items():
                fields.setdefault(str(key), value)
        if self.fmt == "json":
            return orjson.dumps(fields, default=str).decode()
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items())


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    if not text or any(c in text for c in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def configure(level: str = "INFO", fmt: str = "logfmt", timestamps: bool = False) -> logging.Logger:
    logger = logging.getLogger("asyncgate")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(fmt, timestamps))
    logger.addHandler(handler)
    logger.setLevel(_LEVELS.get(level.upper(), logging.INFO))
    logger.propagate = False
    return logger
