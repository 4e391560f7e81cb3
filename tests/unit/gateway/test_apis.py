"""API definitions: what is read from x-tyk-api-gateway, what is warned about (located), what is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.errors import ConfigError
from gateway_adapter.apis import api_files, check_together, derive_id, load_api, load_api_text

from .support import PYTHON, ROOT, api_yaml

EXAMPLES = Path("/work/shared/examples")
STREAM = "s:\n  input: {inproc: x}\n  output: {drop: {}}\n"


def test_the_shared_examples_load_with_their_settings_and_warnings() -> None:
    api = load_api(str(EXAMPLES / "post-to-sse-with-key.yaml"))
    assert (api.id, api.name, api.active, api.listen_path, api.strip, api.context_variables) == \
        ("orders-feed", "orders-feed", True, "/orders/", True, False)
    assert list(api.streams.streams) == ["orders"]
    # apiKey authentication and the API's rate limit are implemented: no warnings.
    assert api.warnings == []
    assert api.rate_limit == (100, 1.0)
    assert api.requires_auth and not api.auth.closed
    ((scheme,),) = api.auth.alternatives
    assert (scheme.name, scheme.places) == ("authToken", (("header", "Authorization"),))


def test_an_unimplemented_security_scheme_closes_the_api_with_a_located_warning() -> None:
    text = api_yaml("/j/", STREAM, api_id="j", extra=(
        "  server:\n    authentication:\n      enabled: true\n"
        "      securitySchemes: {oauth: {enabled: true}, key: {enabled: false}}\n")).replace(
        "  server: {listenPath: {value: '/j/', strip: true}}\n", "", 1).replace(
        "    authentication:", "    listenPath: {value: '/j/', strip: true}\n    authentication:") + (
        "components:\n  securitySchemes:\n    oauth: {type: oauth2, flows: {}}\n"
        "    key: {type: apiKey, in: header, name: X-Key}\n"
        "security:\n  - oauth: []\n  - key: []\n")
    api = load_api_text(text, "j.yaml")
    assert api.requires_auth and api.auth.closed and api.auth.unimplemented == ("oauth",)
    messages = [(w.line, w.message) for w in api.warnings]
    assert any('scheme type "oauth2" is not implemented by AsyncGate' in m for _, m in messages), messages
    assert any("served closed: every request is refused with 401" in m and "oauth" in m for _, m in messages)


def test_id_defaults_to_the_name_and_name_to_the_title() -> None:
    text = ("openapi: 3.0.3\ninfo: {title: My Orders API, version: 1}\n"
            "x-tyk-api-gateway:\n  server: {listenPath: {value: /o/}}\n"
            f"x-tyk-streaming:\n  streams:\n    {STREAM.replace(chr(10), chr(10) + '    ')}")
    api = load_api_text(text, "o.yaml")
    assert (api.name, api.id, api.strip, api.active) == ("My Orders API", "my-orders-api", False, True)
    assert derive_id("  Fancy / Name!! ") == "fancy-name"


def test_switched_off_tyk_settings_are_quiet_and_switched_on_ones_warn_where_they_are() -> None:
    extra = ("  upstream:\n    proxy: {enabled: false, url: ''}\n    url: http://backend\n"
             "  middleware:\n    global:\n      cors: {enabled: false}\n      trafficLogs: {enabled: true}\n")
    text = api_yaml("/w/", STREAM, api_id="w", extra=extra).replace("{active: true}",
                                                                     "{active: true, internal: false}")
    api = load_api_text(text, "w.yaml")
    messages = [(w.line, w.message) for w in api.warnings]
    assert messages == [
        (9, "x-tyk-api-gateway.upstream.url: not implemented by AsyncGate; ignored (AsyncGate serves stream "
            "endpoints only; it does not proxy to an upstream)"),
        (13, "x-tyk-api-gateway.middleware.global.trafficLogs: not implemented by AsyncGate; ignored "
             "(analytics are not recorded yet)"),
    ]


def test_unknown_tyk_fields_warn_with_a_suggestion_and_misspelt_required_ones_fail() -> None:
    text = api_yaml("/u/", STREAM, api_id="u").replace("  server: {listenPath:", "  server: {listenPth:")
    with pytest.raises(ConfigError) as exc:
        load_api_text(text, "u.yaml")
    assert [str(d) for d in exc.value.diagnostics] == [
        'u.yaml:6:11: missing required field "listenPath" in x-tyk-api-gateway.server',
        'u.yaml:6:12: warning: x-tyk-api-gateway.server.listenPth: unknown field, ignored (did you mean '
        '"listenPath"?); known here: listenPath, authentication, clientCertificates, gatewayTags, customDomain, '
        'detailedActivityLogs, detailedTracing, eventHandlers, ipAccessControl, batchProcessing, protocol, port',
    ]


@pytest.mark.parametrize("listen, message", [
    ("orders/", 'listenPath.value: "orders/" must start with "/"'),
    ("/_admin/x/", 'listenPath.value: "/_admin/x/" is reserved for the gateway (/_admin)'),
    ("/healthz", 'listenPath.value: "/healthz" is reserved for the gateway (/healthz)'),
    ("/{tenant}/", "path parameters in listen paths are not supported"),
    ("/a//b/", "is not a clean path"),
])
def test_bad_listen_paths_are_located_errors(listen: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_api_text(api_yaml(listen, STREAM), "l.yaml")
    (error,) = [d for d in exc.value.diagnostics if d.severity == "error"]
    assert (error.line, error.column) == (6, 32) and message in error.message


def test_other_refusals() -> None:
    with pytest.raises(ConfigError, match="not an API definition: expected an OpenAPI 3.x document"):
        load_api_text("input: {inproc: x}\noutput: {drop: {}}\n", "plain.yaml")
    with pytest.raises(ConfigError, match="x-tyk-api-gateway.server.listenPath.value is missing"):
        load_api_text("openapi: 3.0.3\nx-tyk-streaming: {streams: {}}\n", "bare.yaml")
    with pytest.raises(ConfigError, match='openapi: version "2.0" is not supported'):
        load_api_text(api_yaml("/v/", STREAM).replace("openapi: 3.0.3", "openapi: '2.0'"), "v.yaml")
    with pytest.raises(ConfigError, match="may contain only letters, digits"):
        load_api_text(api_yaml("/v/", STREAM, api_id="'a b'"), "id.yaml")
    with pytest.raises(ConfigError, match="expected a boolean"):
        load_api_text(api_yaml("/v/", STREAM).replace("strip: true", "strip: yes please"), "b.yaml")


def test_stream_errors_and_gateway_problems_are_reported_together() -> None:
    text = api_yaml("nope", "s:\n  input: {inprok: x}\n  output: {drop: {}}\n")
    with pytest.raises(ConfigError) as exc:
        load_api_text(text, "both.yaml")
    messages = [d.message for d in exc.value.diagnostics]
    assert any('unknown input type "inprok"' in m for m in messages)
    assert any('"nope" must start with "/"' in m for m in messages)


def test_check_together_and_api_files(tmp_path: Path) -> None:
    one = load_api_text(api_yaml("/x/", STREAM, api_id="one"), "one.yaml")
    two = load_api_text(api_yaml("/x", STREAM, api_id="two"), "two.yaml")
    off = load_api_text(api_yaml("/x/", STREAM, api_id="off", active=False), "off.yaml")
    nested = load_api_text(api_yaml("/x/y/", STREAM, api_id="nested"), "nested.yaml")
    assert check_together([one, off, nested]) == []  # inactive APIs and nested listen paths are fine
    (problem,) = check_together([one, two])
    assert str(problem) == 'two.yaml:6:32: listen path "/x" is already served by API "one" (one.yaml:6:32)'
    for name in ("b.yaml", "a.yml", "c.json", "notes.txt"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "sub").mkdir()
    assert api_files([str(tmp_path), str(tmp_path / "a.yml")]) == [
        str(tmp_path / "a.yml"), str(tmp_path / "b.yaml"), str(tmp_path / "c.json")]


def test_json_documents_load_too(tmp_path: Path) -> None:
    file = tmp_path / "api.json"
    file.write_text('{"openapi": "3.0.3", "info": {"title": "j", "version": "1"},\n'
                    ' "x-tyk-api-gateway": {"info": {"id": "j", "name": "j"},\n'
                    '   "server": {"listenPath": {"value": "/j/", "strip": true}, "port": 8080}},\n'
                    ' "x-tyk-streaming": {"streams": {"s": {"input": {"inproc": "x"}, "output": {"drop": {}}}}}}\n')
    api = load_api(str(file))
    assert api.id == "j" and api.strip
    (warning,) = api.warnings
    assert (warning.line, warning.message[:40]) == (3, "x-tyk-api-gateway.server.port: not imple")


def lint(*files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "engine", "lint", *files], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_lint_prints_the_gateway_warnings_and_errors_of_api_definitions(tmp_path: Path) -> None:
    good = lint(str(EXAMPLES / "post-to-sse-with-key.yaml"))
    assert good.returncode == 0, good.stderr
    assert good.stderr == ""
    bad = tmp_path / "bad.yaml"
    bad.write_text(api_yaml("orders/", STREAM.replace("$", ""), context=True)
                   + "    t:\n      input: {inproc: '$tyk_context.reqest_ip'}\n      output: {drop: {}}\n")
    result = lint(str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f'{bad}:6:32: listenPath.value: "orders/" must start with "/"']
    bad.write_text(bad.read_text().replace("orders/", "/orders/"))
    result = lint(str(bad))
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f'{bad}:14:24: warning: $tyk_context.reqest_ip: unknown context variable (renders empty) (did you mean '
        f'"request_ip"?); known: request_ip, remote_addr, request_id, path, path_parts, token, headers_<name>, '
        f'request_data_<name>, jwt_claims_<name>, cookies_<name>']
    # A stream config and an OpenAPI document without x-tyk-api-gateway: the engine's lint only.
    plain = tmp_path / "plain.yaml"
    plain.write_text("openapi: 3.0.3\nx-tyk-streaming:\n  streams:\n    s: {input: {inproc: x}, output: {drop: {}}}\n")
    assert lint(str(plain)).returncode == 0 and lint(str(plain)).stderr == ""
