"""The management API, mounted at /_admin behind BearerAuth (only when an admin secret is configured).

    GET    /_admin/apis          the APIs (summaries)
    POST   /_admin/apis          add one (body: the OpenAPI document, JSON or YAML); 409 if its id exists
    GET    /_admin/apis/{id}     its document (as JSON; `${VAR}` references are shown, not their values)
    PUT    /_admin/apis/{id}     add or replace it, live
    DELETE /_admin/apis/{id}     remove it, live: its routes 404 and its clients are closed with 1001
    GET    /_admin/streams       every running stream instance with its state and counters
    GET    /_admin/analytics     analytics records (?api_id=&since=&limit=; see analytics.py)
    POST   /_admin/keys          create an API key (body: session fields, see keys.py); the answer holds the
                                 key, once: only its salted hash is kept
    GET    /_admin/keys          the keys: ids, aliases and session fields, never keys or hashes
    GET    /_admin/keys/{id}     one key's session
    PUT    /_admin/keys/{id}     replace its session fields (the key itself stays)
    DELETE /_admin/keys/{id}     revoke it

A definition with errors changes nothing: 400 with a problem body listing each located error. Changes are
kept in memory (files are the durable source; see `--watch`).
"""

from __future__ import annotations

import dataclasses
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
from .keys import KeyError_, session_fields
from .problems import PROBLEM_TYPE, problem_body

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

    async def json_body(request: Request) -> Any:
        if read_only:
            return problem(409, "Conflict", "the gateway runs several worker processes, each with its own in-memory "
                                            "key store: a key created here would reach one of them only")
        text = await body_text(request)
        if isinstance(text, Response):
            return text
        try:
            return session_fields(orjson.loads(text))
        except orjson.JSONDecodeError:
            return problem(400, "Bad Request", "the body is not JSON")
        except KeyError_ as exc:
            return problem(400, "Bad Request", str(exc))

    async def create_key(request: Request) -> Response:
        values = await json_body(request)
        if isinstance(values, Response):
            return values
        key, session = await gateway.keys.create(values)
        gateway.log.info("API key %s created (alias %r)", session.id, session.alias)
        return _Json({**session.public(), "key": key}, status_code=201,
                     headers={"location": f"{request.url.path}/{session.id}", "cache-control": "no-store"})

    async def list_keys(request: Request) -> Response:
        return _Json({"keys": [s.public() for s in await gateway.keys.list()]})

    async def get_key(request: Request) -> Response:
        session = await gateway.keys.get(request.path_params["key_id"])
        if session is None:
            return problem(404, "Not Found", f'no key with id "{request.path_params["key_id"]}"')
        return _Json(session.public())

    async def put_key(request: Request) -> Response:
        values = await json_body(request)
        if isinstance(values, Response):
            return values
        session = await gateway.keys.update(request.path_params["key_id"], values)
        if session is None:
            return problem(404, "Not Found", f'no key with id "{request.path_params["key_id"]}" (keys are created '
                                             "with POST /_admin/keys)")
        gateway.log.info("API key %s updated", session.id)
        return _Json(session.public())

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
    ], exception_handlers={404: not_found, 405: not_allowed})
