"""Validate parsed values against component specs, producing resolved configs.

Every problem is collected (not just the first) and located at its key or value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .. import registry
from ..errors import Diagnostic
from ..spec import ComponentKind, Field
from .durations import parse_duration
from .parse import Locations, Path

TYPE_NAMES = {
    "string": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
    "duration": 'a duration string (e.g. "5s")', "object": "an object", "any": "a value",
    "input": "an input", "processor": "a processor", "output": "an output", "rate_limit": "a rate limit",
}
# Bento's label rule: lowercase letters, digits and underscores, not starting with an underscore.
_LABEL = re.compile(r"[a-z0-9_]+")
# Keys allowed beside the component name in a component block.
_COMPONENT_EXTRAS: dict[str, tuple[str, ...]] = {
    "input": ("label", "processors"),
    "output": ("label", "processors"),
    "processor": ("label",),
    "rate_limit": ("label",),
}


@dataclass
class ComponentConfig:
    kind: ComponentKind
    type: str
    config: Any
    path: str  # dotted config path, for messages ("output.broker.outputs.1.file")
    label: str = ""
    processors: list["ComponentConfig"] = field(default_factory=list)
    line: int = 0
    column: int = 0

    @property
    def where(self) -> str:
        name = f'{self.kind} "{self.label}"' if self.label else f"{self.kind} {self.type}"
        return f"{name} at {self.path}"


def path_text(path: Path) -> str:
    return ".".join(str(p) for p in path) or "(root)"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Validator:
    def __init__(self, locations: Locations) -> None:
        self.loc = locations
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.labels: dict[tuple[Path, str], Path] = {}

    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        self.errors.append(self.loc.error(path, message, at_key=at_key))

    def warn(self, path: Path, message: str) -> None:
        self.warnings.append(self.loc.error(path, message, at_key=True, severity="warning"))

    # -- fields ------------------------------------------------------------
    def field(self, spec: Field, value: Any, path: Path) -> Any:
        if spec.kind == "list":
            if not isinstance(value, list):
                self.error(path, f"{spec.name}: expected a list of {_plural(spec)}, got {_describe(value)}")
                return []
            return [self.single(spec, item, path + (i,)) for i, item in enumerate(value)]
        if spec.kind == "map":
            if not isinstance(value, dict):
                self.error(path, f"{spec.name}: expected an object of {_plural(spec)}, got {_describe(value)}")
                return {}
            return {k: self.single(spec, v, path + (k,)) for k, v in value.items()}
        return self.single(spec, value, path)

    def single(self, spec: Field, value: Any, path: Path) -> Any:
        kind = spec.type
        if kind in ("input", "processor", "output", "rate_limit"):
            return self.component(kind, value, path)  # type: ignore[arg-type]
        if kind == "object":
            return self.object(spec, value, path)
        if kind == "any":
            return value
        name = path_text(path[-1:]) if path else spec.name
        if kind == "string":
            if isinstance(value, str):
                result: Any = value
            elif path in self.loc.raw and not isinstance(value, (list, dict)):
                result = self.loc.raw[path]  # `1.10`, `0123`, `off` as written, as Bento reads them
            elif isinstance(value, bool):
                result = "true" if value else "false"
            elif isinstance(value, (int, float)):
                result = str(value)
            else:
                self.error(path, f"{name}: expected a string, got {_describe(value)}")
                return None
        elif kind == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # `1e3`, `100.0`: a whole number written as a float, as yaml.v3 accepts
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, f"{name}: expected an integer, got {_describe(value)}"
                           + (f" ({value!r})" if isinstance(value, (str, float)) else ""))
                return None
            result = value
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.error(path, f"{name}: expected a number, got {_describe(value)}")
                return None
            result = float(value)
        elif kind == "bool":
            if not isinstance(value, bool):
                self.error(path, f"{name}: expected a boolean (true or false), got {_describe(value)}")
                return None
            result = value
        elif kind == "duration":
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
                return 0.0
            if not isinstance(value, str):
                self.error(path, f'{name}: expected a duration string (e.g. "5s"), got {_describe(value)}')
                return None
            try:
                return parse_duration(value)
            except ValueError as exc:
                self.error(path, f"{name}: {exc}")
                return None
        else:  # pragma: no cover - a spec bug
            raise AssertionError(f"unknown field type {kind}")
        if spec.bloblang and isinstance(result, str):
            # An empty query is Bento's "always" (e.g. a switch case without a check).
            return self.bloblang(spec.bloblang, result, path) if result.strip() else result
        if spec.interpolated and isinstance(result, str) and "${!" in result:
            self.bloblang("interpolation", result, path)
        if spec.options and result not in spec.options and not _option_prefix_ok(spec, result):
            choices = ", ".join(str(o) for o in spec.options)
            self.error(path, f'{name}: "{result}" is not one of: {choices}{registry.suggest(str(result), [str(o) for o in spec.options])}')
        return result

    def object(self, spec: Field, value: Any, path: Path) -> Any:
        if value is None or (spec.allow_scalar and value in ("", {})):
            value = {}
        if not isinstance(value, dict):
            self.error(path, f"{path_text(path[-1:]) if path else spec.name}: expected an object, got {_describe(value)}")
            return None
        result: dict[str, Any] = {}
        known = [c.name for c in spec.children]
        for key in value:
            child = spec.child(key)
            if child is None:
                self.error(path + (key,), f'unknown field "{key}" in {path_text(path)}{registry.suggest(key, known)}'
                           f"; expected one of: {', '.join(known) if known else '(no fields)'}", at_key=True)
            elif child.unsupported:
                self.warn(path + (key,), f'field "{key}" is not supported by AsyncGate and is ignored')
        for child in spec.children:
            if child.name in value and not child.unsupported:
                result[child.name] = self.field(child, value[child.name], path + (child.name,))
            elif child.required:
                self.error(path, f'missing required field "{child.name}" in {path_text(path)}')
            elif not child.unsupported:
                result[child.name] = self.default(child, path + (child.name,))
        return result

    def default(self, spec: Field, path: Path) -> Any:
        default = spec.default
        if spec.type == "object" and spec.kind == "scalar" and isinstance(default, dict):
            return self.object(spec, dict(default), path)
        if spec.type == "duration" and isinstance(default, str):
            return parse_duration(default)
        if isinstance(default, (list, dict)):
            return type(default)(default)
        return default

    def bloblang(self, kind: str, source: str, path: Path) -> Any:
        """Compile Bloblang now, reporting a parse error at its place in the file.

        Returns the source text: factories compile it again into their own objects, which
        keeps the validated config plain data (printable, comparable, serialisable)."""
        from ..bloblang import ParseError, compile_interpolation, compile_mapping, compile_query

        compile_fn = {"mapping": compile_mapping, "query": compile_query,
                      "interpolation": compile_interpolation}[kind]
        try:
            compile_fn(source)
        except ParseError as exc:
            line, column = self.loc.inside(path, exc.line, exc.column)
            detail = str(exc).split("\n", 1)
            where = f"{path_text(path[-1:])}: " if path else ""
            snippet = f"\n{detail[1]}" if len(detail) > 1 else ""
            self.errors.append(Diagnostic(self.loc.file, line, column,
                                          f"{where}invalid {kind}: {exc.explanation}{snippet}"))
        return source

    # -- components --------------------------------------------------------
    def component(self, kind: ComponentKind, value: Any, path: Path) -> ComponentConfig | None:
        where = path_text(path)
        if not isinstance(value, dict) or not value:
            self.error(path, f"{where}: expected {TYPE_NAMES[kind]} (an object with one {kind} type as its key), "
                             f"got {_describe(value)}")
            return None
        extras = _COMPONENT_EXTRAS[kind]
        types = [k for k in value if k not in extras]
        if not types:
            self.error(path, f"{where}: no {kind} type given; one of: {', '.join(registry.names(kind))}")
            return None
        if len(types) > 1:
            self.error(path + (types[1],), f'{where}: expected one {kind} type, found several: {", ".join(types)}',
                       at_key=True)
            return None
        name = types[0]
        spec = registry.get(kind, name)
        if spec is None:
            self.error(path + (name,), f'unknown {kind} type "{name}"{registry.suggest(name, registry.names(kind))}',
                       at_key=True)
            return None
        line, column = self.loc.key(path + (name,))
        result = ComponentConfig(kind, spec.name, None, path_text(path + (name,)), line=line, column=column)
        label = value.get("label", "")
        if label not in ("", None):
            if not isinstance(label, str):
                label = self.loc.raw.get(path + ("label",), str(label))
            if not _LABEL.fullmatch(label) or label.startswith("_"):
                self.error(path + ("label",), f'label "{label}" must contain only lowercase letters, digits and "_", '
                                              f'and not start with "_" (as in Bento)')
            elif (_label_scope(path), label) in self.labels:
                first = self.labels[(_label_scope(path), label)]
                line, column = self.loc.value(first + ("label",))
                self.error(path + ("label",), f'label "{label}" is used twice '
                           f"(first at {path_text(first)}, line {line} column {column})")
            else:
                self.labels[(_label_scope(path), label)] = path
            result.label = str(label)
        if "processors" in value:
            procs = self.field(Field("processors", "processor", kind="list"), value["processors"], path + ("processors",))
            result.processors = [p for p in procs if p is not None]
        result.config = self.field(spec.config, value[name], path + (name,))
        return result


def _label_scope(path: Path) -> Path:
    """Labels are unique within a stream (as in Bento's streams mode); resources share the file's scope."""
    if "streams" in path:
        i = path.index("streams")
        return path[: i + 2]
    return ()


def _plural(spec: Field) -> str:
    return {"input": "inputs", "processor": "processors", "output": "outputs", "rate_limit": "rate limits",
            "object": "objects", "string": "strings", "int": "integers"}.get(spec.type, "values")


def _option_prefix_ok(spec: Field, value: Any) -> bool:
    """Options ending in ':' accept any suffix (e.g. the `delim:X` codec)."""
    return isinstance(value, str) and any(
        isinstance(o, str) and o.endswith(":") and value.startswith(o) and len(value) > len(o) for o in spec.options)

