"""What the `kafka` input and output share: the librdkafka client settings built from Bento's
`addresses`, `client_id`, `tls` and `sasl` fields, a bounded reachability check, and the
translation of librdkafka's errors and logs into ours.

confluent-kafka (librdkafka) is a blocking client: every call that can wait runs in a worker
thread (`run_blocking`), never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from .. import spec as s

CONNECT_TIMEOUT = 10.0  # the longest connect() waits for the brokers' metadata before failing
PROBE_TIMEOUT = 5.0     # the longest a TCP probe of one bootstrap address may take


def addresses_field() -> s.Field:
    # Not marked required, so that `kafka_franz`'s `seed_brokers` may stand in for it; the factory
    # insists on one of the two (split_addresses).
    return s.Field(
        "addresses", "string",
        "A list of broker addresses to connect to (`host:port`); required (or `seed_brokers`). Several may "
        "be given in one item, separated by commas.",
        default=[], kind="list",
        examples=(["localhost:9092"], ["localhost:9041,localhost:9042"], ["localhost:9041", "localhost:9042"]),
    )


def seed_brokers_field() -> s.Field:
    return s.Field(
        "seed_brokers", "string",
        "`kafka_franz`'s name for `addresses`: either may be given (not both).",
        default=[], kind="list", advanced=True, examples=(["localhost:9092"],),
    )


def tls_field() -> s.Field:
    return s.obj(
        "tls", "Custom TLS settings can be used to override system defaults.",
        s.boolean("enabled", "Whether custom TLS settings are enabled.", False),
        s.boolean("skip_cert_verify", "Whether to skip server side certificate verification.", False),
        s.unsupported("enable_renegotiation", "Whether to allow the remote server to repeatedly request "
                                              "renegotiation (librdkafka does not offer this setting)."),
        s.string("root_cas", "An optional root certificate authority to use (PEM text).", "",
                 examples=("-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----",)),
        s.string("root_cas_file", "An optional path of a root certificate authority file (PEM).", "",
                 examples=("./root_cas.pem",)),
        s.Field("client_certs", "object", "A list of client certificates to use (only the first is used by "
                                          "librdkafka).", default=[], kind="list", children=[
            s.string("cert", "A plain text certificate to use.", ""),
            s.string("key", "A plain text certificate key to use.", ""),
            s.string("cert_file", "The path of a certificate to use.", ""),
            s.string("key_file", "The path of a certificate key to use.", ""),
            s.string("password", "The password of the private key, if it is encrypted.", ""),
        ]),
        default={}, advanced=True,
    )


SASL_MECHANISMS = ("none", "PLAIN", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512")


def sasl_field() -> s.Field:
    return s.obj(
        "sasl", "Enables SASL authentication.",
        s.string("mechanism", "The SASL authentication mechanism; `none` disables SASL.", "none",
                 options=SASL_MECHANISMS),
        s.string("user", "A PLAIN or SCRAM username.", "", examples=("${USER}",)),
        s.string("password", "A PLAIN or SCRAM password.", "", examples=("${PASSWORD}",)),
        s.string("access_token", "A static OAUTHBEARER access token.", ""),
        s.unsupported("token_cache", "A cache resource holding an OAUTHBEARER token."),
        s.unsupported("token_key", "The key of the OAUTHBEARER token in `token_cache`."),
        default={}, advanced=True,
    )


def split_addresses(conf: dict[str, Any]) -> list[str]:
    """The bootstrap addresses from `addresses` (or `seed_brokers`), comma-separated items split."""
    given = list(conf.get("addresses") or []) + list(conf.get("seed_brokers") or [])
    out = [part.strip() for item in given for part in str(item).split(",") if part.strip()]
    if not out:
        raise ValueError("addresses: at least one broker address is required")
    for address in out:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"addresses: {address!r} is not host:port")
    return out


def client_config(conf: dict[str, Any], addresses: list[str], log: Callable[[], logging.Logger]) -> dict[str, Any]:
    """librdkafka settings for the connection part of a kafka component's config."""
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(addresses),
        "client.id": conf.get("client_id") or "asyncgate",
        # librdkafka's own log lines go to our logger (served by poll/consume), not to stderr.
        "logger": _RdLogger(log),
        "log.connection.close": False,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 5000,
    }
    tls = conf.get("tls") or {}
    sasl = conf.get("sasl") or {}
    mechanism = sasl.get("mechanism") or "none"
    use_tls = bool(tls.get("enabled"))
    use_sasl = mechanism != "none"
    config["security.protocol"] = ("sasl_ssl" if use_tls else "sasl_plaintext") if use_sasl else (
        "ssl" if use_tls else "plaintext")
    if use_tls:
        if tls.get("skip_cert_verify"):
            config["enable.ssl.certificate.verification"] = False
            config["ssl.endpoint.identification.algorithm"] = "none"
        if tls.get("root_cas"):
            config["ssl.ca.pem"] = tls["root_cas"]
        if tls.get("root_cas_file"):
            config["ssl.ca.location"] = tls["root_cas_file"]
        certs = tls.get("client_certs") or []
        if certs:
            cert = certs[0]
            if cert.get("cert"):
                config["ssl.certificate.pem"] = cert["cert"]
            if cert.get("key"):
                config["ssl.key.pem"] = cert["key"]
            if cert.get("cert_file"):
                config["ssl.certificate.location"] = cert["cert_file"]
            if cert.get("key_file"):
                config["ssl.key.location"] = cert["key_file"]
            if cert.get("password"):
                config["ssl.key.password"] = cert["password"]
    if use_sasl:
        config["sasl.mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            token = sasl.get("access_token") or ""
            if not token:
                raise ValueError("sasl.access_token is required with mechanism OAUTHBEARER")
            config["oauth_cb"] = lambda _conf: (token, _far_future())
        else:
            config["sasl.username"] = sasl.get("user") or ""
            config["sasl.password"] = sasl.get("password") or ""
    return config


def _far_future() -> float:
    import time

    return time.time() + 3600.0


class _RdLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """librdkafka's log lines, at debug level unless they are warnings or worse (the connector
    reports connection state itself, once per change)."""

    def __init__(self, log: Callable[[], logging.Logger]) -> None:
        super().__init__(logging.getLogger("asyncgate.kafka.librdkafka"), {})
        self._get = log

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self._get().debug("librdkafka: " + str(msg), *args)


async def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """FN(*ARGS) in a worker thread, so the event loop never waits on librdkafka."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def probe(where: str, addresses: list[str]) -> None:
    """Fail fast, naming the connector and the addresses, when no bootstrap address accepts a TCP
    connection (librdkafka itself would retry forever without telling us)."""
    errors: list[str] = []

    async def one(address: str) -> bool:
        host, _, port = address.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), PROBE_TIMEOUT)
        except TimeoutError:
            errors.append(f"{address}: no answer within {PROBE_TIMEOUT:.0f}s")
            return False
        except OSError as exc:
            errors.append(f"{address}: {exc.strerror or exc}")
            return False
        writer.close()
        return True

    results = await asyncio.gather(*(one(a) for a in addresses))
    if not any(results):
        raise ConnectionError(f"{where}: cannot reach any Kafka broker at {', '.join(addresses)} "
                              f"({'; '.join(errors)})")


def describe(error: Any) -> str:
    """A KafkaError (or exception carrying one) as one readable line."""
    inner = error.args[0] if isinstance(error, Exception) and error.args else error
    text = getattr(inner, "str", None)
    if callable(text):
        return f"{text()} ({inner.name()})"
    return str(error)


class ConnectionState:
    """Logs a connector's connection state once per change: connected → lost → reconnected."""

    def __init__(self, where: str, addresses: list[str], log: logging.Logger) -> None:
        self.where = where
        self.addresses = ", ".join(addresses)
        self.log = log
        self.lost = False
        self._lock = threading.Lock()

    def down(self, reason: str) -> None:
        with self._lock:
            if self.lost:
                return
            self.lost = True
        self.log.warning("%s: lost the connection to Kafka at %s (%s); librdkafka keeps retrying",
                         self.where, self.addresses, reason)

    def up(self) -> None:
        if not self.lost:
            return
        with self._lock:
            if not self.lost:
                return
            self.lost = False
        self.log.warning("%s: reconnected to Kafka at %s", self.where, self.addresses)

    def error_cb(self, error: Any) -> None:
        """librdkafka's error_cb: every broker down is a lost connection; other errors are logged."""
        from confluent_kafka import KafkaError

        code = error.code()
        if code == KafkaError._ALL_BROKERS_DOWN:
            self.down(error.str())
        elif code in (KafkaError._TRANSPORT, KafkaError._RESOLVE):
            self.log.debug("%s: %s", self.where, error.str())
        else:
            self.log.error("%s: Kafka error: %s", self.where, describe(error))
