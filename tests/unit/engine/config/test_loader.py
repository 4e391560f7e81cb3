"""The three shapes of a config file, and reading files."""

from __future__ import annotations

import json
import os
import pathlib
import textwrap

import pytest
import yaml

from engine import registry
from engine.config import loader
from engine.config.loader import load_config, load_text
from engine.errors import ConfigError

EXAMPLES = sorted(pathlib.Path("/work/shared/examples").glob("*.yaml"))


def load(text: str, file: str = "c.yaml"):  # type: ignore[no-untyped-def]
    return load_text(textwrap.dedent(text), file, {})


def diagnostics(text: str, file: str = "c.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, file)
    return [str(d) for d in info.value.diagnostics]


def test_one_stream() -> None:
    config = load("""
        input: {inproc: a}
        pipeline:
          threads: 2
          processors:
            - sleep: {duration: 1ms}
        output: {inproc: b}
    """)
    assert config.shape == "stream"
    assert list(config.streams) == ["main"]
    stream = config.streams["main"]
    assert (stream.input.config, stream.output.config, stream.threads) == ("a", "b", 2)
    assert [p.type for p in stream.processors] == ["sleep"]
    assert stream.processors[0].path == "pipeline.processors.0.sleep"


def test_streams_map_shares_resources_and_service_settings() -> None:
    config = load("""
        streams:
          first:
            input: {inproc: a}
            output: {inproc: b}
          second:
            input: {inproc: b}
            pipeline:
              processors:
                - rate_limit: {resource: shared}
            output: {drop: {}}
        rate_limit_resources:
          - label: shared
            local: {count: 10, interval: 1s}
        http:
          address: 0.0.0.0:9999
    """)
    assert config.shape == "streams"
    assert list(config.streams) == ["first", "second"]
    assert config.streams["second"].processors[0].path == "streams.second.pipeline.processors.0.rate_limit"
    assert list(config.rate_limits) == ["shared"]
    assert config.http["address"] == "0.0.0.0:9999"


def test_streams_map_errors_are_located_inside_each_stream() -> None:
    assert diagnostics("""
        streams:
          a:
            input: {inproc: a}
          b:
            input: {inproc: b}
            output: {nope: {}}
    """) == [
        'c.yaml:4:5: missing required field "output" in streams.a',
        'c.yaml:7:14: unknown output type "nope"',
    ]


def test_streams_must_be_a_map() -> None:
    [message] = diagnostics("""
        streams:
          - input: {inproc: a}
    """)
    assert message.startswith("c.yaml:3:3: streams: expected an object of objects, got a list")


def test_stream_fields_beside_a_streams_map_are_unknown() -> None:
    [message] = diagnostics("""
        streams: {}
        input: {inproc: a}
    """)
    assert message.startswith('c.yaml:3:1: unknown field "input" in (root)')


OPENAPI = """
    openapi: 3.0.3
    info: {title: t, version: 1.0.0}
    paths:
      /anything: {get: {responses: {"200": {description: ok}}}}
    components:
      securitySchemes:
        key: {type: apiKey, in: header, name: Authorization}
    security: [{key: []}]
    x-tyk-api-gateway:
      info: {name: t, state: {active: true}, whatever: [1, 2]}
      server: {listenPath: {value: /t/, strip: true}}
      upstream: {rateLimit: {enabled: true, requests: 100, per: 1s}}
    x-tyk-streaming:
      streams:
        one:
          input: {inproc: in}
          output: {inproc: out}
        two:
          input: {inproc: out}
          output: {drop: {}}
"""


def test_openapi_document_carries_streams_and_the_rest_is_not_validated() -> None:
    config = load(OPENAPI)
    assert config.shape == "openapi"
    assert list(config.streams) == ["one", "two"]
    assert config.streams["one"].input.path == "x-tyk-streaming.streams.one.input.inproc"
    assert config.warnings == []
    assert config.document["x-tyk-api-gateway"]["server"]["listenPath"]["value"] == "/t/"


def test_openapi_stream_errors_are_located() -> None:
    text = textwrap.dedent(OPENAPI).replace("output: {drop: {}}", "output: {drop: {}, labl: x}")
    [message] = diagnostics(text)
    line = text.splitlines().index("      output: {drop: {}, labl: x}") + 1
    assert message.startswith(f"c.yaml:{line}:26: ")
    assert "expected one output type, found several: drop, labl" in message


def test_openapi_unknown_field_in_x_tyk_streaming() -> None:
    text = textwrap.dedent(OPENAPI).replace("x-tyk-streaming:\n  streams:",
                                            "x-tyk-streaming:\n  stream: {}\n  streams:")
    assert "stream: {}" in text
    [message] = diagnostics(text)
    assert 'unknown field "stream" in x-tyk-streaming (did you mean "streams"?)' in message


def test_openapi_without_streams_loads_empty() -> None:
    config = load("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n")
    assert config.shape == "openapi" and config.streams == {}


def test_openapi_streaming_must_be_an_object() -> None:
    [message] = diagnostics("openapi: 3.0.3\nx-tyk-streaming: [1]\n")
    assert message == "c.yaml:2:18: x-tyk-streaming: expected an object with a `streams` map"


def test_openapi_as_json() -> None:
    document = yaml.safe_load(textwrap.dedent(OPENAPI))
    config = load_text(json.dumps(document, indent="\t"), "api.json", {})
    assert config.shape == "openapi" and list(config.streams) == ["one", "two"]


def test_a_top_level_list_is_an_error() -> None:
    assert diagnostics("- input: {inproc: a}\n") == ["c.yaml:1:1: expected an object at the top of the config"]


def _missing_components(path: pathlib.Path) -> list[str]:
    document = yaml.safe_load(path.read_text())
    missing = []
    for stream in document["x-tyk-streaming"]["streams"].values():
        for kind, block in (("input", stream["input"]), ("output", stream["output"])):
            missing += [f"{kind} {name}" for name in block if name not in ("label", "processors")
                        and registry.get(kind, name) is None]  # type: ignore[arg-type]
        for proc in (stream.get("pipeline") or {}).get("processors", []):
            missing += [f"processor {name}" for name in proc if name != "label"
                        and registry.get("processor", name) is None]
    return missing


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_shared_examples_load(path: pathlib.Path) -> None:
    missing = _missing_components(path)
    if missing:
        pytest.skip(f"components not written yet: {', '.join(missing)}")
    config = load_config(str(path), environ={})
    assert config.shape == "openapi"
    assert config.streams, "the example has streams"
    assert [d for d in config.warnings if d.severity == "error"] == []


def test_the_kafka_example_default_address_keeps_its_colons() -> None:
    path = pathlib.Path("/work/shared/examples/kafka-to-websocket.yaml")
    if not path.exists():
        pytest.skip("the shared example is not there")
    if _missing_components(path):
        pytest.skip(f"components not written yet: {', '.join(_missing_components(path))}")
    config = load_config(str(path), environ={})
    assert config.streams["test"].input.config["addresses"] == ["127.0.0.1:19092"]


def test_shared_examples_exist() -> None:
    assert len(EXAMPLES) >= 2


# -- files --------------------------------------------------------------------

def write(tmp_path: pathlib.Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def file_errors(path: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    return [str(d) for d in info.value.diagnostics]


def test_load_config_reads_yaml_and_json(tmp_path: pathlib.Path) -> None:
    y = write(tmp_path, "c.yaml", "input: {inproc: a}\noutput: {drop: {}}\n")
    j = write(tmp_path, "c.json", '{\n\t"input": {"inproc": "a"},\n\t"output": {"drop": {}}\n}\n')
    assert load_config(y, environ={}).streams["main"].input.config == "a"
    assert load_config(j, environ={}).streams["main"].input.config == "a"
    assert load_config(j, environ={}).file == j


def test_missing_file(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "nope.yaml")
    assert file_errors(path) == [f"{path}:1:1: no such file"]


def test_a_directory(tmp_path: pathlib.Path) -> None:
    assert file_errors(str(tmp_path)) == [f"{tmp_path}:1:1: is a directory, not a config file"]


def test_a_path_through_a_file(tmp_path: pathlib.Path) -> None:
    parent = write(tmp_path, "c.yaml", "a: 1\n")
    [message] = file_errors(parent + "/inner.yaml")
    assert message == f"{parent}/inner.yaml:1:1: cannot read: Not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "c.yaml", "a: 1\n")
    os.chmod(path, 0)
    assert file_errors(path) == [f"{path}:1:1: permission denied"]


def test_permission_denied_is_reported(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Works as root too: the open itself is made to fail as it would for another user.
    path = write(tmp_path, "c.yaml", "a: 1\n")

    def refuse(self: pathlib.Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(loader.FilePath, "open", refuse)
    assert file_errors(path) == [f"{path}:1:1: permission denied"]


def test_non_utf8_bytes_are_located(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "c.yaml", b"input:\n  inproc: caf\xe9\noutput: {drop: {}}\n")
    assert file_errors(path) == [f"{path}:2:14: not UTF-8 text (byte 0xe9)"]


def test_non_utf8_after_multibyte_characters(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "c.yaml", "a: é€".encode() + b"\xff\n")
    assert file_errors(path) == [f"{path}:1:6: not UTF-8 text (byte 0xff)"]


def test_empty_file(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "c.yaml", "")
    assert file_errors(path) == [f"{path}:1:1: the config is empty"]


def test_a_utf8_bom_is_accepted(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "c.json", b'\xef\xbb\xbf{"input": {"inproc": "a"}, "output": {"drop": {}}}')
    assert load_config(path, environ={}).streams["main"].input.config == "a"


def test_oversized_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_CONFIG_BYTES", 16)
    path = write(tmp_path, "c.yaml", "input: {inproc: a}\noutput: {drop: {}}\n")
    [message] = file_errors(path)
    assert message.startswith(f"{path}:1:1: larger than")


def test_environment_comes_from_the_process_by_default(tmp_path: pathlib.Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCGATE_LOADER_TEST_PIPE", "from-env")
    path = write(tmp_path, "c.yaml", "input: {inproc: ${ASYNCGATE_LOADER_TEST_PIPE}}\noutput: {drop: {}}\n")
    assert load_config(path).streams["main"].input.config == "from-env"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_shared_examples_load_as_openapi_documents(path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shape (OpenAPI + x-tyk-streaming, env defaults with colons) loads whether or not the
    components the examples use exist yet: missing ones are stood in for by specs that accept anything."""
    from engine import spec as s

    registry.load_builtin_components()
    table = {kind: dict(entries) for kind, entries in registry._registry.items()}
    for kind, name in (("input", "kafka"), ("input", "http_server"), ("output", "http_server"),
                       ("processor", "mapping")):
        table[kind].setdefault(name, s.ComponentSpec(name, kind, "stand-in", s.Field(name, "any"),  # type: ignore
                                                     factory=lambda conf, ctx: None))
    monkeypatch.setattr(registry, "_registry", table)
    config = load_config(str(path), environ={})
    assert config.shape == "openapi"
    assert config.streams
    for stream in config.streams.values():
        assert stream.input.type in ("kafka", "http_server")
        assert stream.output.type == "http_server"
    if path.name == "kafka-to-websocket.yaml":
        assert config.streams["test"].input.config["addresses"] == ["127.0.0.1:19092"]
        again = load_config(str(path), environ={"KAFKA_ADDRESS": "10.0.0.1:9092"})
        assert again.streams["test"].input.config["addresses"] == ["10.0.0.1:9092"]
