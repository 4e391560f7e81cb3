"""A table of Bloblang cases (cases/*.yaml): each a mapping, an input, and what must come out.

Keys of a case:
  name          what it shows (the test id)
  mapping       the mapping
  input         the input document as a JSON value (default {}); or input_raw: the payload text
  meta          the input message's metadata
  output        the expected output, compared with the output bytes parsed as JSON, ints and
                floats kept apart (3 is not 3.0); a string is compared with the raw output, as
                a string root is written raw
  output_raw    the expected output bytes, as UTF-8 text
  output_meta   the exact metadata of the output message
  deleted       true: the mapping drops the message
  error         fragments of the expected run-time MappingError
  parse_error   {fragments, line, column} of the expected ParseError
  input_meta_after  the input message's metadata after the mapping (it must not change)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.bloblang import MappingError, ParseError, compile_mapping
from engine.message import Message

CASES_DIR = Path(__file__).with_name("cases")
KEYS = {"name", "mapping", "input", "input_raw", "meta", "output", "output_raw", "output_meta", "deleted",
        "error", "parse_error", "input_meta_after"}
OUTCOMES = ("output", "output_raw", "output_meta", "deleted", "error", "parse_error")


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            params.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return params


CASES = _load()


def _tagged(v: Any) -> Any:
    """Keep int and float apart when comparing."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    if isinstance(v, list):
        return [_tagged(x) for x in v]
    if isinstance(v, dict):
        return {k: _tagged(x) for k, x in v.items()}
    return v


def test_the_table_is_large_and_well_formed() -> None:
    assert len(CASES) >= 150
    names = set()
    for param in CASES:
        case = param.values[0]
        assert set(case) <= KEYS, (case["name"], set(case) - KEYS)
        assert "mapping" in case and any(k in case for k in OUTCOMES), case["name"]
        assert param.id not in names, f"duplicate case {param.id}"
        names.add(param.id)


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    mapping_text = case["mapping"]
    if "parse_error" in case:
        expected = case["parse_error"]
        with pytest.raises(ParseError) as info:
            compile_mapping(mapping_text)
        for fragment in expected["fragments"]:
            assert fragment in str(info.value)
        assert (info.value.line, info.value.column) == (expected["line"], expected["column"]), str(info.value)
        return

    mapping = compile_mapping(mapping_text)
    payload = case["input_raw"].encode() if "input_raw" in case else json.dumps(case.get("input", {})).encode()
    meta = dict(case["meta"]) if "meta" in case else None
    msg = Message(payload, meta)

    if "error" in case:
        with pytest.raises(MappingError) as info:
            mapping.apply(msg)
        for fragment in case["error"]:
            assert fragment in str(info.value), str(info.value)
        assert msg.raw == payload  # a failing mapping leaves its input untouched
        return

    out = mapping.apply(msg)
    if case.get("deleted"):
        assert out is None
        return
    assert out is not None, "the message was deleted"
    if "output_raw" in case:
        assert out.raw.decode() == case["output_raw"]
    if "output" in case:
        expected = case["output"]
        if isinstance(expected, str):  # a string root is written raw, not as JSON
            assert out.raw.decode() == expected
        else:
            assert _tagged(json.loads(out.raw)) == _tagged(expected), out.raw
    if "output_meta" in case:
        assert _tagged(out.meta) == _tagged(case["output_meta"])
    if "input_meta_after" in case:
        assert msg.meta == case["input_meta_after"]
