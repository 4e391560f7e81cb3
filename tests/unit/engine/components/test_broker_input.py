"""The `broker` input: fan-in of several inputs, acks back to their source, ends when all have ended."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ComponentError
from engine.message import Message
from engine.runtime.manager import Manager
from tests.helpers import collect, load

from .support import payloads, run_to_end


def _two_inputs(tmp_path: Path, extra: str = "") -> str:
    (tmp_path / "f.txt").write_bytes(b"file-1\nfile-2\n")
    return f"""
input:
  broker:
{extra}    inputs:
      - generate:
          count: 3
          interval: ""
          mapping: 'root = "gen"'
      - file:
          paths: [ '{tmp_path}/f.txt' ]
output:
  inproc: out
"""


def test_two_finite_inputs_are_merged_and_end_the_stream(tmp_path: Path, run: Any) -> None:
    delivered, batches = run(run_to_end(_two_inputs(tmp_path)))
    assert delivered
    got = payloads(batches)
    assert sorted(got) == [b"file-1", b"file-2", b"gen", b"gen", b"gen"]
    # Each child's own order is kept.
    assert [p for p in got if p.startswith(b"file")] == [b"file-1", b"file-2"]
    file_meta = [m.meta for b in batches for m in b if m.raw.startswith(b"file")]
    assert all(m["path"] == f"{tmp_path}/f.txt" for m in file_meta)


def test_copies_create_the_inputs_that_many_times(tmp_path: Path, run: Any) -> None:
    delivered, batches = run(run_to_end(_two_inputs(tmp_path, "    copies: 2\n")))
    assert delivered
    assert sorted(payloads(batches)) == [b"file-1"] * 2 + [b"file-2"] * 2 + [b"gen"] * 6


def test_nacks_go_back_to_the_child_that_produced_the_batch(tmp_path: Path, run: Any) -> None:
    delivered, batches = run(run_to_end(_two_inputs(tmp_path), fail=3))
    assert delivered
    # Whatever was nacked was sent again by its own child: nothing lost, nothing doubled.
    assert sorted(payloads(batches)) == [b"file-1", b"file-2", b"gen", b"gen", b"gen"]


def test_batching_policy_applies_to_the_merged_stream(tmp_path: Path, run: Any) -> None:
    extra = "    batching:\n      count: 5\n      period: 5s\n"
    delivered, batches = run(run_to_end(_two_inputs(tmp_path, extra)))
    assert delivered
    assert sorted(payloads(batches)) == [b"file-1", b"file-2", b"gen", b"gen", b"gen"]
    assert max(len(b) for b in batches) > 1
    assert len(batches) < 5


def test_an_endless_child_keeps_the_broker_going_until_stopped(tmp_path: Path, run: Any) -> None:
    (tmp_path / "f.txt").write_bytes(b"once\n")
    config = f"""
input:
  broker:
    inputs:
      - file: {{ paths: [ '{tmp_path}/f.txt' ] }}
      - inproc: feed
output:
  inproc: out
"""

    async def scenario() -> list[bytes]:
        manager = Manager(load(config))
        manager.build()
        running = asyncio.ensure_future(manager.run())
        first = await collect(manager.hub, "out", 1)
        sending = asyncio.ensure_future(manager.hub.send("feed", [Message(b"fed")]))
        second = await collect(manager.hub, "out", 1)
        await sending  # the inproc writer learns of the delivery
        assert not running.done()  # the file child ended, the inproc child did not
        manager.stop()
        await running
        return [m.raw for m in first + second]

    assert run(scenario()) == [b"once", b"fed"]


def test_a_child_that_fails_to_connect_is_reported_with_its_path(tmp_path: Path, run: Any) -> None:
    config = f"""
input:
  broker:
    inputs:
      - generate: {{ mapping: 'root = 1', count: 1 }}
      - file: {{ paths: [ '{tmp_path}/missing.txt' ] }}
output:
  drop: {{}}
"""
    manager = Manager(load(config))
    manager.build()
    with pytest.raises(ComponentError) as caught:
        run(manager.run())
    assert "input.broker.inputs.1.file" in str(caught.value) and "missing.txt" in str(caught.value)


def test_child_processors_and_labels_are_built(tmp_path: Path, run: Any) -> None:
    from engine import registry

    if registry.get("processor", "mapping") is None:
        pytest.skip("the mapping processor is not available yet")
    config = """
input:
  broker:
    inputs:
      - label: gen_a
        generate: { mapping: 'root = "a"', count: 2, interval: "" }
        processors:
          - mapping: 'root = content().string() + "!"'
output:
  inproc: out
"""
    delivered, batches = run(run_to_end(config))
    assert delivered
    assert payloads(batches) == [b"a!", b"a!"]


@pytest.mark.parametrize("body, problem", [
    ("copies: 0\n    inputs: [ { generate: { mapping: 'root = 1' } } ]", "copies"),
    ("inputs: []", "at least one input"),
])
def test_bad_config_is_refused(body: str, problem: str) -> None:
    manager = Manager(load(f"input:\n  broker:\n    {body}\noutput:\n  drop: {{}}\n"))
    with pytest.raises(ComponentError, match=problem):
        manager.build()
