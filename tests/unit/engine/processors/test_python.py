"""The `python` processor: user functions imported at build time, every return shape, errors flagged not fatal."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from engine import registry
from engine.errors import ComponentError, ConfigError
from engine.message import Message
from tests.helpers import load, run_config

from .conftest import build, messages, process, stream_config

ROOT = Path(__file__).resolve().parents[4]

FUNCS = """
    import asyncio
    from engine.message import Message

    def upper(msg):
        return msg.raw.upper()

    def text(msg):
        return msg.raw.decode() + "!"

    def as_json(msg, key="value"):
        return {key: msg.raw.decode(), "n": len(msg.raw)}

    def as_list(msg):
        return [1, "two", None]

    def same(msg):
        msg.meta["seen"] = "yes"
        return msg

    def new_message(msg):
        return Message(b"fresh", {"only": "this"})

    def drop_odd(msg):
        return None if int(msg.raw) % 2 else msg

    async def slow_upper(msg, suffix=""):
        await asyncio.sleep(0)
        return msg.raw.upper() + suffix.encode()

    def fail_on_bad(msg):
        if msg.raw == b"bad":
            raise ValueError("bad payload: " + msg.raw.decode())
        return msg

    def wrong_type(msg):
        return {1, 2}

    def not_json(msg):
        return {"when": object()}

    def structured(msg):
        doc = msg.structured
        doc["total"] = doc["price"] * doc["qty"]
        return doc

    class Tool:
        @staticmethod
        def shout(msg):
            return b"TOOL:" + msg.raw

    NOT_CALLABLE = 42
"""


def test_return_bytes_str_json_list(run, plugin) -> None:
    mod = plugin(FUNCS)
    for fn, expected in [("upper", b"HELLO"), ("text", b"hello!"), ("as_list", b'[1,"two",null]')]:
        procs = build(f"- python: {{function: '{mod}:{fn}'}}")
        msg = Message(b"hello", {"k": "v"})
        (out,) = run(process(procs, [msg]))
        assert out.raw == expected
        assert out.meta == {"k": "v"}  # metadata kept
        assert out.error is None


def test_return_dict_is_structured_json_and_args_are_passed(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - python:
            function: {mod}:as_json
            args:
              key: payload
    """)
    (out,) = run(process(procs, messages("abc")))
    assert out.structured == {"payload": "abc", "n": 3}
    assert orjson.loads(out.raw) == {"payload": "abc", "n": 3}


def test_return_the_same_message_or_a_new_one(run, plugin) -> None:
    mod = plugin(FUNCS)
    msg = Message(b"x")
    (out,) = run(process(build(f"- python: {{function: '{mod}:same'}}"), [msg]))
    assert out is msg and out.meta == {"seen": "yes"} and out.raw == b"x"
    (out,) = run(process(build(f"- python: {{function: '{mod}:new_message'}}"), messages("x")))
    assert out.raw == b"fresh" and out.meta == {"only": "this"}


def test_none_drops_on_purpose(run, plugin) -> None:
    mod = plugin(FUNCS)
    out = run(process(build(f"- python: {{function: '{mod}:drop_odd'}}"), messages(1, 2, 3, 4)))
    assert [m.raw for m in out] == [b"2", b"4"]


def test_async_function_is_awaited(run, plugin) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - python:
            function: {mod}:slow_upper
            args: {{suffix: "?"}}
    """)
    assert [m.raw for m in run(process(procs, messages("a", "b")))] == [b"A?", b"B?"]


def test_dotted_callable(run, plugin) -> None:
    mod = plugin(FUNCS)
    (out,) = run(process(build(f"- python: {{function: '{mod}:Tool.shout'}}"), messages("x")))
    assert out.raw == b"TOOL:x"


def test_structured_in_place_change_returned_as_dict(run, plugin) -> None:
    mod = plugin(FUNCS)
    (out,) = run(process(build(f"- python: {{function: '{mod}:structured'}}"), messages('{"price": 2, "qty": 3}')))
    assert orjson.loads(out.raw) == {"price": 2, "qty": 3, "total": 6}


def test_exception_flags_the_message_and_the_rest_carries_on(run, plugin, logs) -> None:
    mod = plugin(FUNCS)
    procs = build(f"""
        - python:
            function: {mod}:fail_on_bad
        - python:
            function: {mod}:upper
    """)
    out = run(process(procs, messages("ok", "bad", "fine")))
    assert [m.raw for m in out] == [b"OK", b"BAD", b"FINE"]  # not try: later processors still run
    assert [m.error for m in out] == [None, "bad payload: bad", None]


@pytest.mark.parametrize("fn,text", [("wrong_type", "returned set"), ("not_json", "cannot be encoded as JSON")])
def test_bad_return_values_flag_the_message(run, plugin, fn: str, text: str) -> None:
    mod = plugin(FUNCS)
    msg = Message(b"keep")
    (out,) = run(process(build(f"- python: {{function: '{mod}:{fn}'}}"), [msg]))
    assert out is msg and out.raw == b"keep"
    assert out.error is not None and text in out.error


def test_catch_sees_the_exception_text_via_error(run, plugin) -> None:
    mod = plugin(FUNCS)
    got = run(run_config(stream_config(f"""
        - python:
            function: {mod}:fail_on_bad
        - catch:
          - switch:
            - check: 'error().contains("bad payload")'
              processors:
                - python:
                    function: {mod}:upper
    """), feed=["good", "bad", "also"], expect=3))
    assert [(m.raw, m.error) for m in got] == [(b"good", None), (b"BAD", None), (b"also", None)]


# -- batch mode ------------------------------------------------------------------

BATCH_FUNCS = """
    from engine.message import Message

    def count(batch, label="n"):
        return [{label: len(batch), "i": i, "body": m.raw.decode()} for i, m in enumerate(batch)]

    def merge(batch):
        return [b",".join(m.raw for m in batch)]

    def keep_first(batch):
        return batch[:1]

    def drop_all(batch):
        return None

    async def mixed(batch):
        return [batch[0], b"raw", "text", None, [1]]

    def explode(batch):
        raise RuntimeError("whole batch failed")

    def not_a_list(batch):
        return "oops"
"""


def test_batch_mode_gets_the_list_and_returns_a_list(run, plugin) -> None:
    mod = plugin(BATCH_FUNCS)
    procs = build(f"""
        - python:
            function: {mod}:count
            batch: true
            args: {{label: size}}
    """)
    batch = messages("a", "b", "c")
    batch[1].meta["k"] = "kept"
    out = run(process(procs, batch))
    assert [m.structured for m in out] == [{"size": 3, "i": i, "body": b} for i, b in enumerate("abc")]
    assert out[1].meta == {"k": "kept"}  # one item per message: metadata by position


def test_batch_mode_shapes(run, plugin) -> None:
    mod = plugin(BATCH_FUNCS)

    def one(fn: str) -> list[bytes]:
        procs = build(f"- python: {{function: '{mod}:{fn}', batch: true}}")
        return [m.raw for m in run(process(procs, messages("a", "b", "c")))]

    assert one("merge") == [b"a,b,c"]
    assert one("keep_first") == [b"a"]
    assert one("drop_all") == []
    assert one("mixed") == [b"a", b"raw", b"text", b"[1]"]


@pytest.mark.parametrize("fn,text", [("explode", "whole batch failed"), ("not_a_list", "expected a list")])
def test_batch_mode_failure_flags_every_message(run, plugin, fn: str, text: str) -> None:
    mod = plugin(BATCH_FUNCS)
    batch = messages("a", "b")
    out = run(process(build(f"- python: {{function: '{mod}:{fn}', batch: true}}"), batch))
    assert out == batch and [m.raw for m in out] == [b"a", b"b"]
    assert all(m.error is not None and text in m.error for m in out)


# -- build-time errors ---------------------------------------------------------------


def test_import_errors_name_the_import_path(plugin) -> None:
    mod = plugin(FUNCS)
    broken = plugin("import definitely_not_a_real_dependency_xyz\n")
    raising = plugin("raise RuntimeError('module init failed')\n")
    cases = {
        "no_such_module_abc:fn": 'cannot import module "no_such_module_abc" for function "no_such_module_abc:fn"',
        f"{mod}:missing": f'cannot import function "{mod}:missing": "{mod}" has no attribute "missing"',
        f"{mod}:Tool.nope": f'"{mod}.Tool" has no attribute "nope"',
        f"{mod}:NOT_CALLABLE": f'function "{mod}:NOT_CALLABLE" is not callable (it is int)',
        f"{mod}": f'function "{mod}" must look like "package.module:callable"',
        f"{broken}:fn": "No module named 'definitely_not_a_real_dependency_xyz'",
        f"{raising}:fn": "RuntimeError: module init failed",
    }
    for path, text in cases.items():
        with pytest.raises(ComponentError) as info:
            build(f"- python: {{function: '{path}'}}")
        message = str(info.value)
        assert message.startswith("processor python at pipeline.processors.0.python: cannot create: "), message
        assert text in message, message
    with pytest.raises(ComponentError, match="PYTHONPATH"):
        build("- python: {function: 'no_such_module_abc:fn'}")


def test_args_that_do_not_fit_the_signature_fail_the_build(plugin) -> None:
    mod = plugin(FUNCS)
    with pytest.raises(ComponentError, match="cannot be called with one positional argument and keyword arguments"):
        build(f"""
            - python:
                function: {mod}:upper
                args: {{colour: red}}
        """)
    with pytest.raises(ComponentError, match="args: expected an object"):
        build(f"""
            - python:
                function: {mod}:upper
                args: [1, 2]
        """)


def test_config_errors_are_located() -> None:
    with pytest.raises(ConfigError) as info:
        load(stream_config("""
            - python:
                batch: yes please
                functon: x:y
        """))
    text = str(info.value)
    assert "test.yaml:6:9: missing required field \"function\"" in text
    assert "test.yaml:6:16: batch: expected a boolean" in text
    assert 'test.yaml:7:9: unknown field "functon"' in text and 'did you mean "function"' in text


# -- documentation stays true ---------------------------------------------------------


def test_the_worked_example_in_the_description_works(run, plugin, logs) -> None:
    description = registry.get("processor", "python").description
    code = re.search(r"```python\n(.*?)```", description, re.S).group(1)
    pipeline = re.search(r"```yaml\n(.*?)```", description, re.S).group(1)
    mod = plugin(code)
    pipeline = pipeline.replace("enrich:", f"{mod}:")
    config = "input:\n  inproc: in\n" + pipeline + "output:\n  inproc: out\n"
    order = {"id": 7, "items": [{"price": 2.5, "qty": 4}]}
    got = run(run_config(config, feed=[orjson.dumps(order).decode(), '{"id": 8, "items": []}',
                                       '{"id": 9, "items": [{"price": 1, "qty": -1}]}'], expect=2))
    assert got[0].raw == b'{"currency":"USD","id":7,"items":[{"price":2.5,"qty":4}],"total":10.0}'
    assert got[0].meta == {"priced": "yes"}
    assert orjson.loads(got[1].raw)["id"] == 9 and got[1].error is None
    assert "order rejected: negative quantity" in logs.messages(logging.WARNING)
    assert '{"currency":"USD","id":7,"items":[{"price":2.5,"qty":4}],"total":10.0}' in description


def test_cli_run_with_a_plugin_module(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "cliplug.py").write_text(textwrap.dedent("""
        def shout(msg, mark="!"):
            if msg.raw == b"boom":
                raise ValueError("no booms")
            return msg.raw.decode().upper() + mark
    """))
    cfg = tmp_path / "stream.yaml"
    cfg.write_text(textwrap.dedent("""
        input:
          stdin: {}
        pipeline:
          processors:
            - python:
                function: cliplug:shout
                args: {mark: "?"}
            - catch:
                - python:
                    function: cliplug:shout
                    args: {mark: " (recovered)"}
        output:
          stdout: {}
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(cfg)], input=b"one\nboom\ntwo\n",
                          capture_output=True, timeout=30, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The second shout raises again inside the catch; the catch clears the flag anyway.
    assert proc.stdout == b"ONE?\nboom\nTWO?\n"

    cfg.write_text("input:\n  stdin: {}\npipeline:\n  processors:\n    - python: {function: 'cliplug:nope'}\n"
                   "output:\n  stdout: {}\n")
    proc = subprocess.run([sys.executable, "-m", "engine", "run", str(cfg)], input=b"", capture_output=True,
                          timeout=30, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert b'cannot import function "cliplug:nope": "cliplug" has no attribute "nope"' in proc.stderr
