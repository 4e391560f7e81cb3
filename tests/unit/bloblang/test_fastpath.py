"""The mapping fast paths (fastpath.py, engine._fast.jsonscan) change nothing but speed.

Every case of the Bloblang corpora is run through a compiled mapping as it is (fields read from the
bytes, flat mappings run on the bytes by `apply_batch`) and through the same mapping with the fast
paths turned off, and the outcomes must be identical: output bytes, metadata, errors, deletions.
Random flat mappings over random documents (numbers near the int/float edges, strings, nulls,
nested values, odd spellings) do the same. The suite runs once with the extensions and once with
ASYNCGATE_NO_EXTENSIONS=1 (the pure-Python twins)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import _fast
from engine.bloblang import MappingError, ParseError, compile_mapping, fastpath
from engine.bloblang.parser import Parser
from engine.message import Message, share_meta

HERE = Path(__file__).parent


# -- the analyses ---------------------------------------------------------------------------------
@pytest.mark.parametrize("src, keys", [
    ("root.device = this.device\nroot.f = this.temp * 1.8 + 32", ("device", "temp")),
    ("root = this.a.b.c", ("a",)),
    ("root = foo", ("foo",)),
    ("root.x = this.a.map_each(x -> x + this.b)", ("a", "b")),
    ("root.x = this.a.map_each(v -> v.c)", ("a",)),
    ("root.x = this.a.map_each(this.c)", ("a", "c")),  # conservative: a query argument counts
    ("root.y = match this.a { 1 => this.b, _ => c }", ("a",)),
    ("root.z = this.a.(q -> q.b + this.c)", ("a", "c")),
    ("root.z = this.a.(b)", ("a",)),
    ("let v = this.a\nroot = if $v > 1 { this.b } else { meta(\"k\") }", ("a", "b")),
    ("root.n = this.a.from(0) + this.b", ("b",)),
    ("map m { root = this.z }\nroot = this.a.apply(\"m\")", ("a",)),
    ("root = 1\nmeta x = @y", ()),
    ("root.c = content()\nroot.j = json(\"x.y\")", ()),
    ("if this.ok { root.a = this.q[0] } else { root.b = this.r.slice(1, this.s) }", ("ok", "q", "r", "s")),
])
def test_top_level_reads(src: str, keys: tuple[str, ...]) -> None:
    assert fastpath.top_level_reads(Parser(src).parse_mapping()) == keys


@pytest.mark.parametrize("src", [
    "root = this",
    "root.a = this\nroot.b = this.b",
    "root = match { this.a > 1 => 1, _ => 2 }",
    "root = this.(d -> d.a)",
    "root.k = this.keys()",
    "root = this.apply(\"m\")\nmap m { root = this.a }",
    "if this.a { root = this }",
])
def test_reading_the_whole_document_turns_projection_off(src: str) -> None:
    assert fastpath.top_level_reads(Parser(src).parse_mapping()) is None


def test_flat_plan() -> None:
    plan = fastpath.flat_plan(Parser("root.device = this.device\nroot.f = this.temp * 1.8 + 32").parse_mapping())
    assert plan == (("device", "temp"), [("device", [("key", 0)]),
                                         ("f", [("key", 1), ("const", 1.8), ("op", "*"), ("const", 32), ("op", "+")])])


@pytest.mark.parametrize("src", [
    "root = this.a", "root.a.b = this.a", "root.a = this.a\nroot.a = 2", "root.a = this.a.b",
    "root.a = this.a % 2", "root.a = this.a.uppercase()", "root.a = -this.a", "meta a = this.a",
    "let a = 1\nroot.a = $a", "root.a = this.a\nif this.b { root.b = 1 }", "root.a = deleted()", "root.a = [1]",
])
def test_not_flat(src: str) -> None:
    assert fastpath.flat_plan(Parser(src).parse_mapping()) is None


def test_the_mapping_chooses_its_fast_paths_once() -> None:
    m = compile_mapping("root.device = this.device\nroot.f = this.temp * 1.8 + 32")
    assert m._flat is not None
    assert (m._project is not None) == (_fast.jsonscan is not _fast._jsonscan_py)
    whole = compile_mapping("root = this")
    assert whole._project is None and whole._flat is None


# -- fast paths against the general path ----------------------------------------------------------
def general(src: str) -> Any:
    m = compile_mapping(src)
    m._project = None
    m._flat = None
    return m


def outcome(m: Any, payload: bytes, meta: dict[str, Any] | None, batch: bool) -> Any:
    """What applying M to one message gives, comparable across runs."""
    msg = Message(payload, dict(meta) if meta else None)
    if batch:
        errors: list[str] = []
        out = m.apply_batch([msg], lambda failed, exc: errors.append(str(exc)))
        if errors:
            return ("error", errors[0], [o is msg for o in out])
        if not out:
            return ("deleted",)
        result = out[0]
    else:
        try:
            result = m.apply(msg)
        except MappingError as exc:
            return ("error", str(exc))
        if result is None:
            return ("deleted",)
    try:
        raw = result.raw
    except (TypeError, ValueError) as exc:  # e.g. an integer orjson cannot write
        raw = f"unencodable: {exc}"
    return ("ok", raw, dict(result.meta), result.error, msg.meta == (meta or {}))


def check_same(src: str, payload: bytes, meta: dict[str, Any] | None = None) -> bool:
    """Assert the fast and the general path agree on SRC over PAYLOAD; False when the mapping's
    result is not deterministic (now(), uuid_v4()...) or it does not compile."""
    try:
        fast, slow = compile_mapping(src), general(src)
    except ParseError:
        return False
    for batch in (False, True):
        want = outcome(slow, payload, meta, batch)
        if want != outcome(slow, payload, meta, batch):
            return False
        assert outcome(fast, payload, meta, batch) == want, (src, payload, batch)
    return True


def _yaml_cases() -> list[Any]:
    out = []
    for path in sorted((HERE / "cases").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            if "parse_error" in case:
                continue
            payload = (case["input_raw"].encode() if "input_raw" in case
                       else json.dumps(case.get("input", {})).encode())
            out.append(pytest.param(case["mapping"], payload, case.get("meta"), id=f"{path.stem}: {case['name']}"))
    return out


@pytest.mark.parametrize("src, payload, meta", _yaml_cases())
def test_yaml_cases_agree(src: str, payload: bytes, meta: dict[str, Any] | None) -> None:
    check_same(src, payload, meta)


def _corpus() -> list[dict[str, Any]]:
    path = HERE.parents[3] / "shared" / "conformance" / "bloblang" / "doc_examples.json"
    if not path.exists():
        path = Path("/work/shared/conformance/bloblang/doc_examples.json")
    return json.loads(path.read_text()) if path.exists() else []


def test_conformance_corpus_agrees() -> None:
    cases = _corpus()
    if not cases:
        pytest.skip("conformance corpus not available")
    checked = 0
    for case in cases:
        payload = case["input"] if isinstance(case["input"], str) else json.dumps(case["input"])
        checked += check_same(case["mapping"], payload.encode())
    assert checked > len(cases) // 2


PLAIN_MAPPINGS = [
    "root.device = this.device\nroot.f = this.temp * 1.8 + 32",
    "root.a = this.a\nroot.b = this.b\nroot.s = this.a + this.b",
    "root.q = this.a / this.b\nroot.d = this.a - this.b * 2",
    "root.x = this.missing\nroot.y = 7\nroot.z = \"lit\"\nroot.t = true\nroot.n = null",
    "root.v = this.c",
]
PAYLOADS = [
    b'{"device":"d","temp":20}', b'{"device":"d","temp":-18.5}', b'{"temp":"hot"}', b'{"temp":null}',
    b'{"a":1,"b":2,"c":{"z":[1,2.50,"\\u00e9"],"a":null}}', b'{"a":1,"b":0}', b'{"a":1.5,"b":"x"}',
    b'{"a":9007199254740993,"b":1}', b'{"a":9223372036854775807,"b":1}', b'{"a":1e300,"b":1e300}',
    b'{"a":2,"b":3.0}', b'{"a":"x","b":"y"}', b'not json', b'[1,2]', b'{"a":1,"a":"dup","b":2}',
    b'{"a":-0.0,"b":0}', b'{"a":"\\ud83d\\ude00","b":"\xf0\x9f\x98\x80","c":"\\n"}', b"",
]


@pytest.mark.parametrize("src", PLAIN_MAPPINGS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_flat_mappings_agree(src: str, payload: bytes) -> None:
    assert check_same(src, payload, {"k": "v"})


def test_apply_batch_mixes_fast_and_general_messages_in_order() -> None:
    m = compile_mapping("root.a = this.a * 2")
    batch = [Message(b'{"a":1}'), Message(b'{"a":"x"}'), Message.from_structured({"a": 3}),
             Message(b'{"a":4}', share_meta({"m": 1}))]
    failed: list[tuple[Message, str]] = []
    out = m.apply_batch(batch, lambda msg, exc: failed.append((msg, str(exc))))
    assert [o.raw for o in out] == [b'{"a":2}', b'{"a":"x"}', b'{"a":6}', b'{"a":8}']
    assert out[1] is batch[1] and failed == [(batch[1], failed[0][1])] and "failed assignment" in failed[0][1]
    assert out[3].meta == {"m": 1} and batch[3].meta == {"m": 1}


def test_apply_batch_keeps_error_flags_and_drops_deleted() -> None:
    m = compile_mapping('root = if this.drop == true { deleted() } else { this }')
    flagged = Message(b'{"drop":false}')
    flagged.error = "earlier"
    out = m.apply_batch([Message(b'{"drop":true}'), flagged], lambda msg, exc: None)
    assert len(out) == 1 and out[0].error == "earlier"
    flat = compile_mapping("root.a = this.a")
    src = Message(b'{"a":1}')
    src.error = "earlier"
    assert flat.apply_batch([src], lambda msg, exc: None)[0].error == "earlier"


# -- random flat mappings over random documents -------------------------------------------------
FIELDS = ["a", "b", "c"]
literals = (st.integers(-10, 10) | st.integers(-(2 ** 63), 2 ** 63) | st.floats(allow_nan=False, allow_infinity=False)
            | st.sampled_from(["\"s\"", "null", "true", "0", "0.0", "2.5", "1e3", "9007199254740993"]))


def _literal(v: Any) -> str:
    if isinstance(v, str):
        return v
    text = repr(v)
    return text if "inf" not in text else "1"


exprs = st.recursive(
    st.sampled_from([f"this.{f}" for f in FIELDS] + FIELDS) | literals.map(_literal),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    max_leaves=4)
field_values = (st.integers(-100, 100) | st.integers(-(2 ** 65), 2 ** 65) | st.floats(allow_nan=False, allow_infinity=False)
                | st.sampled_from([0, -0.0, 2 ** 53, 2 ** 53 + 1, 1e308, None, True, "x", "é\n", [1, {"b": 2.5}], {}]))


def _spell(v: Any, rnd: random.Random) -> str:
    if type(v) is float and rnd.random() < 0.5:
        return f"{v:.17e}"
    if type(v) is int and rnd.random() < 0.2 and abs(v) < 2 ** 53:
        return f"{v}.0"
    return json.dumps(v, ensure_ascii=rnd.random() < 0.5)


@settings(max_examples=300, deadline=None)
@given(statements=st.lists(exprs, min_size=1, max_size=4),
       doc=st.dictionaries(st.sampled_from(FIELDS + ["z"]), field_values, max_size=4),
       seed=st.integers(0, 2 ** 32))
def test_random_flat_mappings_agree(statements: list[str], doc: dict[str, Any], seed: int) -> None:
    rnd = random.Random(seed)
    src = "\n".join(f"root.o{i} = {e}" for i, e in enumerate(statements))
    payload = ("{" + ",".join(f"{json.dumps(k)}:{_spell(v, rnd)}" for k, v in doc.items()) + "}").encode()
    check_same(src, payload)


@pytest.mark.parametrize("src, payload, expected", [
    (PLAIN_MAPPINGS[0], b'{"device":"d","temp":-18.5}', b'{"device":"d","f":-1.3000000000000043}'),
    (PLAIN_MAPPINGS[1], b'{"a":1,"b":2.5}', b'{"a":1,"b":2.5,"s":3.5}'),
    (PLAIN_MAPPINGS[3], b'{}', b'{"n":null,"t":true,"x":null,"y":7,"z":"lit"}'),
    (PLAIN_MAPPINGS[4], b'{"c":{"z":[1,2.50],"a":null}}', b'{"v":{"a":null,"z":[1,2.5]}}'),
])
def test_flat_mappings_run_on_the_bytes(src: str, payload: bytes, expected: bytes) -> None:
    m = compile_mapping(src)
    assert m._flat is not None
    assert m._flat([payload]) == [expected]  # handled by the flat path itself, not the fallback
