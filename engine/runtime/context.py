"""What factories get to build a component: its config block, shared resources, and builders for children."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import registry
from ..component import Component, Input, Output, Processor
from ..errors import ComponentError

if TYPE_CHECKING:
    from ..config.validate import ComponentConfig
    from .http import RouteTable
    from .inproc import InprocHub
    from .outputs import OutputRunner


class BuildContext:
    def __init__(self, *, stream: str, resources: dict[str, Any], hub: "InprocHub",
                 rate_limit_configs: dict[str, "ComponentConfig"] | None = None,
                 logger: logging.Logger | None = None, http: dict[str, Any] | None = None,
                 routes: "RouteTable | None" = None) -> None:
        self.stream = stream
        self.resources = resources
        self.hub = hub
        self.rate_limit_configs = rate_limit_configs or {}
        self.base_logger = logger or logging.getLogger("asyncgate")
        self.http = http or {}
        # Where http_server components register their endpoints (see runtime/http.py).
        self.routes = routes

    def logger(self, component: "ComponentConfig") -> logging.Logger:
        name = component.label or component.path
        return self.base_logger.getChild(f"{self.stream}.{name}")

    def _build(self, cc: "ComponentConfig") -> Component:
        spec = registry.get(cc.kind, cc.type)
        if spec is None:  # validation already rejected unknown names
            raise ComponentError(cc.path, f"unknown {cc.kind} {cc.type}")
        try:
            component = spec.factory(cc.config, self)
        except ComponentError:
            raise
        except Exception as exc:  # noqa: BLE001 - report which block failed, not a traceback
            raise ComponentError(cc.where, f"cannot create: {exc}") from exc
        component.bind(cc, self)
        return component

    def build_input(self, cc: "ComponentConfig") -> Input:
        from .inputs import wrap_input

        return wrap_input(self._build(cc), cc, self)  # type: ignore[arg-type]

    def build_processor(self, cc: "ComponentConfig") -> Processor:
        return self._build(cc)  # type: ignore[return-value]

    def build_processors(self, ccs: list["ComponentConfig"]) -> list[Processor]:
        return [self.build_processor(cc) for cc in ccs]

    def build_output(self, cc: "ComponentConfig") -> "OutputRunner":
        from .outputs import OutputRunner

        output = self._build(cc)
        return OutputRunner(output, cc, self)  # type: ignore[arg-type]

    def rate_limit(self, label: str) -> Any:
        """The shared rate-limit resource with this label, built on first use."""
        if label not in self.resources:
            cc = self.rate_limit_configs.get(label)
            if cc is None:
                known = ", ".join(sorted(self.rate_limit_configs)) or "none are defined"
                raise ComponentError("rate_limit", f'no rate_limit_resources entry labelled "{label}" '
                                     f"(defined: {known}){registry.suggest(label, list(self.rate_limit_configs))}")
            self.resources[label] = self._build(cc)
        return self.resources[label]
