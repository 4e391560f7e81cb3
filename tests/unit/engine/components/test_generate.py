"""The `generate` input: Bloblang-made messages, count, batch_size, interval, nacks, config errors."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from engine.component import EndOfInput
from engine.components.inputs.generate import parse_interval
from engine.errors import ComponentError
from engine.runtime.manager import Manager
from tests.helpers import load

from .support import build, payloads, run_to_end


def _config(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"input:\n  generate:\n{lines}\noutput:\n  inproc: out\n"


def test_count_ends_the_input_after_that_many(run: Any) -> None:
    delivered, batches = run(run_to_end(_config("""
count: 4
interval: ""
mapping: 'root = {"a": 1, "n": count("gen-count-test")}'
""")))
    assert delivered
    docs = [orjson.loads(p) for p in payloads(batches)]
    assert [d["a"] for d in docs] == [1, 1, 1, 1]
    ns = [d["n"] for d in docs]
    assert ns == list(range(ns[0], ns[0] + 4))
    assert [len(b) for b in batches] == [1, 1, 1, 1]


def test_string_root_is_the_raw_payload(run: Any) -> None:
    delivered, batches = run(run_to_end(_config("count: 2\ninterval: 0s\nmapping: 'root = \"hello\"'")))
    assert delivered
    assert payloads(batches) == [b"hello", b"hello"]


def test_batch_size_groups_and_the_last_batch_is_cut_to_count(run: Any) -> None:
    delivered, batches = run(run_to_end(_config("count: 5\nbatch_size: 2\ninterval: ''\nmapping: 'root = \"x\"'")))
    assert delivered
    assert [len(b) for b in batches] == [2, 2, 1]


def test_deleted_messages_are_not_counted(run: Any) -> None:
    mapping = 'root = if count("gen-del-test") % 2 == 0 { deleted() } else { "kept" }'
    delivered, batches = run(run_to_end(_config(f"count: 3\ninterval: ''\nmapping: '{mapping}'")))
    assert delivered
    assert payloads(batches) == [b"kept"] * 3


def test_interval_spaces_batches_and_the_first_comes_at_once(run: Any) -> None:
    inp = build("input", "generate:\n  count: 3\n  interval: 100ms\n  mapping: 'root = \"t\"'")

    async def timed() -> list[float]:
        start = time.monotonic()
        times = []
        for _ in range(3):
            await inp.read()
            times.append(time.monotonic() - start)
        with pytest.raises(EndOfInput):
            await inp.read()
        return times

    first, second, third = run(timed())
    assert first < 0.08
    assert 0.08 <= second < 0.5 and 0.18 <= third < 1.0


def test_every_form_waits_before_the_first(run: Any) -> None:
    inp = build("input", "generate:\n  count: 1\n  interval: '@every 100ms'\n  mapping: 'root = \"t\"'")

    async def timed() -> float:
        start = time.monotonic()
        await inp.read()
        return time.monotonic() - start

    assert 0.08 <= run(timed()) < 1.0


@pytest.mark.parametrize("text, expected", [
    ("", (0.0, True)), ("0s", (0.0, True)), ("0", (0.0, True)), ("1s", (1.0, True)),
    ("1m30s", (90.0, True)), ("500ms", (0.5, True)), ("@every 5m", (300.0, False)),
])
def test_parse_interval(text: str, expected: tuple[float, bool]) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize("cron", ["0 */5 * * * *", "*/5 * * * *", "@daily", "TZ=Europe/London 30 3 * * *"])
def test_cron_schedules_are_refused_clearly(cron: str) -> None:
    with pytest.raises(ValueError, match="cron schedules are not supported"):
        parse_interval(cron)
    manager = Manager(load(_config(f"interval: '{cron}'\nmapping: 'root = 1'")))
    with pytest.raises(ComponentError, match="input.generate.*cron schedules are not supported"):
        manager.build()


def test_bad_duration_names_the_field() -> None:
    with pytest.raises(ValueError, match='interval: "5 parsecs"|interval.*not a duration'):
        parse_interval("5parsecs")


def test_mapping_parse_error_names_line_and_column() -> None:
    from engine.components.inputs.generate import GenerateInput
    from engine.errors import ConfigError

    conf = {"mapping": "root.a = 1\nroot.b = )", "interval": "", "count": 0, "batch_size": 1,
            "auto_replay_nacks": True}
    with pytest.raises(ValueError, match=r"mapping: line 2 column \d+"):
        GenerateInput(conf)
    # Through a config file the same error is located in the file.
    with pytest.raises(ConfigError, match=r"test.yaml:\d+:\d+: mapping: invalid mapping"):
        load(_config("mapping: |\n  root.a = 1\n  root.b = )"))


def test_mapping_is_required() -> None:
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match='missing required field "mapping"'):
        load(_config("count: 1"))


def test_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        build("input", "generate:\n  batch_size: 0\n  mapping: 'root = 1'")


def test_nacked_batches_are_replayed_by_default(run: Any) -> None:
    delivered, batches = run(run_to_end(_config("count: 3\ninterval: ''\nmapping: 'root = count(\"gen-nack\")'"),
                                        fail=2))
    assert delivered
    got = [int(p) for p in payloads(batches)]
    # All three arrive exactly once (the retried ones after the others).
    assert len(got) == 3 and sorted(got) == list(range(min(got), min(got) + 3))


def test_without_auto_replay_nacked_batches_are_dropped(run: Any) -> None:
    delivered, batches = run(run_to_end(_config(
        "count: 3\ninterval: ''\nauto_replay_nacks: false\nmapping: 'root = count(\"gen-drop\")'"), fail=1))
    assert delivered
    assert len(payloads(batches)) == 2


def test_runtime_mapping_error_is_retried_not_fatal(run: Any) -> None:
    # `this` of the empty message is not JSON: each read fails and is retried (logged), never crashing.
    inp = build("input", "generate:\n  count: 1\n  interval: ''\n  mapping: 'root = this.a'")

    async def once() -> None:
        await inp.read()

    from engine.bloblang import MappingError

    with pytest.raises(MappingError):
        run(once())
    assert inp.remaining == 1  # nothing was counted as generated

