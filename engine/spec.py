"""Component specs: the single description that drives validation, `asyncgate list`,
the JSON Schema export and the generated component docs."""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Literal

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()

# Scalar types plus the nested-component types; `object` fields have `children`.
FieldType = Literal[
    "string", "int", "float", "bool", "duration", "any", "object",
    "input", "processor", "output", "rate_limit",
]
Kind = Literal["scalar", "list", "map"]
ComponentKind = Literal["input", "processor", "output", "rate_limit"]
COMPONENT_KINDS: tuple[ComponentKind, ...] = ("input", "processor", "output", "rate_limit")


@dataclass
class Field:
    name: str
    type: FieldType
    description: str = ""
    default: Any = REQUIRED
    kind: Kind = "scalar"
    children: list["Field"] = dc_field(default_factory=list)
    options: tuple[Any, ...] = ()
    examples: tuple[Any, ...] = ()
    advanced: bool = False
    interpolated: bool = False
    # A Bento field we recognise but do not implement: accepted with a warning.
    unsupported: bool = False
    # For "object" fields: a scalar shorthand (e.g. `drop: ""`) is allowed.
    allow_scalar: bool = False
    # A string field holding Bloblang: "mapping" or "query". It is compiled when the config
    # loads, so a mapping that does not parse is a located config error, never a runtime one.
    bloblang: Literal["mapping", "query", None] = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and not self.unsupported

    def child(self, name: str) -> "Field | None":
        for child in self.children:
            if child.name == name:
                return child
        return None


def string(name: str, description: str = "", default: Any = REQUIRED, **kw: Any) -> Field:
    return Field(name, "string", description, default, **kw)


def integer(name: str, description: str = "", default: Any = REQUIRED, **kw: Any) -> Field:
    return Field(name, "int", description, default, **kw)


def number(name: str, description: str = "", default: Any = REQUIRED, **kw: Any) -> Field:
    return Field(name, "float", description, default, **kw)


def boolean(name: str, description: str = "", default: Any = REQUIRED, **kw: Any) -> Field:
    return Field(name, "bool", description, default, **kw)


def duration(name: str, description: str = "", default: Any = REQUIRED, **kw: Any) -> Field:
    return Field(name, "duration", description, default, **kw)


def obj(name: str, description: str = "", *children: Field, default: Any = REQUIRED, **kw: Any) -> Field:
    return Field(name, "object", description, default, children=list(children), **kw)


def unsupported(name: str, description: str = "") -> Field:
    return Field(name, "any", description or "Accepted for Bento compatibility; not implemented.",
                 default=None, unsupported=True)


def batching_field() -> Field:
    """Bento's batch policy, shared by inputs and outputs."""
    return obj(
        "batching", "Groups messages into batches before they move on.",
        integer("count", "Flush after this many messages (0 disables).", 0),
        integer("byte_size", "Flush once the batch holds this many bytes (0 disables).", 0),
        duration("period", "Flush a partial batch after this long (empty disables).", ""),
        unsupported("check", "A Bloblang query that flushes the batch when true."),
        unsupported("processors", "Processors applied to each flushed batch."),
        default={}, advanced=True,
    )


@dataclass
class ComponentSpec:
    name: str
    kind: ComponentKind
    summary: str
    config: Field
    factory: Callable[..., Any]
    description: str = ""
    status: Literal["stable", "beta", "experimental"] = "stable"
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    category: str = ""
