"""engine._fast.jsonscan: the Cython scanner and its pure-Python twin give what msgspec's full decode
gives (Projector) and what Bento prints (FlatMap), or None (= decode in full); one body, both."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from engine import _fast
from engine._fast import _jsonscan_py
from tests.twins import twin_params


IMPLS = twin_params("jsonscan")


@pytest.fixture(params=IMPLS)
def scan(request: pytest.FixtureRequest) -> Any:
    return request.param


def _all_impls() -> list[Any]:
    return [p.values[0] for p in IMPLS if p.values[0] is not None]


def same(a: Any, b: Any) -> bool:
    """Equal, with ints and floats apart and -0.0 apart from 0.0."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b and math.copysign(1, a) == math.copysign(1, b) or (math.isnan(a) and math.isnan(b))
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def reference(data: bytes, keys: tuple[str, ...]) -> dict[str, Any] | None:
    try:
        doc = msgspec.json.decode(data)
    except (msgspec.DecodeError, ValueError, RecursionError):  # invalid UTF-8 raises UnicodeDecodeError
        return None
    if type(doc) is not dict:
        return None
    return {k: doc[k] for k in keys if k in doc}


def check_projection(impl: Any, data: bytes, keys: tuple[str, ...], must_handle: bool = False) -> None:
    got = impl.Projector(keys).project(data)
    want = reference(data, keys)
    if want is None:
        assert got is None, (data, keys, got)
    elif got is None:
        assert not must_handle, (data, keys)
    else:
        assert same(got, want), (data, keys, got, want)


# -- examples -------------------------------------------------------------------------------------
DOC = (b'{"device":"sensor-1","temp":21.5,"n":-3,"ok":true,"off":false,"none":null,'
       b'"tags":["a",{"b":[1,2.5e3]}],"obj":{"x":"y"},"big":123456789012345678901234567890,'
       b'"uni":"h\xc3\xa9llo \xf0\x9f\x98\x80","esc":"a\\"b\\\\c\\u00e9\\n"}')


def test_projects_only_the_keys_asked_for(scan: Any) -> None:
    got = scan.Projector(["temp", "device", "missing"]).project(DOC)
    assert got == {"temp": 21.5, "device": "sensor-1"}
    assert list(got) == ["temp", "device"]


def test_every_kind_of_value_decodes_as_msgspec(scan: Any) -> None:
    keys = ("device", "temp", "n", "ok", "off", "none", "tags", "obj", "big", "uni", "esc")
    got = scan.Projector(keys).project(DOC)
    assert got is not None
    assert same(got, reference(DOC, keys))
    assert got["esc"] == 'a"b\\c\u00e9\n' and got["uni"] == "h\u00e9llo \U0001F600"


def test_whitespace_and_repeated_keys(scan: Any) -> None:
    data = b' \t\r\n{ "a" : 1 , "b":[ ] ,"a" : {"c" : 2} }\n '
    assert scan.Projector(["a", "b"]).project(data) == {"a": {"c": 2}, "b": []}


@pytest.mark.parametrize("data", [
    b"", b"   ", b"[1,2]", b'"text"', b"12", b"null",
    b'{"a":1', b'{"a":1}}', b'{"a":1} x', b'{"a":1,}', b'{"a" 1}', b'{a:1}', b"{'a':1}",
    b'{"a":01}', b'{"a":1.}', b'{"a":.5}', b'{"a":+1}', b'{"a":1e}', b'{"a":-}', b'{"a":NaN}',
    b'{"a":tru}', b'{"a":nul}', b'{"a":"x\x01"}', b'{"a":"\\x"}', b'{"a":"\\u12"}',
    b'{"a":"\xff"}', b'{"b":"\xc3"}', b'{"b":"\xed\xa0\x80"}', b'{"b":"\xf5\x80\x80\x80"}',
    b'{"a":1e400}', b'\xef\xbb\xbf{"a":1}', b'{"a":1}\x00',
    b'{"b":"\\ud800"}', b'{"b":"\\udc00"}',
])
def test_invalid_or_unusual_documents_are_left_to_the_full_decode(scan: Any, data: bytes) -> None:
    assert scan.Projector(["a", "b"]).project(data) is None


def test_surrogate_pairs_and_escaped_keys_fall_back_or_agree(scan: Any) -> None:
    for data in (b'{"a":"\\ud83d\\ude00"}', b'{"\\u0061":1}', b'{"a":2,"\\u0061":1}'):
        check_projection(scan, data, ("a",))


def test_deep_nesting_is_left_to_msgspec(scan: Any) -> None:
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert scan.Projector(["a"]).project(deep) is None
    shallow = b'{"a":' + b"[" * 50 + b"]" * 50 + b"}"
    check_projection(scan, shallow, ("a",))


def test_not_bytes_is_left_to_the_caller(scan: Any) -> None:
    assert scan.Projector(["a"]).project(bytearray(b'{"a":1}')) is None


@pytest.mark.parametrize("text", [
    "0", "-0", "1", "-1", "123456789012345678", "-123456789012345678", "1234567890123456789",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
    "0.0", "-0.0", "1.0", "1.5", "-18.5", "0.1", "1e2", "1E+2", "1e-2", "2.5e-3", "123.456e-2",
    "1e22", "1e23", "1e-22", "1e-23", "9007199254740993.0", "0.30000000000000004", "1.7976931348623157e308",
    "5e-324", "2.2250738585072014e-308", "1e-400", "123456789012345.6789", "0.000001", "1e16", "4.35",
])
def test_numbers_decode_exactly_as_msgspec(scan: Any, text: str) -> None:
    check_projection(scan, (f'{{"a":{text}}}').encode(), ("a",), must_handle=True)


@pytest.mark.parametrize("count", [0, 1, 63, 64])
def test_many_keys(scan: Any, count: int) -> None:
    keys = tuple(f"k{i}" for i in range(count))
    doc = {k: i for i, k in enumerate(keys)}
    assert scan.Projector(keys).project(orjson.dumps(doc)) == doc


def test_too_many_keys_is_refused(scan: Any) -> None:
    with pytest.raises(ValueError):
        scan.Projector([f"k{i}" for i in range(65)])


def test_module_in_use_matches_environment() -> None:
    if _fast.USE_EXTENSIONS:
        pytest.importorskip("engine._fast._jsonscan")
        assert _fast.jsonscan is not _jsonscan_py
    else:
        assert _fast.jsonscan is _jsonscan_py


# -- random documents ---------------------------------------------------------------------------
KEYS = ["a", "b", "c", "é", "k\"q", ""]
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4),
                      max_leaves=12)
documents = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), values, max_size=8)


def _number_text(v: float, rnd: random.Random) -> str:
    if type(v) is int:
        return str(v)
    text = repr(v)
    choice = rnd.randrange(4)
    if choice == 1 and "e" not in text:
        text = text + "0"  # 1.50
    elif choice == 2:
        text = f"{v:.17e}"
    elif choice == 3:
        text = text.replace("e", "E")
    return text


def encode(v: Any, rnd: random.Random) -> str:
    """JSON text with random whitespace, number spellings and string escapes."""

    def ws() -> str:
        return rnd.choice(["", "", " ", "\n", " \t "])

    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, (int, float)):
        return _number_text(v, rnd)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=rnd.random() < 0.3)
    if isinstance(v, list):
        return "[" + ws() + ("," + ws()).join(encode(x, rnd) for x in v) + ws() + "]"
    items = [encode(k, rnd) + ws() + ":" + ws() + encode(x, rnd) for k, x in v.items()]
    if items and rnd.random() < 0.2:
        items.append(items[0])  # a repeated key
    return "{" + ws() + ("," + ws()).join(items) + ws() + "}"


@settings(max_examples=400, deadline=None)
@given(doc=documents, seed=st.integers(0, 2 ** 32), keys=st.lists(st.sampled_from(KEYS), max_size=5, unique=True))
def test_random_documents_match_msgspec(doc: dict[str, Any], seed: int, keys: list[str]) -> None:
    rnd = random.Random(seed)
    data = encode(doc, rnd).encode()
    for impl in _all_impls():
        check_projection(impl, data, tuple(keys))


@settings(max_examples=300, deadline=None)
@given(doc=documents, keys=st.lists(st.sampled_from(KEYS), max_size=5, unique=True))
def test_plain_documents_are_handled_by_the_scanner(doc: dict[str, Any], keys: list[str]) -> None:
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()  # no \u escapes, shallow
    assume(all(c not in '"\\' and c >= " " for k in doc for c in k))  # keys orjson writes unescaped
    for impl in _all_impls():
        got = impl.Projector(keys).project(data)
        assert got is not None and same(got, reference(data, tuple(keys)))


@settings(max_examples=400, deadline=None)
@given(doc=documents, seed=st.integers(0, 2 ** 32), cut=st.integers(0, 10 ** 6), byte=st.integers(0, 255))
@example(doc={"a": "x"}, seed=0, cut=6, byte=0xFF)
def test_corrupted_documents_never_disagree_with_msgspec(doc: dict[str, Any], seed: int, cut: int, byte: int) -> None:
    data = bytearray(encode(doc, random.Random(seed)).encode())
    if data:
        data[cut % len(data)] = byte
    for impl in _all_impls():
        check_projection(impl, bytes(data), ("a", "b", "é"))


# Strings are scanned eight bytes at a time: put a byte that needs a closer look (quote, backslash,
# control character, UTF-8 lead or stray byte) at every offset of a word, before and after plain runs.
STRING_PIECES = st.sampled_from([b"a", b"abcdefg", b"abcdefgh", b"\\\"", b"\\\\", b"\\u00e9", b"\\n", b"\x01",
                                 b"\x1f", b"\x7f", b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xff", b"\xc3", b"\\",
                                 b"\\ud83d\\ude00", b" ", b"\""])


@settings(max_examples=600, deadline=None)
@given(key=st.lists(STRING_PIECES, max_size=6), value=st.lists(STRING_PIECES, max_size=8),
       pad=st.integers(0, 9))
def test_strings_with_special_bytes_anywhere_match_msgspec(key: list[bytes], value: list[bytes], pad: int) -> None:
    name = b"k" * pad + b"".join(key)
    data = b'{"' + name + b'":"' + b"".join(value) + b'","x":1}'
    for impl in _all_impls():
        check_projection(impl, data, ("x", name.decode("utf-8", "replace")))


@settings(max_examples=500, deadline=None)
@given(v=st.floats(allow_nan=False, allow_infinity=False), seed=st.integers(0, 2 ** 32))
def test_random_floats_match_msgspec(v: float, seed: int) -> None:
    text = _number_text(v, random.Random(seed))
    for impl in _all_impls():
        check_projection(impl, (f'{{"a":{text}}}').encode(), ("a",), must_handle=True)


@settings(max_examples=300, deadline=None)
@given(digits=st.text("0123456789", min_size=1, max_size=25), frac=st.text("0123456789", max_size=25),
       exp=st.integers(-330, 330), neg=st.booleans())
def test_random_decimal_spellings_match_msgspec(digits: str, frac: str, exp: int, neg: bool) -> None:
    digits = digits.lstrip("0") or "0"
    text = ("-" if neg else "") + digits + ("." + frac if frac else "") + f"e{exp}"
    for impl in _all_impls():
        check_projection(impl, (f'{{"a":{text}}}').encode(), ("a",))


# -- FlatMap --------------------------------------------------------------------------------------
F_TO_C = [("device", [("key", 0)]), ("f", [("key", 1), ("const", 1.8), ("op", "*"), ("const", 32), ("op", "+")])]


def test_flatmap_builds_the_document_bento_prints(scan: Any) -> None:
    fm = scan.FlatMap(["device", "temp"], F_TO_C)
    assert fm.run(b'{"temp":-18.5,"device":"s-1","x":[1]}') == b'{"device":"s-1","f":-1.3000000000000043}'
    assert fm.run(b'{"temp":10,"device":"s-1"}') == b'{"device":"s-1","f":50}'  # whole floats print as ints
    assert fm.run(b'{"temp":10}') == b'{"device":null,"f":50}'


def test_flatmap_sorts_names_and_passes_values_through(scan: Any) -> None:
    fm = scan.FlatMap(["a"], [("z", [("key", 0)]), ("é", [("const", "x\"y")]), ("b", [("const", None)]),
                              ("c", [("const", True)]), ("d", [("const", 2 ** 60)])])
    data = b'{"a":{"y":[1.50,"\\u00e9"],"x":1}}'
    assert fm.run(data) == orjson.dumps({"z": {"x": 1, "y": [1.5, "\u00e9"]}, "\u00e9": 'x"y', "b": None, "c": True,
                                         "d": 2 ** 60}, option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize("data", [
    b'{"a":"x","b":1}', b'{"a":1,"b":0}', b'{"a":null,"b":1}', b'[1]', b'{"a":1', b'{"a":true,"b":1}',
])
def test_flatmap_leaves_errors_to_the_general_path(scan: Any, data: bytes) -> None:
    fm = scan.FlatMap(["a", "b"], [("q", [("key", 0), ("key", 1), ("op", "/")])])
    assert fm.run(data) is None


def test_flatmap_run_many(scan: Any) -> None:
    fm = scan.FlatMap(["a"], [("b", [("key", 0), ("const", 1), ("op", "+")])])
    assert fm.run_many([b'{"a":1}', None, b'{"a":"x"}', b'{"a":1.5}']) == [b'{"b":2}', None, None, b'{"b":2.5}']


@pytest.mark.parametrize("outputs", [
    [], [("a", [])], [("a", [("op", "+")])], [("a", [("key", 0), ("key", 0)])], [("a", [("key", 5)])],
    [("a", [("const", b"x")])], [("a", [("const", 1)]), ("a", [("const", 2)])], [("a", [("nope", 1)])],
])
def test_flatmap_rejects_bad_programs(scan: Any, outputs: list[Any]) -> None:
    with pytest.raises((ValueError, KeyError)):
        scan.FlatMap(["x"], outputs)


OPS = ["+", "-", "*", "/"]
operands = (st.integers(-(2 ** 64), 2 ** 64) | st.integers(-100, 100) | st.floats(allow_nan=False, allow_infinity=False)
            | st.floats(-1e6, 1e6) | st.sampled_from([0, 0.0, -0.0, 2 ** 53, 2 ** 53 + 1, 1e300, "s", None, True, [1]]))


@settings(max_examples=500, deadline=None)
@given(a=operands, b=operands, c=operands, op1=st.sampled_from(OPS), op2=st.sampled_from(OPS), seed=st.integers(0, 99))
def test_flatmap_twins_agree(a: Any, b: Any, c: Any, op1: str, op2: str, seed: int) -> None:
    doc = encode({"a": a, "b": b}, random.Random(seed)).encode()
    outputs = [("x", [("key", 0), ("key", 1), ("op", op1), ("const", c if type(c) in (int, float) and abs(c) < 2 ** 62 else 3), ("op", op2)]),
               ("y", [("key", 1)]), ("w", [("key", 0), ("const", 2), ("op", op2)])]
    results = [impl.FlatMap(["a", "b"], outputs).run(doc) for impl in _all_impls()]
    twin = results[0]
    for got in results[1:]:
        assert got is None or got == twin, (doc, outputs, got, twin)


# -- FlatMap.run_lines: a whole chunk of lines at once ------------------------------------------
def test_run_lines_maps_each_line(scan: Any) -> None:
    fm = scan.FlatMap(["device", "temp"], F_TO_C)
    data = b'{"device":"a","temp":21.37}\n{"temp":-0.0}\n{"device":[1,{"b":2}],"temp":1e300}'
    assert fm.run_lines(data[:data.rindex(b"\n") + 1]) == (
        b'{"device":"a","f":70.46600000000001}\n{"device":null,"f":32}\n')
    assert fm.run_lines(b'{"device":"x","temp":1e20}\n') == b'{"device":"x","f":1.8e+20}\n'
    assert fm.run_lines(b"") == b""


@pytest.mark.parametrize("data", [b'{"temp":1}\n\n{"temp":2}\n', b'{"temp":1}\n{"temp":"x"}\n', b'{"temp":1}\n[1]\n'])
def test_run_lines_leaves_the_chunk_to_the_caller_when_a_line_is_not_handled(scan: Any, data: bytes) -> None:
    assert scan.FlatMap(["device", "temp"], F_TO_C).run_lines(data) is None


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(st.fixed_dictionaries({"a": operands, "b": operands}) | documents, max_size=12),
       seed=st.integers(0, 99), op=st.sampled_from(OPS))
def test_run_lines_is_run_on_each_line(docs: list[dict[str, Any]], seed: int, op: str) -> None:
    rnd = random.Random(seed)
    lines = [encode(d, rnd).replace("\n", " ").encode() for d in docs]
    data = b"".join(line + b"\n" for line in lines)
    outputs = [("x", [("key", 0), ("key", 1), ("op", op)]), ("y", [("key", 1)]), ("z", [("const", 1.5)])]
    for impl in _all_impls():
        fm = impl.FlatMap(["a", "b"], outputs)
        each = [fm.run(line) for line in lines]
        want = None if None in each else b"".join(doc + b"\n" for doc in each)
        assert fm.run_lines(data) == want, (data, fm.run_lines(data), want)


@settings(max_examples=500, deadline=None)
@given(v=st.floats(allow_nan=False, allow_infinity=False), w=st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_printed_as_orjson_prints_them(v: float, w: float) -> None:
    """Floats are formatted by orjson once per chunk: the same text as the general path's dumps."""
    outputs = [("p", [("key", 0)]), ("s", [("key", 0), ("key", 1), ("op", "+")])]
    data = orjson.dumps({"a": v, "b": w}) + b"\n" + orjson.dumps({"a": w, "b": v}) + b"\n"
    for impl in _all_impls():
        got = impl.FlatMap(["a", "b"], outputs).run_lines(data)
        if got is not None:
            for line, (x, y) in zip(got.splitlines(), [(v, w), (w, v)]):
                assert orjson.loads(line)["p"] == x and line.startswith(b'{"p":' + orjson.dumps(x) + b",")
