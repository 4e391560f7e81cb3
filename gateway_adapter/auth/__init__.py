"""Authentication of requests to an API, closed by default (issue 6).

- policy.py: what an API definition asks for (`components.securitySchemes` + `security`, switched on by
  `x-tyk-api-gateway.server.authentication`), with located lint diagnostics;
- places.py: where a request carries a credential (header, query string, cookie);
- api_key.py, jwt_auth.py (with jwks.py), basic.py, signature.py: one scheme each (API keys, JWT bearer
  tokens, HTTP Basic, HMAC request signatures), each able to authenticate a request;
- origin.py: the WebSocket `Origin` check against the API's allowed origins (cross-site WebSocket hijacking);
- outcome.py: Identity and Denial; check.py: authenticating one request against the policy and the key
  store, then authorizing it for the API, before any stream is touched.
"""

from .check import Denial, Identity, authenticate, authorize
from .origin import origin_denial
from .policy import AuthPolicy, read_policy

__all__ = ["AuthPolicy", "Denial", "Identity", "authenticate", "authorize", "origin_denial", "read_policy"]
