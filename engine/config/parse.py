"""Parse YAML or JSON into plain values while remembering where each one stood."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from ..errors import ConfigError, Diagnostic
from .env import interpolate_env

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

Path = tuple[Any, ...]


@dataclass
class Locations:
    """1-based (line, column) of each value and each mapping key, by path."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def value(self, path: Path) -> tuple[int, int]:
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key(self, path: Path) -> tuple[int, int]:
        return self.keys.get(path) or self.value(path)

    def error(self, path: Path, message: str, *, at_key: bool = False, severity: str = "error") -> Diagnostic:
        line, col = self.key(path) if at_key else self.value(path)
        return Diagnostic(self.file, line, col, message, severity)  # type: ignore[arg-type]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def parse_document(text: str, file: str, environ: Mapping[str, str] | None = None) -> tuple[Any, Locations]:
    """Parse one YAML/JSON document; raise ConfigError with located messages."""
    original = text
    locations = Locations(file)
    # Substituted in the raw text, as Benthos does, so a variable may stand anywhere (flow lists too).
    text, missing = interpolate_env(text, environ)
    if missing:
        raise ConfigError([
            Diagnostic(file, *_offset_position(text_before, offset),
                       f"environment variable {name} is not set and has no default "
                       f"(write ${{{name}:default}} to give one)")
            for text_before in [original] for offset, name in missing
        ])
    if file.endswith(".json"):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError([Diagnostic(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")]) from None
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed document"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise ConfigError([Diagnostic(file, line, col, f"invalid YAML: {problem}{context}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Diagnostic(file, 1, 1, f"invalid YAML: {exc}")]) from None
    if not nodes or nodes[0] is None:
        raise ConfigError([Diagnostic(file, 1, 1, "the config is empty")])
    if len(nodes) > 1:
        line, col = _mark(nodes[1])
        raise ConfigError([Diagnostic(file, line, col, "expected one document, found several (---)")])

    errors: list[Diagnostic] = []

    def convert(node: yaml.Node, path: Path) -> Any:
        locations.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = convert_scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, (str, int, float, bool)):
                    errors.append(Diagnostic(file, *_mark(key_node), "mapping keys must be plain scalars"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    errors.append(Diagnostic(file, *_mark(key_node), f'duplicate key "{key}"'))
                    continue
                locations.keys[path + (key,)] = _mark(key_node)
                result[key] = convert(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, path + (i,)) for i, item in enumerate(node.value)]
        return convert_scalar(node, path)

    def convert_scalar(node: yaml.ScalarNode, path: Path) -> Any:
        return _construct(node)

    value = convert(nodes[0], ())
    if errors:
        raise ConfigError(errors)
    return value, locations


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


_constructor = yaml.SafeLoader("")


def _construct(node: yaml.ScalarNode) -> Any:
    """Construct a scalar with YAML's own resolver (so `5` is int, `true` bool, `~` None)."""
    tag = node.tag
    if tag == "tag:yaml.org,2002:str":
        return node.value
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value
