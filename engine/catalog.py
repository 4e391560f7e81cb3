"""Renders the component specs: `asyncgate list` (text, JSON, JSON Schema) and the Markdown docs."""

from __future__ import annotations

from typing import Any

import orjson

from . import registry
from .spec import COMPONENT_KINDS, REQUIRED, ComponentSpec, Field

_KIND_BY_ARG = {"inputs": "input", "processors": "processor", "outputs": "output", "rate-limits": "rate_limit"}
_SCALAR_SCHEMA = {"string": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
                  "bool": {"type": "boolean"}, "duration": {"type": "string",
                               "pattern": r"^$|^0$|^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$"},
                  "any": {}}


def _kinds(arg: str | None) -> list[str]:
    return [_KIND_BY_ARG[arg]] if arg else list(COMPONENT_KINDS)


def render(kind_arg: str | None, fmt: str) -> str:
    kinds = _kinds(kind_arg)
    if fmt == "json":
        return orjson.dumps({k: [spec_to_json(s) for s in registry.specs(k)] for k in kinds},  # type: ignore[arg-type]
                            option=orjson.OPT_INDENT_2).decode()
    if fmt == "jsonschema":
        return orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2).decode()
    lines: list[str] = []
    for kind in kinds:
        specs = registry.specs(kind)  # type: ignore[arg-type]
        lines.append(f"{kind.replace('_', ' ').title()}s:")
        width = max((len(s.name) for s in specs), default=0)
        for s in specs:
            alias = f" (alias: {', '.join(s.aliases)})" if s.aliases else ""
            lines.append(f"  {s.name.ljust(width)}  {s.summary}{alias}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _default_json(value: Any) -> Any:
    return None if value is REQUIRED else value


def field_to_json(field: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"name": field.name, "type": field.type, "kind": field.kind,
                           "description": field.description}
    if field.default is not REQUIRED:
        out["default"] = field.default
    else:
        out["required"] = True
    for attr in ("options", "examples"):
        if getattr(field, attr):
            out[attr] = list(getattr(field, attr))
    for flag in ("advanced", "interpolated", "unsupported"):
        if getattr(field, flag):
            out[flag] = True
    if field.children:
        out["children"] = [field_to_json(c) for c in field.children]
    return out


def spec_to_json(spec: ComponentSpec) -> dict[str, Any]:
    return {"name": spec.name, "kind": spec.kind, "status": spec.status, "summary": spec.summary,
            "description": spec.description, "aliases": list(spec.aliases), "config": field_to_json(spec.config),
            "examples": list(spec.examples)}


# -- JSON Schema -------------------------------------------------------------

def field_schema(field: Field) -> dict[str, Any]:
    if field.type in COMPONENT_KINDS:
        single: dict[str, Any] = {"$ref": f"#/$defs/{field.type}"}
    elif field.type == "object":
        props = {c.name: field_schema(c) for c in field.children}
        single = {"type": "object", "properties": props, "additionalProperties": False}
        required = [c.name for c in field.children if c.required]
        if required:
            single["required"] = required
        if field.allow_scalar:
            single = {"anyOf": [single, {"type": "null"}, {"const": ""}]}
    else:
        single = dict(_SCALAR_SCHEMA[field.type])
        if field.options and not any(str(o).endswith(":") for o in field.options):
            single["enum"] = list(field.options)
    if field.kind == "list":
        schema: dict[str, Any] = {"type": "array", "items": single}
    elif field.kind == "map":
        schema = {"type": "object", "additionalProperties": single}
    else:
        schema = single
    if field.description:
        schema["description"] = field.description
    if field.default is not REQUIRED and field.default is not None:
        schema["default"] = field.default
    return schema


def _component_schema(kind: str) -> dict[str, Any]:
    extras: dict[str, Any] = {"label": {"type": "string", "pattern": "^$|^[a-z0-9][a-z0-9_]*$",
                                        "description": "Lowercase letters, digits and underscores, unique "
                                                       "in the config."}}
    if kind in ("input", "output"):
        extras["processors"] = {"type": "array", "items": {"$ref": "#/$defs/processor"}}
    alternatives = []
    for spec in registry.specs(kind):  # type: ignore[arg-type]
        for name in (spec.name, *spec.aliases):
            alternatives.append({
                "type": "object",
                "properties": {name: field_schema(spec.config), **extras},
                "required": [name], "additionalProperties": False,
                "description": spec.summary,
            })
    return {"oneOf": alternatives}


def json_schema() -> dict[str, Any]:
    from .config.loader import OPENAPI_STREAMING_SPEC, SINGLE_SPEC, STREAMS_SPEC

    single = field_schema(SINGLE_SPEC)
    streams = field_schema(STREAMS_SPEC)
    # An OpenAPI API definition: only its `x-tyk-streaming` block is described; the rest is left open.
    openapi = {"type": "object", "properties": {"x-tyk-streaming": field_schema(OPENAPI_STREAMING_SPEC)},
               "anyOf": [{"required": ["openapi"]}, {"required": ["x-tyk-streaming"]}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "AsyncGate stream config",
        "anyOf": [single, streams, openapi],
        "$defs": {kind: _component_schema(kind) for kind in COMPONENT_KINDS},
    }


# -- Markdown docs -----------------------------------------------------------

def spec_markdown(spec: ComponentSpec) -> str:
    lines = [f"# `{spec.name}` ({spec.kind.replace('_', ' ')})", "", spec.summary, ""]
    if spec.aliases:
        lines += [f"Aliases: {', '.join(f'`{a}`' for a in spec.aliases)}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    if spec.examples:
        lines += ["## Examples", ""]
        for example in spec.examples:
            lines += ["```yaml", example.strip(), "```", ""]
    lines += ["## Fields", ""]
    fields = spec.config.children if spec.config.type == "object" else [spec.config]
    if not fields:
        lines += ["This component has no fields.", ""]
    for f in _flatten(fields, ""):
        lines += _field_markdown(*f)
    return "\n".join(lines).rstrip() + "\n"


def _flatten(fields: list[Field], prefix: str) -> list[tuple[str, Field]]:
    out: list[tuple[str, Field]] = []
    for f in fields:
        name = f"{prefix}{f.name}"
        out.append((name, f))
        if f.type == "object" and f.children:
            out.extend(_flatten(f.children, name + ("[]." if f.kind == "list" else ".")))
    return out


def _field_markdown(name: str, field: Field) -> list[str]:
    type_text = field.type if field.kind == "scalar" else f"{field.kind} of {field.type}"
    lines = [f"### `{name}`", "", field.description or "", "", f"Type: `{type_text}`  "]
    if field.unsupported:
        lines.append("Accepted for Bento compatibility and ignored (a warning is printed).  ")
    elif field.default is REQUIRED:
        lines.append("Required.  ")
    else:
        lines.append(f"Default: `{orjson.dumps(field.default).decode()}`  ")
    if field.options:
        lines.append("Options: " + ", ".join(f"`{o}`" for o in field.options) + "  ")
    if field.interpolated:
        lines.append("This field supports `${! ... }` interpolation.  ")
    if field.examples:
        lines.append("Examples: " + ", ".join(f"`{orjson.dumps(e).decode()}`" for e in field.examples) + "  ")
    lines.append("")
    return lines


def write_docs(directory: str) -> list[str]:
    """Write docs/components/<kind>s/<name>.md and an index; return the paths written."""
    import pathlib

    root = pathlib.Path(directory)
    written: list[str] = []
    index = ["# Components", "", "Generated from the component specs by `make docs`; do not edit by hand.", ""]
    for kind in COMPONENT_KINDS:
        folder = root / f"{kind}s"
        folder.mkdir(parents=True, exist_ok=True)
        index += [f"## {kind.replace('_', ' ').title()}s", ""]
        for spec in registry.specs(kind):
            path = folder / f"{spec.name}.md"
            path.write_text(spec_markdown(spec))
            written.append(str(path))
            index.append(f"- [`{spec.name}`]({kind}s/{spec.name}.md): {spec.summary}")
        index.append("")
    (root / "README.md").write_text("\n".join(index))
    written.append(str(root / "README.md"))
    return written


def docs_main() -> None:
    import sys

    for path in write_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/components"):
        print(path)


if __name__ == "__main__":
    docs_main()
