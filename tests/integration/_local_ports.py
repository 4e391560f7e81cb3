"""Free TCP ports outside the kernel's ephemeral range, for tests that restart a listener.

A client reconnecting to 127.0.0.1:P while nothing listens there can be handed P itself as its
own local port (TCP self-connect) when P is an ephemeral port, and the listener then cannot bind
P again ("address already in use"). Ports below the ephemeral range never collide that way.
"""

from __future__ import annotations

import random
import socket

FALLBACK_RANGE = (32768, 60999)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return FALLBACK_RANGE[0]


def stable_port() -> int:
    """A port that is free now and that no outgoing connection will be given."""
    high = _ephemeral_low() - 1
    low = max(1024, min(20000, high - 5000))
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {low} and {high}")
