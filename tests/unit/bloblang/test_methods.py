"""One or more checks per registered method (the conformance corpus covers many more)."""

from __future__ import annotations

import pytest

from engine.bloblang import METHODS, MappingError

from bloblang_helpers import run, value

CASES = [
    # strings
    ('"Hello".uppercase()', "HELLO"),
    ('"Hello".lowercase()', "hello"),
    ('"the foo_bar 2x".capitalize()', "The Foo_bar 2x"),
    ('"  x ".trim()', "x"),
    ('"!?x!".trim("!?")', "x"),
    ('"foo_x".trim_prefix("foo_")', "x"),
    ('"x_foo".trim_suffix("_foo")', "x"),
    ('"a,b,,c".split(",")', ["a", "b", "", "c"]),
    ('"a,,c".split(",", true)', ["a", None, "c"]),
    ('[1, 0, 2].split(0)', [[1], [2]]),
    ('["a", "b"].join("-")', "a-b"),
    ('"aXbX".replace_all("X", "y")', "ayby"),
    ('"<b>x</b>".replace_all_many(["<b>", "[", "</b>", "]"])', "[x]"),
    ('"foobar".has_prefix("foo")', True),
    ('"foobar".has_suffix("foo")', False),
    ('"foobar".contains("oba")', True),
    ('[1, "a"].contains(1.0)', True),
    ('"foo bar".slice(4)', "bar"),
    ('"foo bar".slice(-3)', "bar"),
    ('[1, 2, 3].slice(0, -1)', [1, 2]),
    ('"héllo".length()', 5),
    ('{"a": 1}.length()', 1),
    ('"%s is %d years, %v, %.2f, %q".format("x", 3, true, 1.5, "q")', 'x is 3 years, true, 1.50, "q"'),
    ('"a1b22".re_match("[0-9]+")', True),
    ('"foo ADD 70".re_replace_all("ADD ([0-9]+)", "+($1)")', "foo +(70)"),
    ('"a1b22".re_find_all("[0-9]+")', ["1", "22"]),
    ('"-axxb-ab-".re_find_all_submatch("a(x*)b")', [["axxb", "xx"], ["ab", ""]]),
    ('"-axxb-".re_find_object("a(?P<foo>x*)b")', {"0": "axxb", "foo": "xx"}),
    ('"foo\\nbar".quote()', '"foo\\nbar"'),
    ('"\\"foo\\\\nbar\\"".unquote()', "foo\nbar"),
    ('"<a href=\'x\'>&</a>".escape_html()', "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
    ('"&lt;p&gt; &amp;".unescape_html()', "<p> &"),
    ('"foo & bar".escape_url_query()', "foo+%26+bar"),
    ('"foo+%26+bar".unescape_url_query()', "foo & bar"),
    ('"foo & bar".escape_url_path()', "foo%20&%20bar"),
    ('"foo%20bar".unescape_url_path()', "foo bar"),
    ('"ab".repeat(3)', "ababab"),
    ('"abc".reverse()', "cba"),
    ('"foobar".index_of("bar")', 3),
    ('"Hello World & Co".slug()', "hello-world-and-co"),
    ('"/a/b.txt".filepath_split()', ["/a/", "b.txt"]),
    ('["/a/", "b.txt"].filepath_join()', "/a/b.txt"),
    ('"<p>hi <b>there</b></p>".strip_html()', "hi there"),
    # numbers
    ("5.3.floor()", 5),
    ("-5.3.floor()", -5),
    ("(0 - 5.3).floor()", -6),
    ("5.1.ceil()", 6),
    ("2.5.round()", 3),
    ("(0 - 2.5).round()", -3),
    ("1.2345.round(2)", 1.23),
    ("(0 - 4.5).abs()", 4.5),
    ('"12".number()', 12),
    ('"1.5".number()', 1.5),
    ('"x".number(7)', 7),
    ('"0xDE".int64()', 222),
    ("12.0.int32()", 12),
    ('"2.5".float64()', 2.5),
    ("100.log10()", 2),
    ("2.pow(3)", 8),
    ("12.bitwise_and(6)", 4),
    ("12.bitwise_or(6)", 14),
    ("12.bitwise_xor(6)", 10),
    # types and conversion
    ("5.string()", "5"),
    ("2.5.string()", "2.5"),
    ('{"a": [1, "b"]}.string()', '{"a":[1,"b"]}'),
    ('"x".bytes().type()', "bytes"),
    ('"true".bool()', True),
    ("null.type()", "null"),
    ("[].type()", "array"),
    ('"x".array()', ["x"]),
    ('"x".not_null()', "x"),
    ('"x".not_empty()', "x"),
    # arrays and objects
    ('{"a": 1, "b": 2}.map_each(kv -> kv.value + 1)', {"a": 2, "b": 3}),
    ('{"a": 1}.map_each_key(k -> k.uppercase())', {"A": 1}),
    ('{"a": 1, "b": 5}.filter(kv -> kv.value > 2)', {"b": 5}),
    ("[1, 2, 3].fold(0, t -> t.tally + t.value)", 6),
    ("[1, 2].any(x -> x > 1)", True),
    ("[1, 2].all(x -> x > 1)", False),
    ('["b", "c", "a"].sort()', ["a", "b", "c"]),
    ("[3, 1, 2].sort(p -> p.left > p.right)", [3, 2, 1]),
    ('[{"n": 2}, {"n": 1}].sort_by(x -> x.n)', [{"n": 1}, {"n": 2}]),
    ('["a", "b", "a"].unique()', ["a", "b"]),
    ("[1, [2, [3]]].flatten()", [1, 2, [3]]),
    ("[1, 2, 3].index(-1)", 3),
    ('{"b": 1, "a": 2}.keys()', ["a", "b"]),
    ('{"b": 1, "a": 2}.values()', [2, 1]),
    ('{"b": 1}.key_values()', [{"key": "b", "value": 1}]),
    ('{"a": {"b": 1, "c": 2}, "d": 3}.without("a.b", "d")', {"a": {"c": 2}}),
    ('{"a": {"b": 1, "c": 2}, "d": 3}.with("a.b")', {"a": {"b": 1}}),
    ('{"a": 1, "l": "x"}.merge({"b": 2, "l": "y"})', {"a": 1, "b": 2, "l": ["x", "y"]}),
    ('{"a": 1, "l": "x"}.assign({"l": "y"})', {"a": 1, "l": "y"}),
    ('{"a": {"b": null}}.exists("a.b")', True),
    ('{"a": {"b": 1}}.get("a.b")', 1),
    ('{"a": 1}.set("b.c", 2)', {"a": 1, "b": {"c": 2}}),
    ('[1].append(2, 3)', [1, 2, 3]),
    ("[1].concat([2], [3, 4])", [1, 2, 3, 4]),
    ("[1, 2].zip([3, 4])", [[1, 3], [2, 4]]),
    ("[1, 2.5].sum()", 3.5),
    ("[1, 7, 2].max()", 7),
    ("[1, 7, 2].min()", 1),
    ('["a"].enumerated()', [{"index": 0, "value": "a"}]),
    ('{"a": [{"b": 1}, {}]}.collapse()', {"a.0.b": 1}),
    ('{"id": 1, "v": [1, 2]}.explode("v")', [{"id": 1, "v": 1}, {"id": 1, "v": 2}]),
    ('[{"a": [1]}, {"a": [2]}].squash()', {"a": [1, 2]}),
    ('["a", "b"].find("b")', 1),
    ('["a", "b", "a"].find_all("a")', [0, 2]),
    ("[1, 5, 9].find_by(x -> x > 3)", 1),
    ("[1, 5, 9].find_all_by(x -> x > 3)", [1, 2]),
    ('"split".split_by(c -> c == "l")', ["sp", "it"]),
    # encoding
    ('"hello".encode("base64")', "aGVsbG8="),
    ('"aGVsbG8=".decode("base64").string()', "hello"),
    ('"hi".encode("hex")', "6869"),
    ('"hello world".hash("sha256").encode("hex")', "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"),
    ('"hello world".hash("crc32").encode("hex")', "0d4a1185"),
    ('"{\\"a\\":[1,2.5]}".parse_json()', {"a": [1, 2.5]}),
    ('{"b": 1, "a": "<"}.format_json(no_indent: true).string()', '{"a":"\\u003c","b":1}'),
    ('"a: [1, 2]".parse_yaml()', {"a": [1, 2]}),
    ('{"a": 1}.format_yaml().string()', "a: 1\n"),
    ('"a,b\\n1,2".parse_csv()', [{"a": "1", "b": "2"}]),
    ('"a=1 b=\\"x y\\" c".parse_logfmt()', {"a": "1", "b": "x y", "c": True}),
    ('"hello".compress("gzip").decompress("gzip").string()', "hello"),
    ('{"a": 1}.format_msgpack().parse_msgpack()', {"a": 1}),
    ('"https://u:p@host:80/p?q=1#f".parse_url().host', "host:80"),
    ('"a=1&a=2&b=3".parse_form_url_encoded()', {"a": ["1", "2"], "b": "3"}),
    ('"<r><a x=\\"1\\">t</a></r>".parse_xml()', {"r": {"a": {"-x": "1", "#text": "t"}}}),
    ('{"sub": "u"}.sign_jwt_hs256("s").parse_jwt_hs256("s")', {"sub": "u"}),
    # time
    ('"2020-08-14T05:54:23Z".ts_parse("2006-01-02T15:04:05Z07:00").ts_unix()', 1597384463),
    ('"2020-Aug-14".ts_parse("2006-Jan-02").ts_format("02/01/2006")', "14/08/2020"),
    ('"2020-08-14 11:50:26".ts_strptime("%Y-%m-%d %H:%M:%S").ts_strftime("%d %b %Y")', "14 Aug 2020"),
    ("1597405526.ts_format(\"2006-01-02 15:04:05\", \"UTC\")", "2020-08-14 11:45:26"),
    ('"2020-08-14T11:45:26.123456789Z".ts_unix_nano()', 1597405526123456789),
    ('"2020-08-14T11:45:26.5Z".ts_unix_milli()', 1597405526500),
    ('"2020-01-31T00:00:00Z".ts_add_iso8601("P1M")', "2020-03-02T00:00:00Z"),
    ('"2020-08-14T05:54:23Z".ts_tz("America/New_York")', "2020-08-14T01:54:23-04:00"),
    ('"2020-08-14T05:54:23Z".ts_round("1h".parse_duration())', "2020-08-14T06:00:00Z"),
    ('"2020-08-14T05:54:23Z".ts_sub("2020-08-14T05:54:13Z")', 10_000_000_000),
    ('"1h30m".parse_duration()', 5_400_000_000_000),
    ('"PT1M".parse_duration_iso8601()', 60_000_000_000),
    ('"2022-06-06".ts_parse("2006-01-02").type()', "timestamp"),
]


@pytest.mark.parametrize(("expr", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_method(expr: str, expected: object) -> None:
    got = value(expr)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("this.n.uppercase()", "field `this.n`: expected string value, got number (5)"),
        ("5.uppercase()", "method uppercase: expected string value, got number (5)"),
        ('"x".number()', "failed to parse"),
        ("[].max()", "empty"),
        ('"".not_empty().catch(null).not_null()', "value is null"),
        ('"a".decode("nope")', "unrecognised encoding"),
        ('"x".ts_parse("2006")', "cannot parse"),
        ('"x".parse_json()', "failed to parse value as JSON"),
        ('300.int8()', "does not fit in int8"),
        ('[1, "a"].sort()', "mixed"),
    ],
)
def test_method_errors(expr: str, fragment: str) -> None:
    with pytest.raises(MappingError) as info:
        run(f"root = {expr}", {"n": 5})
    assert fragment in str(info.value)


def test_bloblang_method_runs_a_nested_mapping() -> None:
    assert value('{"a": "x"}.bloblang("root.b = this.a.uppercase()")') == {"b": "X"}


def test_registry_has_the_core_set() -> None:
    core = ("uppercase lowercase capitalize trim trim_prefix trim_suffix split join replace_all "
            "replace_all_many has_prefix has_suffix contains slice length format re_match re_replace_all "
            "re_find_all quote unquote escape_html unescape_html floor ceil round abs number int64 float64 "
            "string map_each filter fold any all sort sort_by unique flatten index keys values without merge "
            "exists append concat sum max min enumerated key_values collapse encode decode hash parse_json "
            "format_json parse_yaml format_yaml bytes type not_null ts_parse ts_format ts_unix ts_unix_nano "
            "ts_add_iso8601 ts_strftime apply bloblang").split()
    assert [m for m in core if m not in METHODS] == []
