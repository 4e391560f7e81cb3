"""Authentication of requests to an API, closed by default (issue 6).

- policy.py: what an API definition asks for (`components.securitySchemes` + `security`, switched on by
  `x-tyk-api-gateway.server.authentication`), with located lint diagnostics;
- api_key.py: the `apiKey` scheme (header, query or cookie; `Authorization` takes the raw key or `Bearer <key>`);
- origin.py: the WebSocket `Origin` check against the API's allowed origins (cross-site WebSocket hijacking);
- check.py: authenticating one request against the policy and the key store, before any stream is touched.
"""

from .check import Denial, Identity, authenticate, authorize
from .origin import origin_denial
from .policy import AuthPolicy, read_policy

__all__ = ["AuthPolicy", "Denial", "Identity", "authenticate", "authorize", "origin_denial", "read_policy"]
