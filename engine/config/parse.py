"""Parse YAML or JSON into plain values while remembering where each one stood."""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import yaml

from ..errors import ConfigError, Diagnostic
from .env import OffsetMap, interpolate_env

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

Path = tuple[Any, ...]

# Deeper documents are refused with a located error rather than overflowing the interpreter's stack.
MAX_DEPTH = 100
MAX_VALUES = 1_000_000


@dataclass
class Locations:
    """1-based (line, column) of each value and each mapping key, by path."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    styles: dict[Path, str | None] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def inside(self, path: Path, line: int, column: int) -> tuple[int, int]:
        """The file position of (LINE, COLUMN) counted inside the string value at PATH."""
        vline, vcol = self.value(path)
        style = self.styles.get(path)
        if style in ("|", ">"):  # block scalar: its text starts on the next line, indented
            file_line = vline + line
            text = self.lines[file_line - 1] if 0 < file_line <= len(self.lines) else ""
            return file_line, len(text) - len(text.lstrip(" ")) + column
        if line == 1:
            return vline, vcol + column - (0 if style in ('"', "'") else 1)
        return vline + line - 1, column
    # The text as written of each plain (unquoted) scalar that did not resolve to a string: a string
    # field given `1.10`, `0123`, `off` or `2024-01-01` gets that text, as Bento (yaml.v3) gives it.
    raw: dict[Path, str] = field(default_factory=dict)

    def value(self, path: Path) -> tuple[int, int]:
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key(self, path: Path) -> tuple[int, int]:
        return self.keys.get(path) or self.value(path)

    def error(self, path: Path, message: str, *, at_key: bool = False, severity: str = "error") -> Diagnostic:
        line, col = self.key(path) if at_key else self.value(path)
        return Diagnostic(self.file, line, col, message, severity)  # type: ignore[arg-type]


class _Positions:
    """(line, column), 1-based, of an offset in the interpolated text, as it stood in the original text."""

    def __init__(self, original: str, offsets: OffsetMap) -> None:
        self.offsets = offsets
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", original)]

    def __call__(self, offset: int) -> tuple[int, int]:
        offset = self.offsets.original(offset)
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1


def looks_like_json(text: str, file: str) -> bool:
    return file.lower().endswith(".json") or text.lstrip("\ufeff \t\r\n")[:1] in ("{", "[")


def parse_document(text: str, file: str, environ: Mapping[str, str] | None = None) -> tuple[Any, Locations]:
    """Parse one YAML/JSON document; raise ConfigError with located messages."""
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the document
    original = text
    locations = Locations(file, lines=text.splitlines())
    offsets = OffsetMap()
    # Substituted in the raw text, as Benthos does, so a variable may stand anywhere (flow lists too).
    text, missing = interpolate_env(text, environ, offsets)
    position = _Positions(original, offsets)
    if missing:
        raise ConfigError([
            Diagnostic(file, *_offset_position(original, offset),
                       f"environment variable {name} is not set and has no default "
                       f"(write ${{{name}:default}} to give one)")
            for offset, name in missing
        ])
    if looks_like_json(text, file):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            if file.lower().endswith(".json"):
                raise ConfigError([Diagnostic(file, *position(exc.pos), f"invalid JSON: {exc.msg}")]) from None
            # Not a .json file: a YAML flow document that is not strict JSON; YAML judges it below.
        except RecursionError:
            raise ConfigError([Diagnostic(file, 1, 1, f"the document is nested too deeply "
                                                      f"(more than {MAX_DEPTH} levels)")]) from None
        else:
            return _JsonReader(text, locations, position).document(), locations
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = position(mark.index) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed document"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise ConfigError([Diagnostic(file, line, col, f"invalid YAML: {problem}{context}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Diagnostic(file, 1, 1, f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Diagnostic(file, 1, 1, f"the document is nested too deeply "
                                                  f"(more than {MAX_DEPTH} levels)")]) from None
    if not nodes or nodes[0] is None or (isinstance(nodes[0], yaml.ScalarNode) and nodes[0].value == ""
                                         and not nodes[0].style):  # e.g. a lone `---`
        raise ConfigError([Diagnostic(file, 1, 1, "the config is empty")])
    if len(nodes) > 1:
        line, col = position(nodes[1].start_mark.index)
        raise ConfigError([Diagnostic(file, line, col, "expected one document, found several (---)")])

    errors: list[Diagnostic] = []

    def mark(node: yaml.Node) -> tuple[int, int]:
        return position(node.start_mark.index)

    _check_expanded_size(nodes[0], file, mark)

    def convert(node: yaml.Node, path: Path) -> Any:
        locations.values[path] = mark(node)
        if len(path) > MAX_DEPTH:
            raise ConfigError([Diagnostic(file, *mark(node), f"the document is nested too deeply "
                                                             f"(more than {MAX_DEPTH} levels)")])
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    errors.append(Diagnostic(file, *mark(key_node), "mapping keys must be plain scalars"))
                    continue
                # Keys are names: taken as written (`on:` is the key "on", not a boolean).
                key = key_node.value
                if key == "<<" and not key_node.style:
                    errors.append(Diagnostic(file, *mark(key_node), "YAML merge keys (<<) are not supported"))
                    continue
                if key in result:
                    errors.append(Diagnostic(file, *mark(key_node), f'duplicate key "{key}"'))
                    continue
                locations.keys[path + (key,)] = mark(key_node)
                result[key] = convert(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, path + (i,)) for i, item in enumerate(node.value)]
        locations.styles[path] = node.style or None  # '"', "'", "|", ">" or None for plain
        value = _construct(node)
        if not node.style and not isinstance(value, str) and value is not None:
            locations.raw[path] = node.value
        return value

    value = convert(nodes[0], ())
    if errors:
        raise ConfigError(errors)
    return value, locations


def _check_expanded_size(root: yaml.Node, file: str, mark: Callable[[yaml.Node], tuple[int, int]]) -> None:
    """Refuse recursive aliases, and documents whose aliases expand past MAX_VALUES ("billion laughs"),
    before expanding anything: sizes are counted once per node, not once per use."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if closing:
            open_nodes.discard(id(node))
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_VALUES + 1)
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise ConfigError([Diagnostic(file, *mark(child), "this anchored node contains an alias of itself")])
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] > MAX_VALUES:
        raise ConfigError([Diagnostic(file, *mark(root), f"the document holds more than {MAX_VALUES} values "
                                                         f"once its aliases are expanded")])


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
    except (yaml.YAMLError, ValueError, OverflowError):
        return node.value


class _JsonReader:
    """Builds the values of a document already known to be valid JSON, noting where each stood.

    JSON is read as JSON (not as YAML, whose 1.1 rules would take `1e5` for a string and refuse
    surrogate-pair escapes)."""

    _WS = re.compile(r"[ \t\n\r]*")
    _NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
    _CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None,
                                  "NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}

    def __init__(self, text: str, locations: Locations, position: Callable[[int], tuple[int, int]]) -> None:
        self.text = text
        self.loc = locations
        self.position = position
        self.errors: list[Diagnostic] = []

    def document(self) -> Any:
        value, _ = self.value(0, ())
        if self.errors:
            raise ConfigError(self.errors)
        return value

    def skip(self, i: int) -> int:
        return self._WS.match(self.text, i).end()  # type: ignore[union-attr]

    def value(self, i: int, path: Path) -> tuple[Any, int]:
        i = self.skip(i)
        self.loc.values[path] = self.position(i)
        if len(path) > MAX_DEPTH:
            raise ConfigError([Diagnostic(self.loc.file, *self.position(i), f"the document is nested too deeply "
                                                                            f"(more than {MAX_DEPTH} levels)")])
        char = self.text[i]
        if char == "{":
            result: dict[str, Any] = {}
            i = self.skip(i + 1)
            if self.text[i] == "}":
                return result, i + 1
            while True:
                i = self.skip(i)
                key_at = i
                key, i = json.decoder.scanstring(self.text, i + 1)
                i = self.skip(i) + 1  # the colon
                if key in result:
                    self.errors.append(Diagnostic(self.loc.file, *self.position(key_at), f'duplicate key "{key}"'))
                    _, i = self.value(i, path + ("\0duplicate",))
                else:
                    self.loc.keys[path + (key,)] = self.position(key_at)
                    result[key], i = self.value(i, path + (key,))
                i = self.skip(i)
                if self.text[i] == "}":
                    return result, i + 1
                i += 1  # the comma
        if char == "[":
            items: list[Any] = []
            i = self.skip(i + 1)
            if self.text[i] == "]":
                return items, i + 1
            while True:
                item, i = self.value(i, path + (len(items),))
                items.append(item)
                i = self.skip(i)
                if self.text[i] == "]":
                    return items, i + 1
                i += 1
        if char == '"':
            self.loc.styles[path] = '"'
            return json.decoder.scanstring(self.text, i + 1)
        number = self._NUMBER.match(self.text, i)
        if number and number.end() > i:
            integer, frac, exp = number.groups()
            if frac or exp:
                value: Any = float(number.group(0))
            else:
                value = int(integer)
            self.loc.raw[path] = number.group(0)
            return value, number.end()
        for word, constant in self._CONSTANTS.items():
            if self.text.startswith(word, i):
                if constant is not None:
                    self.loc.raw[path] = word
                return constant, i + len(word)
        raise ConfigError([Diagnostic(self.loc.file, *self.position(i), "invalid JSON")])  # pragma: no cover
