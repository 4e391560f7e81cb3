"""Standard Webhooks signing (https://www.standardwebhooks.com), used by the `http_client` output.

A signed request carries three headers:

- `webhook-id`: the message's id, the same for every attempt to deliver that message, so a
  receiver can drop duplicates;
- `webhook-timestamp`: the time of this attempt, in whole seconds since the epoch;
- `webhook-signature`: `v1,` followed by the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
  keyed with the secret's bytes (the base64 after the `whsec_` prefix, decoded).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid

SECRET_PREFIX = "whsec_"
# Standard Webhooks recommends secrets of 24 to 64 bytes; we refuse only the useless ones.
MIN_SECRET_BYTES = 16


def parse_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret; ValueError with a clear reason otherwise."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f'webhook_signing.secret must look like "{SECRET_PREFIX}<base64>"')
    encoded = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"webhook_signing.secret: the part after {SECRET_PREFIX} is not valid base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"webhook_signing.secret: the key is {len(key)} bytes long; "
                         f"use at least {MIN_SECRET_BYTES} random bytes")
    return key


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSigner:
    """Signs request bodies with one secret."""

    def __init__(self, secret: str) -> None:
        self.key = parse_secret(secret)

    def headers(self, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The three Standard Webhooks headers for one delivery attempt of BODY."""
        ts = int(time.time()) if timestamp is None else timestamp
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": signature(self.key, msg_id, ts, body),
        }

    def verify(self, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
        """Whether one of the space-separated signatures in HEADER is ours for this request."""
        try:
            ts = int(timestamp)
        except ValueError:
            return False
        expected = signature(self.key, msg_id, ts, body)
        return any(hmac.compare_digest(expected, candidate) for candidate in header.split())
