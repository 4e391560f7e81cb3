"""What authenticating a request comes to: an Identity (who it is) or a Denial (why it is refused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..keys import Session

# The longest credential a parser looks at; anything longer is refused unread (400).
MAX_CREDENTIAL = 8192


@dataclass(frozen=True)
class Identity:
    """SESSION is None for an API without authentication. VIA names the scheme that vouched for it: "key",
    "basic" and "hmac" identities are stored keys; a "jwt" identity is virtual (built from the token's claims,
    never stored), so its access comes from its `policies` only."""

    session: Session | None
    via: str = ""

    @property
    def virtual(self) -> bool:
        return self.via == "jwt"

    def context(self) -> dict[str, Any]:
        s = self.session
        if s is None:
            return {}
        return {"key_id": s.id, "alias": s.alias, "meta_data": s.meta_data, "tags": s.tags, "via": self.via}


@dataclass(frozen=True)
class Denial:
    status: int
    detail: str
    scheme: str = ""
    challenge: str = "Bearer"  # the WWW-Authenticate scheme of a 401
    missing: bool = False  # no credentials were presented (a denial of those presented says more)

    @property
    def title(self) -> str:
        return {400: "Bad Request", 401: "Unauthorized"}.get(self.status, "Forbidden")

    def headers(self, api_id: str) -> list[tuple[bytes, bytes]]:
        if self.status != 401:
            return []
        return [(b"www-authenticate", f'{self.challenge} realm="{api_id}"'.encode())]


def too_large(what: str, scheme: str) -> Denial:
    return Denial(400, f"the {what} presented is larger than {MAX_CREDENTIAL} bytes", scheme)
