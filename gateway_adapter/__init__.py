"""The gateway: API definitions (OpenAPI documents carrying streams) served as one ASGI application.

    from gateway_adapter import create_app
    app = create_app(apis=["apis/"])          # an ASGI app: serve it, or mount it in your own app

See gateway_adapter/app.py for embedding (lifespan) and README "Serving APIs".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .apis import ApiDefinition, load_api, load_api_text
    from .app import create_app
    from .config import GatewayConfig, load_gateway_config
    from .gateway import Gateway

__all__ = ["ApiDefinition", "Gateway", "GatewayConfig", "create_app", "load_api", "load_api_text",
           "load_gateway_config"]

_WHERE = {
    "ApiDefinition": "apis", "load_api": "apis", "load_api_text": "apis",
    "create_app": "app", "Gateway": "gateway",
    "GatewayConfig": "config", "load_gateway_config": "config",
}


def __getattr__(name: str) -> Any:  # imported on first use: `asyncgate lint` stays light
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway_adapter' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
