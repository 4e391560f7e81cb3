"""The `log` processor: prints a log event for each message, leaving the messages untouched."""

from __future__ import annotations

import logging
from typing import Any

from ... import spec as s
from ...bloblang import BloblangError, compile_interpolation, compile_mapping
from ...component import Processor
from ...message import Batch
from ...registry import register

LEVELS = {"FATAL": logging.CRITICAL, "ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO,
          "DEBUG": logging.DEBUG, "TRACE": logging.DEBUG, "ALL": logging.DEBUG}


class LogProcessor(Processor):
    def __init__(self, level: str, message: str, fields_mapping: str | None) -> None:
        self.level = LEVELS[level.upper()]
        try:
            self.message = compile_interpolation(message)
        except BloblangError as exc:
            raise ValueError(f"message: {exc}") from None
        self.fields_mapping = None
        if fields_mapping:
            try:
                self.fields_mapping = compile_mapping(fields_mapping)
            except BloblangError as exc:
                raise ValueError(f"fields_mapping: {exc}") from None

    async def process_batch(self, batch: Batch) -> Batch:
        log = self.log
        if not log.isEnabledFor(self.level):
            return batch
        for index, msg in enumerate(batch):
            fields: dict[str, Any] | None = None
            if self.fields_mapping is not None:
                try:
                    result = self.fields_mapping.apply(msg, batch, index)
                    value = result.structured if result is not None else {}
                except Exception as exc:  # noqa: BLE001 - a log line that cannot be built is logged, never fatal
                    log.error("failed to execute fields mapping: %s", exc)
                    continue
                if not isinstance(value, dict):
                    log.error("fields mapping yielded a non-object result: %s", type(value).__name__)
                    continue
                fields = value
            try:
                text = self.message.render(msg, batch, index)
            except Exception as exc:  # noqa: BLE001 - a log line that cannot be built is logged, never fatal
                log.error("message interpolation error: %s", exc)
                continue
            if fields:
                log.log(self.level, "%s", text, extra={"fields": fields})
            else:
                log.log(self.level, "%s", text)
        return batch


def _factory(conf: dict[str, Any], ctx: Any) -> LogProcessor:
    return LogProcessor(conf["level"], conf["message"], conf.get("fields_mapping"))


_LEVEL_NAMES = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL")

register(s.ComponentSpec(
    name="log", kind="processor", category="utility",
    summary="Prints a log event for each message. Messages always remain unchanged.",
    description=(
        "The log message can be set with interpolation functions (`${! ... }`), which allows logging the "
        "contents and metadata of messages. Log events go to the process log (stderr), through the logger "
        "of this component, and are printed only when the configured `logger.level` lets `level` through.\n\n"
        "With `fields_mapping`, a Bloblang mapping builds an object whose keys are added to the log event as "
        "structured fields (separate `key=value` pairs in `logfmt`, keys of the object in `json`). If the "
        "mapping or the message interpolation fails for a message, the failure is logged instead and the "
        "message still passes on unchanged."
    ),
    config=s.obj(
        "log", "",
        s.string("level", "The log level to use.", "INFO",
                 options=_LEVEL_NAMES + tuple(n.lower() for n in _LEVEL_NAMES)),
        s.string("fields_mapping", "An optional Bloblang mapping whose result object is added to the log "
                 "event as fields.", None, bloblang="mapping",
                 examples=('root.reason = "cus I wana"\nroot.id = this.id\nroot.age = this.user.age.number()\n'
                           'root.kafka_topic = meta("kafka_topic")',)),
        s.string("message", "The message to print.", "", interpolated=True,
                 examples=("${! content() }", 'order ${! this.id } from ${! meta("kafka_topic") }')),
        s.unsupported("fields", "Deprecated in Bento (a map of interpolated fields); use `fields_mapping`."),
    ),
    factory=_factory,
    examples=(
        "pipeline:\n  processors:\n    - log:\n        level: DEBUG\n        message: hello world\n"
        "        fields_mapping: |\n          root.reason = \"cus I wana\"\n          root.id = this.id\n"
        "          root.age = this.user.age\n          root.kafka_topic = meta(\"kafka_topic\")",
    ),
))
