"""The management API, mounted at /_admin behind BearerAuth (only when an admin secret is configured).

    GET    /_admin/apis          the APIs (summaries)
    POST   /_admin/apis          add one (body: the OpenAPI document, JSON or YAML); 409 if its id exists
    GET    /_admin/apis/{id}     its document (as JSON; `${VAR}` references are shown, not their values)
    PUT    /_admin/apis/{id}     add or replace it, live
    DELETE /_admin/apis/{id}     remove it, live: its routes 404 and its clients are closed with 1001
    GET    /_admin/streams       every running stream instance with its state and counters
    GET    /_admin/analytics     analytics records (?api_id=&since=&limit=; see analytics.py)
    POST   /_admin/keys          create an API key (body: session fields, see keys.py); the answer holds the
                                 key, once: only its salted hash is kept (and the `hmac_string` of a key
                                 with `hmac_enabled`, also once; a Basic username already taken: 409). Its
                                 `policies` must exist (400); without `expires`, the longest `key_expires_in` of
                                 its policies sets it
    GET    /_admin/keys          the keys: ids, aliases and session fields, never keys or hashes
    GET    /_admin/keys/{id}     one key's session
    PUT    /_admin/keys/{id}     replace its session fields (the key itself stays); `?reset_quota=1` (as Tyk)
                                 also resets its quota
    DELETE /_admin/keys/{id}     revoke it
    DELETE /_admin/keys/{id}/quota  reset its quota (the full quota_max is available again)
    POST   /_admin/policies      create a policy (body: policy fields, see policies.py; `id` optional, else
                                 generated); 409 if the id exists
    GET    /_admin/policies      the policies
    GET    /_admin/policies/{id} one policy
    PUT    /_admin/policies/{id} replace its fields (404 if unknown: create it with POST); applies to the keys
                                 that name it from their next request
    DELETE /_admin/policies/{id} remove it: keys that still name it are refused (403) until changed

A definition with errors changes nothing: 400 with a problem body listing each located error. Changes to
APIs are kept in memory (files are the durable source; see `--watch`); keys live in the gateway's storage
(memory, or Redis shared by several gateways), and while that storage does not answer, key endpoints
answer 503.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import orjson
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.errors import ConfigError, Diagnostic

from .analytics import QueryError
from .api_runtime import BuildError
from .apis import GATEWAY_KEY, ApiDefinition, load_api_text
from .gateway import Gateway
from .keys import KeyError_, Session, UsernameTaken, session_fields
from .limits import quota_counter
from .policies import Policy, policy_fields
from .problems import PROBLEM_TYPE, problem_body
from .storage import UNAVAILABLE, UNAVAILABLE_RETRY_AFTER, StorageError

MAX_BODY = 4 << 20
BODY_NAME = "request-body"
SOURCE = "<management API>"


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    return _Json(problem_body(status, title, detail, **extra), status_code=status, media_type=PROBLEM_TYPE)


def _diagnostic(d: Diagnostic) -> dict[str, Any]:
    return {"line": d.line, "column": d.column, "message": d.message, "severity": d.severity, "text": str(d)}


def summary(api: ApiDefinition, gateway: Gateway) -> dict[str, Any]:
    runtime = gateway.apis.get(api.id)
    return {
        "id": api.id, "name": api.name, "active": api.active, "listen_path": api.listen_path, "strip": api.strip,
        "context_variables": api.context_variables, "source": api.source,
        "streams": sorted(api.streams.streams),
        "endpoints": [{"kind": kind, "path": path, "stream": stream}
                      for kind, path, stream in (runtime.endpoints() if runtime else [])],
        "warnings": [str(w) for w in api.warnings],
    }


def create_admin_app(gateway: Gateway) -> Starlette:
    read_only = gateway.config.workers > 1

    async def body_text(request: Request) -> str | Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return problem(413, "Content Too Large", f"an API definition may be at most {MAX_BODY} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return problem(413, "Content Too Large", f"an API definition may be at most {MAX_BODY} bytes")
            chunks.append(chunk)
        try:
            text = b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            return problem(400, "Bad Request", "the body is not UTF-8 text")
        if not text.strip():
            return problem(400, "Bad Request", "the body is empty; send the API definition (an OpenAPI document, "
                                               "JSON or YAML)")
        return text

    async def parse(request: Request, path_id: str | None) -> ApiDefinition | Response:
        if read_only:
            return problem(409, "Conflict", "the gateway runs several worker processes: a change here would reach "
                                            "one of them only; change the API definition files (with --watch)")
        text = await body_text(request)
        if isinstance(text, Response):
            return text
        try:
            api = load_api_text(text, BODY_NAME)
        except ConfigError as exc:
            errors = [d for d in exc.diagnostics if d.severity == "error"]
            warnings = [d for d in exc.diagnostics if d.severity == "warning"]
            return problem(400, "Invalid API definition",
                           f"{len(errors)} error(s) in the API definition: " + "; ".join(str(d) for d in errors[:3]),
                           errors=[_diagnostic(d) for d in errors], warnings=[_diagnostic(d) for d in warnings])
        if path_id is not None:
            info = (api.document.get(GATEWAY_KEY) or {}).get("info") or {}
            explicit = info.get("id") if isinstance(info, dict) else None
            if explicit not in (None, "") and str(explicit) != path_id:
                return problem(400, "Bad Request", f'the document\'s x-tyk-api-gateway.info.id is "{explicit}" '
                                                   f'but the URL names "{path_id}"')
            api = dataclasses.replace(api, id=path_id)
        return dataclasses.replace(api, source=SOURCE)

    async def apply(api: ApiDefinition) -> bool | Response:
        try:
            return await gateway.put(api)
        except ConfigError as exc:
            return problem(409, "Conflict", "; ".join(d.message for d in exc.diagnostics),
                           errors=[_diagnostic(d) for d in exc.diagnostics])
        except BuildError as exc:
            return problem(400, "Invalid API definition", "the API's streams cannot be built: "
                           + "; ".join(exc.problems), errors=[{"message": p} for p in exc.problems])

    async def list_apis(request: Request) -> Response:
        return _Json({"apis": [summary(r.api, gateway) for r in gateway.apis.values()]})

    async def create(request: Request) -> Response:
        api = await parse(request, None)
        if isinstance(api, Response):
            return api
        if api.id in gateway.apis:
            return problem(409, "Conflict", f'an API with id "{api.id}" exists; PUT /_admin/apis/{api.id} replaces it')
        outcome = await apply(api)
        if isinstance(outcome, Response):
            return outcome
        return _Json(summary(api, gateway), status_code=201, headers={"location": f"{request.url.path}/{api.id}"})

    async def get_api(request: Request) -> Response:
        api = gateway.get(request.path_params["api_id"])
        if api is None:
            return problem(404, "Not Found", f'no API with id "{request.path_params["api_id"]}"')
        document: Any
        try:  # the document as written: environment references stay references
            document = yaml.safe_load(api.text) if api.text is not None else api.document
        except yaml.YAMLError:
            document = api.document
        return _Json(document)

    async def put_api(request: Request) -> Response:
        api = await parse(request, request.path_params["api_id"])
        if isinstance(api, Response):
            return api
        outcome = await apply(api)
        if isinstance(outcome, Response):
            return outcome
        return _Json(summary(api, gateway), status_code=201 if outcome else 200)

    async def delete_api(request: Request) -> Response:
        if read_only:
            return problem(409, "Conflict", "the gateway runs several worker processes: a change here would reach "
                                            "one of them only; change the API definition files (with --watch)")
        api_id = request.path_params["api_id"]
        if not await gateway.delete(api_id):
            return problem(404, "Not Found", f'no API with id "{api_id}"')
        return Response(status_code=204)

    async def streams(request: Request) -> Response:
        return _Json({"streams": gateway.instances()})

    async def analytics(request: Request) -> Response:
        found = gateway.traffic.analytics if gateway.traffic is not None else None
        if found is None:
            return problem(404, "Not Found", "analytics are disabled (gateway config: analytics.enabled)")
        try:
            return _Json(found.query(request.query_params.multi_items()))
        except QueryError as exc:
            return problem(400, "Bad Request", str(exc))

    async def json_body(request: Request, fields: Any = session_fields) -> Any:
        """The body's fields, checked by FIELDS (session_fields or policy_fields), or the problem answer."""
        if read_only and not gateway.storage.shared:
            return problem(409, "Conflict", "the gateway runs several worker processes, each with its own in-memory "
                                            "store: a key or policy changed here would reach one of them only "
                                            "(shared storage, e.g. Redis, lifts this)")
        text = await body_text(request)
        if isinstance(text, Response):
            return text
        try:
            body = orjson.loads(text)
            return body, fields(body)
        except orjson.JSONDecodeError:
            return problem(400, "Bad Request", "the body is not JSON")
        except KeyError_ as exc:
            return problem(400, "Bad Request", str(exc))

    async def key_body(request: Request) -> tuple[dict[str, Any], list[Policy]] | Response:
        """A key's session fields and the policies they name (which must exist), or the problem answer."""
        checked = await json_body(request)
        if isinstance(checked, Response):
            return checked
        values, policies = checked[1], []
        for policy_id in values["policies"]:
            policy = await gateway.policies.get(policy_id)
            if policy is None:
                return problem(400, "Bad Request", f'policies: no policy with id "{policy_id}" (create it with POST '
                                                   "/_admin/policies first)")
            policies.append(policy)
        return values, policies

    def with_secret(session: Session, before: Session | None = None) -> dict[str, Any]:
        """The session as shown, with its HMAC secret when this answer switched signing on (shown once)."""
        shown = session.public()
        if session.hmac_enabled and not (before is not None and before.hmac_enabled):
            shown["hmac_string"] = gateway.keys.hmac_secret(session)
        return shown

    async def create_key(request: Request) -> Response:
        checked = await key_body(request)
        if isinstance(checked, Response):
            return checked
        values, policies = checked
        lifetime = max((p.key_expires_in for p in policies), default=0)
        if not values["expires"] and lifetime > 0:
            values["expires"] = int(time.time()) + lifetime
        try:
            key, session = await gateway.keys.create(values)
        except UsernameTaken as exc:
            return problem(409, "Conflict", str(exc))
        except KeyError_ as exc:
            return problem(400, "Bad Request", str(exc))
        gateway.log.info("API key %s created (alias %r)", session.id, session.alias)
        return _Json({**with_secret(session), "key": key}, status_code=201,
                     headers={"location": f"{request.url.path}/{session.id}", "cache-control": "no-store"})

    async def list_keys(request: Request) -> Response:
        return _Json({"keys": [s.public() for s in await gateway.keys.list()]})

    async def get_key(request: Request) -> Response:
        session = await gateway.keys.get(request.path_params["key_id"])
        if session is None:
            return problem(404, "Not Found", f'no key with id "{request.path_params["key_id"]}"')
        return _Json(session.public())

    async def put_key(request: Request) -> Response:
        checked = await key_body(request)
        if isinstance(checked, Response):
            return checked
        before = await gateway.keys.get(request.path_params["key_id"])
        try:
            session = await gateway.keys.update(request.path_params["key_id"], checked[0])
        except UsernameTaken as exc:
            return problem(409, "Conflict", str(exc))
        except KeyError_ as exc:
            return problem(400, "Bad Request", str(exc))
        if session is None:
            return problem(404, "Not Found", f'no key with id "{request.path_params["key_id"]}" (keys are created '
                                             "with POST /_admin/keys)")
        if request.query_params.get("reset_quota") in ("1", "true"):
            await gateway.limiter.reset_quota(quota_counter(session.id))
        gateway.log.info("API key %s updated", session.id)
        return _Json(with_secret(session, before), headers={"cache-control": "no-store"})

    async def reset_quota(request: Request) -> Response:
        key_id = request.path_params["key_id"]
        if await gateway.keys.get(key_id) is None:
            return problem(404, "Not Found", f'no key with id "{key_id}"')
        await gateway.limiter.reset_quota(quota_counter(key_id))
        gateway.log.info("API key %s: quota reset", key_id)
        return Response(status_code=204)

    async def create_policy(request: Request) -> Response:
        checked = await json_body(request, policy_fields)
        if isinstance(checked, Response):
            return checked
        body, values = checked
        policy = await gateway.policies.create(values, body.get("id") or None)
        if policy is None:
            return problem(409, "Conflict", f'a policy with id "{body["id"]}" exists; PUT /_admin/policies/'
                                            f'{body["id"]} replaces it')
        gateway.log.info("policy %s created", policy.id)
        return _Json(dataclasses.asdict(policy), status_code=201,
                     headers={"location": f"{request.url.path}/{policy.id}"})

    async def list_policies(request: Request) -> Response:
        return _Json({"policies": [dataclasses.asdict(p) for p in await gateway.policies.list()]})

    async def get_policy(request: Request) -> Response:
        policy = await gateway.policies.get(request.path_params["policy_id"])
        if policy is None:
            return problem(404, "Not Found", f'no policy with id "{request.path_params["policy_id"]}"')
        return _Json(dataclasses.asdict(policy))

    async def put_policy(request: Request) -> Response:
        policy_id = request.path_params["policy_id"]
        checked = await json_body(request, policy_fields)
        if isinstance(checked, Response):
            return checked
        body, values = checked
        if body.get("id") not in (None, "", policy_id):
            return problem(400, "Bad Request", f'the body\'s id is "{body["id"]}" but the URL names "{policy_id}"')
        policy = await gateway.policies.update(policy_id, values)
        if policy is None:
            return problem(404, "Not Found", f'no policy with id "{policy_id}" (policies are created with POST '
                                             "/_admin/policies)")
        gateway.log.info("policy %s updated", policy_id)
        return _Json(dataclasses.asdict(policy))

    async def delete_policy(request: Request) -> Response:
        policy_id = request.path_params["policy_id"]
        if not await gateway.policies.delete(policy_id):
            return problem(404, "Not Found", f'no policy with id "{policy_id}"')
        gateway.log.info("policy %s deleted", policy_id)
        return Response(status_code=204)

    async def delete_key(request: Request) -> Response:
        key_id = request.path_params["key_id"]
        if not await gateway.keys.delete(key_id):
            return problem(404, "Not Found", f'no key with id "{key_id}"')
        gateway.log.info("API key %s deleted", key_id)
        return Response(status_code=204)

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, "Not Found", f"no management endpoint at {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return problem(405, "Method Not Allowed", f"{request.method} is not allowed on {request.url.path}")

    async def storage_failed(request: Request, exc: Exception) -> Response:
        response = problem(503, "Service Unavailable", UNAVAILABLE)
        response.headers["retry-after"] = str(UNAVAILABLE_RETRY_AFTER)
        return response

    return Starlette(routes=[
        Route("/apis", list_apis, methods=["GET"]),
        Route("/apis", create, methods=["POST"]),
        Route("/apis/{api_id}", get_api, methods=["GET"]),
        Route("/apis/{api_id}", put_api, methods=["PUT"]),
        Route("/apis/{api_id}", delete_api, methods=["DELETE"]),
        Route("/streams", streams, methods=["GET"]),
        Route("/analytics", analytics, methods=["GET"]),
        Route("/keys", list_keys, methods=["GET"]),
        Route("/keys", create_key, methods=["POST"]),
        Route("/keys/{key_id}", get_key, methods=["GET"]),
        Route("/keys/{key_id}", put_key, methods=["PUT"]),
        Route("/keys/{key_id}", delete_key, methods=["DELETE"]),
        Route("/keys/{key_id}/quota", reset_quota, methods=["DELETE"]),
        Route("/policies", list_policies, methods=["GET"]),
        Route("/policies", create_policy, methods=["POST"]),
        Route("/policies/{policy_id}", get_policy, methods=["GET"]),
        Route("/policies/{policy_id}", put_policy, methods=["PUT"]),
        Route("/policies/{policy_id}", delete_policy, methods=["DELETE"]),
    ], exception_handlers={404: not_found, 405: not_allowed, StorageError: storage_failed})
