"""The gateway config file: defaults, located errors, warnings, paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from gateway_adapter.config import GatewayConfig, load_gateway_config


def test_defaults_and_values(tmp_path: Path) -> None:
    assert GatewayConfig().resolved_admin_secret({}) == ""
    assert GatewayConfig().resolved_admin_secret({"ASYNCGATE_ADMIN_SECRET": "e"}) == "e"
    assert GatewayConfig(admin_secret="f").resolved_admin_secret({"ASYNCGATE_ADMIN_SECRET": "e"}) == "f"
    file = tmp_path / "gateway.yaml"
    file.write_text("host: 0.0.0.0\nport: 9000\nidle_timeout: 5s\nshutdown_timeout: 1m\n"
                    "apis: [apis/, /abs/api.yaml]\nadmin_secret: ${GW_TEST_SECRET:xyz}\n")
    config = load_gateway_config(str(file), {})
    assert (config.host, config.port, config.idle_timeout, config.shutdown_timeout) == ("0.0.0.0", 9000, 5.0, 60.0)
    assert config.apis == [str(tmp_path / "apis/"), "/abs/api.yaml"]
    assert config.admin_secret == "xyz" and config.connect_timeout == 10.0 and config.warnings == []


def test_errors_are_located_with_suggestions(tmp_path: Path) -> None:
    file = tmp_path / "gateway.yaml"
    file.write_text("prot: 9000\nport: 70000\nidle_timeout: soon\nstorage: postgres://localhost\n")
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(str(file), {})
    assert [str(d).replace(str(file), "G") for d in exc.value.diagnostics] == [
        'G:1:1: unknown field "prot" in (root) (did you mean "port"?); expected one of: host, port, admin_secret, '
        "storage, idle_timeout, shutdown_timeout, connect_timeout, ws_ping_interval, max_instances_per_stream, "
        "apis, watch, workers, logger, metrics, tracing, analytics",
        "G:2:7: port: 70000 is not a port number (1-65535)",
        'G:3:15: idle_timeout: "soon" is not a duration (expected e.g. "500ms", "10s", "1m30s")',
        "G:4:10: storage: 'postgres://localhost' is not a storage URL (memory, or redis://host:port/db)",
    ]
    with pytest.raises(ConfigError, match="no such file"):
        load_gateway_config(str(tmp_path / "missing.yaml"))
