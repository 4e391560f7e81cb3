"""Runs every worked documentation example of the Bloblang conformance corpus.

Cases listed in conformance_known_failures.txt are expected to fail (strict xfail):
fixing one makes the run fail until its line is removed, so the list cannot go stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.bloblang import compile_mapping
from engine.message import Message

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "conformance" / "bloblang" / "doc_examples.json"
if not CORPUS.exists():  # CI lays shared/ beside the checkout
    CORPUS = Path("/work/shared/conformance/bloblang/doc_examples.json")
NON_JSON = CORPUS.with_name("doc_examples_non_json.json")
KNOWN_FAILURES = Path(__file__).with_name("conformance_known_failures.txt")
EXACT_TEXT = {"format_json", "format_yaml"}


def _load_known() -> dict[str, tuple[str, str, str]]:
    """Keys are the case index in doc_examples.json, or ``non_json:<index>``."""
    known: dict[str, tuple[str, str, str]] = {}
    for line in KNOWN_FAILURES.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        index, name, mapping, reason = line.split("\t")
        known[index] = (name, json.loads(mapping), reason)
    return known


CASES: list[dict[str, Any]] = json.loads(CORPUS.read_text()) if CORPUS.exists() else []
NON_JSON_CASES: list[dict[str, Any]] = json.loads(NON_JSON.read_text()) if NON_JSON.exists() else []
KNOWN = _load_known()


def _tagged(v: Any) -> Any:
    """Keep int and float apart when comparing (4 is not 4.0)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    if isinstance(v, list):
        return [_tagged(x) for x in v]
    return {k: _tagged(x) for k, x in v.items()}


def _matches(case: dict[str, Any], got: str) -> bool:
    expected = case["output"]
    if case["name"] in EXACT_TEXT:
        return got == expected
    try:
        want = json.loads(expected)
    except ValueError:
        return got == expected
    try:
        have = json.loads(got)
    except ValueError:
        return False
    return _tagged(have) == _tagged(want)


def _params(cases: list[dict[str, Any]], prefix: str = "") -> list[Any]:
    out = []
    for i, case in enumerate(cases):
        marks = []
        key = f"{prefix}{i}"
        if key in KNOWN:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[key][2]))
        out.append(pytest.param(i, id=f"{i}-{case['name']}", marks=marks))
    return out


@pytest.mark.skipif(not CASES, reason="conformance corpus not present")
@pytest.mark.parametrize("index", _params(CASES))
def test_doc_example(index: int) -> None:
    case = CASES[index]
    out = compile_mapping(case["mapping"]).apply(Message(case["input"].encode()))
    assert out is not None
    got = out.raw.decode()
    assert _matches(case, got), f"mapping:\n{case['mapping']}\ninput: {case['input']}\nwant: {case['output']}\ngot:  {got}"


@pytest.mark.skipif(not NON_JSON_CASES, reason="conformance corpus not present")
@pytest.mark.parametrize("index", _params(NON_JSON_CASES, "non_json:"))
def test_non_json_doc_example(index: int) -> None:
    """Plain text, YAML and XML outputs compare as text (ignoring a trailing newline)."""
    case = NON_JSON_CASES[index]
    out = compile_mapping(case["mapping"]).apply(Message(case["input"].encode()))
    assert out is not None
    assert out.raw.decode().rstrip("\n") == case["output"].rstrip("\n")


@pytest.mark.skipif(not CASES, reason="conformance corpus not present")
def test_known_failures_list_is_current() -> None:
    """Every listed case must still exist with the same name and mapping."""
    for key, (name, mapping, reason) in KNOWN.items():
        cases, index = (NON_JSON_CASES, int(key.split(":")[1])) if key.startswith("non_json:") else (CASES, int(key))
        assert index < len(cases), f"known failure {key} is beyond the corpus"
        assert cases[index]["name"] == name, f"known failure {key}: corpus name changed"
        assert cases[index]["mapping"] == mapping, f"known failure {key}: corpus mapping changed"
        assert reason.strip(), f"known failure {key} has no reason"
