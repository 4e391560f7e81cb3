"""The `logger` block: logfmt and JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import re
from typing import Iterator

import pytest

from engine import logs


@pytest.fixture(autouse=True)
def restore_logger() -> Iterator[None]:
    logger = logging.getLogger("asyncgate")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_logfmt(capsys: pytest.CaptureFixture[str]) -> None:
    log = logs.configure("INFO", "logfmt")
    log.info("plain")
    log.getChild("main.input").warning('said "hi" = %s', "x y")
    log.debug("hidden")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "level=info msg=plain",
        'level=warn msg="said \\"hi\\" = x y" path=main.input',
    ]


def test_logfmt_escapes_newlines_and_backslashes(capsys: pytest.CaptureFixture[str]) -> None:
    log = logs.configure("INFO", "logfmt")
    log.error("two\nlines \\ here")
    assert capsys.readouterr().err == 'level=error msg="two\\nlines \\\\ here"\n'


def test_logfmt_empty_message_is_quoted(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "logfmt").info("")
    assert capsys.readouterr().err == 'level=info msg=""\n'


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    log = logs.configure("debug", "json")
    log.debug("one")
    log.getChild("s.output").error('bad "thing"\n')
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first == {"level": "debug", "msg": "one"}
    assert second == {"level": "error", "msg": 'bad "thing"\n', "path": "s.output"}


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_timestamps(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", fmt, timestamps=True).info("t")
    line = capsys.readouterr().err.strip()
    stamp = json.loads(line)["time"] if fmt == "json" else line.split()[0].removeprefix("time=")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)


def test_structured_fields(capsys: pytest.CaptureFixture[str]) -> None:
    log = logs.configure("INFO", "logfmt")
    log.info("m", extra={"fields": {"id": 7, "who": "a b", "ok": True}})
    assert capsys.readouterr().err == 'level=info msg=m id=7 who="a b" ok=true\n'
    log = logs.configure("INFO", "json")
    log.info("m", extra={"fields": {"id": 7, "nested": {"a": [1]}}})
    assert json.loads(capsys.readouterr().err) == {"level": "info", "msg": "m", "id": 7, "nested": {"a": [1]}}


@pytest.mark.parametrize("level, shown", [
    ("OFF", []), ("FATAL", ["fatal"]), ("error", ["fatal", "error"]),
    ("WARN", ["fatal", "error", "warn"]), ("INFO", ["fatal", "error", "warn", "info"]),
    ("debug", ["fatal", "error", "warn", "info", "debug"]),
    ("TRACE", ["fatal", "error", "warn", "info", "debug"]),
    ("ALL", ["fatal", "error", "warn", "info", "debug"]),
])
def test_levels(level: str, shown: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    log = logs.configure(level, "json")
    log.critical("x"), log.error("x"), log.warning("x"), log.info("x"), log.debug("x")
    assert [json.loads(line)["level"] for line in capsys.readouterr().err.splitlines()] == shown


def test_configure_replaces_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "json")
    log = logs.configure("INFO", "logfmt")
    log.info("once")
    assert capsys.readouterr().err == "level=info msg=once\n"
    assert log.propagate is False
