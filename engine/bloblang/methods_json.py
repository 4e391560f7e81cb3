"""Bloblang methods over structured documents.

- ``json_schema(schema)``: validate with ``jsonschema`` (Draft 7 unless the schema names its
  ``$schema``; formats are checked), returning the value or failing with Bento's error text
  (``<field> <description>``, one line per violation);
- ``json_path(expression)``: JSONPath (Goessner syntax plus filters such as
  ``$.body[?(@.type=='text')]``) with ``jsonpath-ng``; as in Bento (PaesslerAG/jsonpath) a
  definite path (only names and single indices) yields the value itself, any other path (``..``,
  ``*``, filters, slices, unions) yields an array of the matches, objects visited in key order;
- ``diff(other)`` / ``patch(changelog)``: the changelog of github.com/r3labs/diff/v3 that Bento
  wraps: an array of ``{"Type": "create"|"update"|"delete", "Path": [...], "From": x, "To": y}``
  sorted by path (see ``_diff``/``_apply`` for the exact rules).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import msgspec

from .registry import method
from .values import QueryError, deep_copy, describe, expected, exportable, values_equal


def _text(v: Any, what: str = "string") -> str:
    t = type(v)
    if t is str:
        return v
    if t is bytes:
        return v.decode("utf-8", "replace")
    raise expected(what, v)


# -- json_schema --------------------------------------------------------------------------
@lru_cache(maxsize=128)
def _schema_validator(text: str) -> Any:
    import jsonschema

    try:
        schema = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise QueryError(f"failed to parse json schema definition: {exc}") from None
    if type(schema) not in (dict, bool):
        raise QueryError(f"failed to parse json schema definition: expected an object, got {describe(schema)}")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise QueryError(f"invalid json schema: {exc.message}") from None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _schema_type(v: Any) -> str:
    """A value's JSON Schema type as gojsonschema names it in errors."""
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "boolean"
    if t is int or (t is float and v.is_integer()):
        return "integer"
    if t is float:
        return "number"
    if t is str:
        return "string"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    return type(v).__name__


_REQUIRED_RE = re.compile(r"""^(['"])(.*)\1 is a required property$""", re.DOTALL)


def _schema_error(err: Any) -> str:
    """``<field> <description>`` with gojsonschema's field and (lower-cased) description."""
    field = ".".join(str(p) for p in err.absolute_path) or "(root)"
    kind, want = err.validator, err.validator_value
    if kind == "type":
        types = want if isinstance(want, list) else [want]
        desc = f"invalid type. expected: {', '.join(types)}, given: {_schema_type(err.instance)}"
    elif kind == "required":
        m = _REQUIRED_RE.match(err.message)
        desc = f"{m.group(2)} is required" if m else err.message.lower()
    elif kind == "enum":
        desc = f"{field} must be one of the following: " + ", ".join(
            msgspec.json.encode(x).decode() for x in want)
    elif kind == "const":
        desc = f"{field} does not match: {msgspec.json.encode(want).decode()}"
    elif kind == "minimum":
        desc = f"must be greater than or equal to {want}"
    elif kind == "maximum":
        desc = f"must be less than or equal to {want}"
    elif kind == "exclusiveMinimum":
        desc = f"must be greater than {want}"
    elif kind == "exclusiveMaximum":
        desc = f"must be less than {want}"
    elif kind == "minLength":
        desc = f"string length must be greater than or equal to {want}"
    elif kind == "maxLength":
        desc = f"string length must be less than or equal to {want}"
    elif kind == "pattern":
        desc = f"does not match pattern '{want}'"
    elif kind == "minItems":
        desc = f"array must have at least {want} items"
    elif kind == "maxItems":
        desc = f"array must have at most {want} items"
    elif kind == "format":
        desc = f"does not match format '{want}'"
    else:
        desc = err.message.lower()
    return f"{field} {desc}"


@method("json_schema", "schema")
def json_schema(v: Any, schema: Any) -> Any:
    validator = _schema_validator(_text(schema))
    errors = [_schema_error(e) for e in validator.iter_errors(exportable(v))]
    if errors:
        raise QueryError("\n".join(errors))
    return v


# -- json_path ------------------------------------------------------------------------------
def _definite(node: Any) -> bool:
    """Whether a path names exactly one location (only names and single indices)."""
    from jsonpath_ng import jsonpath as jp

    t = type(node)
    if t is jp.Root or t is jp.This:
        return True
    if t is jp.Child:
        return _definite(node.left) and _definite(node.right)
    if t is jp.Fields:
        return len(node.fields) == 1 and node.fields[0] != "*"
    if t is jp.Index:
        return len(getattr(node, "indices", (None,))) == 1
    return False


def _steps(node: Any) -> list[Any]:
    from jsonpath_ng import jsonpath as jp

    if type(node) is jp.Child:
        return _steps(node.left) + _steps(node.right)
    if type(node) in (jp.Root, jp.This):
        return []
    return [node]


@lru_cache(maxsize=256)
def _json_path(expression: str) -> tuple[Any, bool]:
    from jsonpath_ng.ext import parse

    try:
        path = parse(expression)
    except Exception as exc:  # noqa: BLE001 - jsonpath-ng's lexer, parser and ply raise unrelated types
        raise QueryError(f"failed to evaluate json path expression: {exc}") from None
    return path, _definite(path)


def _sorted_keys(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: _sorted_keys(v[k]) for k in sorted(v)}
    if t is list:
        return [_sorted_keys(x) for x in v]
    return v


def _missing(path: Any, v: Any) -> QueryError:
    """Why a definite path found nothing, naming the step that failed."""
    for step in _steps(path):
        if hasattr(step, "fields"):
            key = step.fields[0]
            if type(v) is not dict:
                return QueryError(f"unknown key {key}: expected an object, got {describe(v)}")
            if key not in v:
                return QueryError(f"unknown key {key}")
            v = v[key]
        else:
            index = step.indices[0] if hasattr(step, "indices") else step.index
            if type(v) is not list:
                return QueryError(f"index {index}: expected an array, got {describe(v)}")
            if not -len(v) <= index < len(v):
                return QueryError(f"index {index} out of bounds for an array of length {len(v)}")
            v = v[index]
    return QueryError("json path matched nothing")


@method("json_path", "expression")
def json_path(v: Any, expression: Any) -> Any:
    path, definite = _json_path(_text(expression))
    if definite:
        found = path.find(v)
        if not found:
            raise _missing(path, v)
        return found[0].value
    return [m.value for m in path.find(_sorted_keys(v))]


# -- diff / patch -------------------------------------------------------------------------
# r3labs/diff semantics for JSON values:
# - a key only in the new object: "create" with the whole new value; a key only in the old one:
#   "delete" with the whole old value; null on one side only: "update";
# - two values of different types fail ("types do not match"); numbers are one type;
# - objects are compared key by key, other scalars by value ("update" when they differ);
# - arrays ignore order: an element of one array that has no equal, not yet paired element in the
#   other is "missing"; missing elements are then compared index by index (so a changed element
#   is an update inside it, an extra one a create, a removed one a delete at its old index);
# - at the top level an object compared with null gives a delete per key, anything else compared
#   with null one delete of the whole value at the empty path.
_ABSENT: Any = object()


def _kind(v: Any) -> Any:
    t = type(v)
    if t is bool:
        return bool
    if t is int or t is float:
        return float
    return t


def _change(kind: str, path: list[str], old: Any, new: Any) -> dict[str, Any]:
    return {"Type": kind, "Path": path, "From": old, "To": new}


def _diff(path: list[str], a: Any, b: Any, out: list[dict[str, Any]]) -> None:
    if a is _ABSENT:
        out.append(_change("create", path, None, b))
        return
    if b is _ABSENT:
        out.append(_change("delete", path, a, None))
        return
    if a is None or b is None:
        if a is not b:
            out.append(_change("update", path, a, b))
        return
    ka = _kind(a)
    if ka is not _kind(b):
        raise QueryError(f"types do not match: {describe(a)} and {describe(b)} at path {path}")
    if ka is dict:
        for k, x in a.items():
            _diff([*path, k], x, b.get(k, _ABSENT), out)
        for k, y in b.items():
            if k not in a:
                _diff([*path, k], _ABSENT, y, out)
    elif ka is list:
        _diff_list(path, a, b, out)
    elif not values_equal(a, b):
        out.append(_change("update", path, a, b))


def _same(a: Any, b: Any) -> bool:
    found: list[dict[str, Any]] = []
    try:
        _diff([], a, b, found)
    except QueryError:
        return False
    return not found


def _unpaired(items: list[Any], other: list[Any]) -> dict[int, Any]:
    used: set[int] = set()
    out: dict[int, Any] = {}
    for i, x in enumerate(items):
        for j, y in enumerate(other):
            if j not in used and _same(y, x):
                used.add(j)
                break
        else:
            out[i] = x
    return out


def _diff_list(path: list[str], a: list[Any], b: list[Any], out: list[dict[str, Any]]) -> None:
    missing_a = _unpaired(a, b)
    missing_b = _unpaired(b, a)
    keys = list(missing_a) + [i for i in missing_b if i not in missing_a]
    for i in keys:
        _diff([*path, str(i)], missing_a.get(i, _ABSENT), missing_b.get(i, _ABSENT), out)


@method("diff", "other")
def diff(v: Any, other: Any) -> Any:
    if v is None:
        return None
    out: list[dict[str, Any]] = []
    if other is None and type(v) is dict:
        out = [_change("delete", [k], x, None) for k, x in v.items()]
    elif other is None:
        out = [_change("delete", [], v, None)]
    else:
        _diff([], v, other, out)
    out.sort(key=lambda c: ".".join(c["Path"]))
    return out


_FIELDS = ("type", "path", "from", "to")


def _changes(changelog: Any) -> list[tuple[str, list[str], Any, Any]]:
    """Decode a changelog (field names match case-insensitively, as Go's mapstructure does)."""
    if type(changelog) is not list:
        raise QueryError(f"expected the changelog to be an array of changes, got {describe(changelog)}")
    out = []
    for i, entry in enumerate(changelog):
        if type(entry) is not dict:
            raise QueryError(f"change {i}: expected an object, got {describe(entry)}")
        fields: dict[str, Any] = {}
        for k, x in entry.items():
            if k.lower() in _FIELDS:
                fields[k.lower()] = x
        kind = fields.get("type")
        if kind not in ("create", "update", "delete"):
            raise QueryError(f"change {i}: expected Type to be create, update or delete, got {describe(kind)}")
        path = fields.get("path", [])
        if type(path) is not list:
            raise QueryError(f"change {i}: expected Path to be an array of strings, got {describe(path)}")
        segs = []
        for seg in path:
            if type(seg) is str:
                segs.append(seg)
            elif type(seg) is int:
                segs.append(str(seg))
            else:
                raise QueryError(f"change {i}: expected Path to be an array of strings, got element {describe(seg)}")
        out.append((kind, segs, fields.get("from"), fields.get("to")))
    return out


def _index(seg: str, i: int) -> int:
    try:
        return int(seg)
    except ValueError:
        raise QueryError(f"change {i}: invalid index in path. {seg} is not a number") from None


def _apply(root: Any, change: tuple[str, list[str], Any, Any], i: int) -> Any:
    """Apply one change to ``root`` (a private deep copy, edited in place); returns the new root."""
    kind, path, _old, new = change
    if not path:
        return deep_copy(new) if kind != "delete" else root
    node = root
    for depth, seg in enumerate(path[:-1]):
        t = type(node)
        if t is dict:
            child = node.get(seg, _ABSENT)
            if child is _ABSENT or child is None:
                if kind == "delete":
                    return root  # nothing there to delete
                child = node[seg] = {}
        elif t is list:
            n = _index(seg, i)
            if 0 <= n < len(node):
                child = node[n]
                if child is None:
                    if kind == "delete":
                        return root
                    child = node[n] = {}
            elif kind == "create":
                child = {}
                node.append(child)
            else:
                raise QueryError(f"change {i}: value index {n} is invalid at path {'.'.join(path[:depth + 1])}")
        else:
            raise QueryError(f"change {i}: unable to apply at path {'.'.join(path)}: "
                             f"{describe(node)} at {'.'.join(path[:depth]) or 'the root'} is not an object or array")
        node = child
    last = path[-1]
    t = type(node)
    if t is dict:
        if kind == "delete":
            node.pop(last, None)
        else:
            node[last] = deep_copy(new)
    elif t is list:
        n = _index(last, i)
        valid = 0 <= n < len(node)
        if kind == "create" and not valid:
            node.append(deep_copy(new))
        elif not valid:
            raise QueryError(f"change {i}: value index {n} is invalid at path {'.'.join(path)}")
        elif kind == "delete":
            # r3labs/diff removes an element by moving the last one into its place, which keeps the
            # indices of the other deletions of the same changelog valid.
            node[n] = node[-1]
            node.pop()
        else:
            node[n] = deep_copy(new)
    else:
        raise QueryError(f"change {i}: unable to apply at path {'.'.join(path)}: "
                         f"{describe(node)} at {'.'.join(path[:-1]) or 'the root'} is not an object or array")
    return root


@method("patch", "changelog")
def patch(v: Any, changelog: Any) -> Any:
    if v is None:
        return None
    changes = _changes(changelog)
    root = deep_copy(v)
    for i, change in enumerate(changes):
        root = _apply(root, change, i)
    return root
