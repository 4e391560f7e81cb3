"""Context variables: a request's values, and rendering them into a stream config safely."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import ConfigError
from gateway_adapter import context_vars as cv
from gateway_adapter import load_api_text

from .support import api_yaml


def scope(path: str = "/t/x", query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
          kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "path": path, "query_string": query, "headers": headers or [],
            "client": ("10.1.2.3", 5555)}


def values(names: tuple[str, ...], run: Any, receive: Any = None, **kw: Any) -> tuple[dict[str, str], Any]:
    async def nothing() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    return run(cv.request_values(names, scope(**kw), receive or nothing, kw.get("path", "/t/x")))


def test_request_values(run) -> None:
    names = ("request_ip", "remote_addr", "path", "path_parts", "token", "headers_X_Tenant_Id", "headers_Missing",
             "request_data_user", "cookies_session", "jwt_claims_sub", "unknown_thing")
    got, _ = values(names, run, path="/api/users/7", query=b"user=alice&user=bob&x=1",
                    headers=[(b"X-Tenant-ID", b"acme"), (b"authorization", b"Bearer tok.en"),
                             (b"cookie", b"session=abc; other=1")])
    assert got == {"request_ip": "10.1.2.3", "remote_addr": "10.1.2.3", "path": "/api/users/7",
                   "path_parts": ",api,users,7", "token": "tok.en", "headers_X_Tenant_Id": "acme",
                   "headers_Missing": "", "request_data_user": "alice,bob", "cookies_session": "abc",
                   "jwt_claims_sub": "", "unknown_thing": ""}
    one, _ = values(("request_id",), run)
    two, _ = values(("request_id",), run)
    assert len(one["request_id"]) == 36 and one != two


def test_form_fields_are_read_and_the_body_is_replayed(run) -> None:
    messages = [{"type": "http.request", "body": b"user=carol&", "more_body": True},
                {"type": "http.request", "body": b"n=2", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def main() -> tuple[dict[str, str], list[dict[str, Any]]]:
        got, replay = await cv.request_values(
            ("request_data_user", "request_data_n"),
            scope(query=b"user=dave", headers=[(b"content-type", b"application/x-www-form-urlencoded")]),
            receive, "/t/x")
        return got, [await replay()]

    got, replayed = run(main())
    assert got == {"request_data_user": "carol,dave", "request_data_n": "2"}  # form first, as Go's Form
    assert replayed == [{"type": "http.request", "body": b"user=carol&n=2", "more_body": False}]


@pytest.mark.parametrize("value", ['a"b', "a\\b", "${HOME}", "a`b", "line\nbreak", "tab\tx", "{x}"])
def test_values_that_could_break_out_of_a_string_are_refused(value: str) -> None:
    with pytest.raises(cv.ContextValueError, match="request_data_x"):
        cv.check_value("request_data_x", value)


def test_ordinary_values_pass() -> None:
    for value in ("alice", "10.0.0.1", "::1", "Mozilla/5.0 (X11; Linux) a=b, c#d: e", "ü-ñ", ""):
        cv.check_value("x", value)


TEMPLATE = """
s:
  input:
    inproc: 'in_$tyk_context.request_data_user'
  pipeline:
    processors:
      - mapping: |
          root.user = "$tyk_context.request_data_user"
  output:
    inproc: out_$tyk_context.request_data_user
plain:
  input: {inproc: x}
  output: {drop: {}}
"""


def test_rendering_happens_inside_strings_and_keeps_locations(run) -> None:
    api = load_api_text(api_yaml("/t/", TEMPLATE, context=True), "t.yaml")
    assert cv.stream_variables(api, "s") == ("request_data_user",)
    assert cv.stream_variables(api, "plain") == ()
    rendered = cv.render(api, "s", {"request_data_user": "a: b, [c] # d"})
    stream = rendered.streams["s"]
    # A value cannot change the YAML's shape: it stays one string, wherever it lands.
    assert stream.input.config == "in_a: b, [c] # d" and stream.output.config == "out_a: b, [c] # d"
    assert stream.processors[0].config == 'root.user = "a: b, [c] # d"\n'
    # A rendering the engine refuses is reported where the variable stands in the API's file.
    api = load_api_text(api_yaml("/t/", TEMPLATE.replace("root.user = ", "root.user = $tyk_context.headers_X + "),
                                 context=True), "t.yaml")
    with pytest.raises(ConfigError) as exc:
        cv.render(api, "s", {"request_data_user": "u", "headers_X": "this.("})
    (error,) = exc.value.diagnostics
    assert (error.file, error.line) == ("t.yaml", 16) and "invalid mapping" in error.message
    # A number field cannot hold a variable: the API does not load.
    with pytest.raises(ConfigError, match="threads: expected an integer"):
        load_api_text(api_yaml("/t/", TEMPLATE.replace("  pipeline:\n", "  pipeline:\n    threads: "
                                                       "$tyk_context.request_data_n\n"), context=True), "t.yaml")
    without = load_api_text(api_yaml("/t/", TEMPLATE, context=False), "t.yaml")
    assert cv.stream_variables(without, "s") == ()
