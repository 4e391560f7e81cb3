"""Methods backed by third-party libraries: AES, bcrypt/argon2, JWT, JSON Schema, JSONPath,
diff/patch and lz4 (the conformance corpus has one or two documentation examples of each;
these cover the other schemes, the error paths and the round trips)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from bloblang_helpers import run, value
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from engine.bloblang import MappingError, compile_mapping
from engine.message import Message


def fails(mapping: str, doc: Any = None) -> str:
    """The error text of a mapping that must fail."""
    with pytest.raises(MappingError) as info:
        run(mapping, doc)
    return str(info.value)


# -- AES ------------------------------------------------------------------------------------
# NIST SP 800-38A, F.2.1 (CBC), F.4.1 (OFB) and F.5.1 (CTR), AES-128, first block.
NIST_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
NIST_PLAIN = "6bc1bee22e409f96e93d7e117393172a"
AES_LET = f'let key = "{NIST_KEY}".decode("hex")\n'


@pytest.mark.parametrize(
    ("scheme", "iv", "cipher"),
    [
        ("cbc", "000102030405060708090a0b0c0d0e0f", "7649abac8119b246cee98e9b12e9197d"),
        ("ofb", "000102030405060708090a0b0c0d0e0f", "3b3fd92eb72dad20333449f8e83cfb4a"),
        ("ctr", "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", "874d6191b620e3261bef6864990db6ce"),
    ],
)
def test_aes_schemes_match_the_nist_vectors(scheme: str, iv: str, cipher: str) -> None:
    out = run(AES_LET + f'let iv = "{iv}".decode("hex")\n'
              f'root.enc = this.p.decode("hex").encrypt_aes("{scheme}", $key, $iv).encode("hex")\n'
              f'root.dec = this.c.decode("hex").decrypt_aes("{scheme}", $key, $iv).encode("hex")',
              {"p": NIST_PLAIN, "c": cipher})
    assert out == {"enc": cipher, "dec": NIST_PLAIN}


@pytest.mark.parametrize("key_len", [16, 24, 32])
@pytest.mark.parametrize("scheme", ["ctr", "ofb"])
def test_aes_round_trip_with_every_key_size_and_named_arguments(key_len: int, scheme: str) -> None:
    key = "k" * key_len
    got = value(f'this.s.encrypt_aes(scheme: "{scheme}", key: "{key}", iv: "0123456789abcdef")'
                f'.decrypt_aes(iv: "0123456789abcdef", key: "{key}", scheme: "{scheme}").string()',
                {"s": "any length at all ✓"})
    assert got == "any length at all ✓"


def test_aes_ciphertext_is_bytes_and_differs_from_plaintext() -> None:
    out = run('root.t = this.s.encrypt_aes("ctr", "0123456789abcdef", "fedcba9876543210").type()\n'
              'root.h = this.s.encrypt_aes("ctr", "0123456789abcdef", "fedcba9876543210").encode("hex")',
              {"s": "hello"})
    assert out["t"] == "bytes"
    assert out["h"] != b"hello".hex() and len(out["h"]) == 10


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ('"x".encrypt_aes("ctr", "short", "0123456789abcdef")', "invalid AES key size 5"),
        ('"x".decrypt_aes("ctr", "0123456789abcdef0", "0123456789abcdef")', "invalid AES key size 17"),
        ('"x".encrypt_aes("ctr", "0123456789abcdef", "tiny")', "initialisation vector must be 16 bytes"),
        ('"x".encrypt_aes("gcm", "0123456789abcdef", "0123456789abcdef")',
         "unrecognised encryption scheme: gcm (expected ctr, ofb or cbc)"),
        ('"x".decrypt_aes("ecb", "0123456789abcdef", "0123456789abcdef")', "unrecognised decryption scheme: ecb"),
        ('"not16".encrypt_aes("cbc", "0123456789abcdef", "0123456789abcdef")',
         "plaintext is not a multiple of the block size"),
        ('"not16".decrypt_aes("cbc", "0123456789abcdef", "0123456789abcdef")',
         "ciphertext is not a multiple of the block size"),
        ('5.encrypt_aes("ctr", "0123456789abcdef", "0123456789abcdef")', "expected string value, got number (5)"),
        ('"x".encrypt_aes("ctr", 12345, "0123456789abcdef")', "expected string value, got number"),
    ],
)
def test_aes_errors(expr: str, fragment: str) -> None:
    assert fragment in fails(f"root = {expr}")


def test_aes_cbc_round_trip_of_whole_blocks() -> None:
    got = value('"exactly 32 bytes of plaintext!!!".encrypt_aes("cbc", "0123456789abcdef0123456789abcdef", '
                '"0123456789abcdef").decrypt_aes("cbc", "0123456789abcdef0123456789abcdef", '
                '"0123456789abcdef").string()')
    assert got == "exactly 32 bytes of plaintext!!!"


# -- password hashes ---------------------------------------------------------------------------
def test_compare_bcrypt_with_a_fresh_hash_and_bytes_input() -> None:
    import bcrypt

    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    out = run(f'root.ok = this.p.compare_bcrypt("{hashed}")\n'
              f'root.bytes = this.p.bytes().compare_bcrypt(hashed_secret: "{hashed}")\n'
              f'root.bad = "S3cret".compare_bcrypt("{hashed}")', {"p": "s3cret"})
    assert out == {"ok": True, "bytes": True, "bad": False}


def test_compare_bcrypt_reads_only_the_first_72_bytes_like_go() -> None:
    import bcrypt

    hashed = bcrypt.hashpw(b"a" * 72, bcrypt.gensalt(rounds=4)).decode()
    assert value(f'this.p.compare_bcrypt("{hashed}")', {"p": "a" * 100}) is True
    assert value(f'this.p.compare_bcrypt("{hashed}")', {"p": "a" * 71}) is False


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ('"x".compare_bcrypt("not-a-hash")', "invalid bcrypt hash"),
        ('true.compare_bcrypt("$2y$10$Dtnt5NNzVtMCOZONT705tOcS8It6krJX8bEjnDJnwxiFKsz1C.3Ay")',
         "expected string value, got bool"),
    ],
)
def test_compare_bcrypt_errors(expr: str, fragment: str) -> None:
    assert fragment in fails(f"root = {expr}")


ARGON2_DOC_HASH = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHktbWNzYWx0ZmFjZQ$RMUMwgtS32/mbszd+ke4o4Ej1jFpYiUqY6MHWa69X7Y"


def test_compare_argon2_with_argon2i_and_argon2id_hashes() -> None:
    import argon2

    hashed_i = argon2.PasswordHasher(time_cost=1, memory_cost=64, type=argon2.Type.I).hash("pw")
    out = run(f'root.i = this.p.compare_argon2("{hashed_i}")\n'
              f'root.id = "there-are-many-blobs-in-the-sea".compare_argon2(hashed_secret: "{ARGON2_DOC_HASH}")\n'
              f'root.wrong = "pW".compare_argon2("{hashed_i}")\n'
              f'root.empty = "".compare_argon2("{ARGON2_DOC_HASH}")\n'
              f'root.empty_bad_hash = "".compare_argon2("nonsense")', {"p": "pw"})
    assert out == {"i": True, "id": True, "wrong": False, "empty": False, "empty_bad_hash": False}


@pytest.mark.parametrize(
    ("hashed", "fragment"),
    [
        ("$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "unrecognised argon2 format 'argon2d'"),
        ("$argon2id$v=19$m=4096,t=3,p=1$c2FsdA", "invalid argon2 hash: expected $<format>"),
        ("$argon2id$v=19$m=4096,t=3,p=1$!!!$!!!", "invalid argon2 hash"),
    ],
)
def test_compare_argon2_rejects_malformed_hashes(hashed: str, fragment: str) -> None:
    assert fragment in fails(f'root = "secret".compare_argon2("{hashed}")')


# -- JSON Web Tokens ---------------------------------------------------------------------------
def _pem_private(key: Any, fmt: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _pem_public(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, str]]:
    """(private PEM, public PEM) per algorithm family and curve, in both PEM private formats."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    out = {
        "RS": (_pem_private(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL), _pem_public(rsa_key)),
        "RS-pkcs8": (_pem_private(rsa_key, serialization.PrivateFormat.PKCS8), _pem_public(rsa_key)),
    }
    for bits, curve in ((256, ec.SECP256R1()), (384, ec.SECP384R1()), (512, ec.SECP521R1())):
        k = ec.generate_private_key(curve)
        out[f"ES{bits}"] = (_pem_private(k, serialization.PrivateFormat.TraditionalOpenSSL), _pem_public(k))
        out[f"ES{bits}-pkcs8"] = (_pem_private(k, serialization.PrivateFormat.PKCS8), _pem_public(k))
    return out


def _segments(token: str) -> list[Any]:
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)
    return [json.loads(base64.urlsafe_b64decode(pad(head))), base64.urlsafe_b64decode(pad(body)).decode()]


def _sign_and_parse(alg: str, private: str, public: str, claims: dict[str, Any]) -> tuple[str, Any]:
    out = run(f'root.token = this.claims.sign_jwt_{alg.lower()}(signing_secret: this.private)\n'
              f'root.claims = root.token.parse_jwt_{alg.lower()}(this.public)',
              {"claims": claims, "private": private, "public": public})
    return out["token"], out["claims"]


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"])
@pytest.mark.parametrize("pkcs8", [False, True])
def test_rsa_and_ecdsa_tokens_round_trip(keys: dict[str, tuple[str, str]], alg: str, pkcs8: bool) -> None:
    family = "RS" if alg.startswith("RS") else alg
    private, public = keys[family + ("-pkcs8" if pkcs8 else "")]
    claims = {"sub": "user123", "iat": 1516239022, "nested": {"a": [1, 2.5]}}
    token, parsed = _sign_and_parse(alg, private, public, claims)
    header, payload = _segments(token)
    assert header == {"alg": alg, "typ": "JWT"}
    assert payload == '{"iat":1516239022,"nested":{"a":[1,2.5]},"sub":"user123"}'  # Go's sorted form
    assert parsed == claims


def test_rsa_signatures_are_deterministic_and_independently_verifiable(keys: dict[str, tuple[str, str]]) -> None:
    import jwt

    private, public = keys["RS"]
    first, _ = _sign_and_parse("RS256", private, public, {"sub": "x"})
    second, _ = _sign_and_parse("RS256", private, public, {"sub": "x"})
    assert first == second  # PKCS#1 v1.5 signatures do not depend on randomness
    assert jwt.decode(first, public, algorithms=["RS256"]) == {"sub": "x"}


@pytest.mark.parametrize("bits", [256, 384, 512])
def test_hmac_tokens_match_the_documented_signatures(bits: int) -> None:
    documented = {
        256: "hUl-nngPMY_3h9vveWJUPsCcO5PeL6k9hWLnMYeFbFQ",
        384: "zGYLr83aToon1efUNq-hw7XgT20lPvZb8sYei8x6S6mpHwb433SJdXJXx0Oio8AZ",
        512: "zBNR9o_6EDwXXKkpKLNJhG26j8Dc-mV-YahBwmEdCrmiWt5les8I9rgmNlWIowpq6Yxs4kLNAdFhqoRz3NXT3w",
    }
    token = value(f'this.claims.sign_jwt_hs{bits}(signing_secret: "dont-tell-anyone")', {"claims": {"sub": "user123"}})
    assert token.rsplit(".", 1)[1] == documented[bits]
    assert value(f'this.t.parse_jwt_hs{bits}(signing_secret: "dont-tell-anyone")', {"t": token}) == {"sub": "user123"}


def test_jwt_payload_escapes_html_like_go() -> None:
    token = value('{"a": "<b>&"}.sign_jwt_hs256("k")')
    assert _segments(token)[1] == '{"a":"\\u003cb\\u003e\\u0026"}'
    assert value('this.t.parse_jwt_hs256("k")', {"t": token}) == {"a": "<b>&"}


def test_jwt_claims_are_not_validated() -> None:
    token = value('{"exp": 1, "nbf": 99999999999}.sign_jwt_hs512("k")')
    assert value('this.t.parse_jwt_hs512("k")', {"t": token}) == {"exp": 1, "nbf": 99999999999}


def test_jwt_errors(keys: dict[str, tuple[str, str]]) -> None:
    rs_private, rs_public = keys["RS"]
    es_private, es_public = keys["ES256"]
    es384_private, _ = keys["ES384"]
    rs_token = value("this.c.sign_jwt_rs256(this.k)", {"c": {"sub": "x"}, "k": rs_private})
    doc = {"t": rs_token, "rs": rs_public, "es": es_public, "es_priv": es_private, "es384": es384_private,
           "rs_priv": rs_private}

    assert "incorrect signing method: RS256" in fails("root = this.t.parse_jwt_rs384(this.rs)", doc)
    assert "incorrect signing method: RS256" in fails('root = this.t.parse_jwt_hs256("secret")', doc)
    head, body, sig = rs_token.split(".")
    tampered = {**doc, "t": f"{head}.{body[:-2]}AA.{sig}"}
    assert "token signature is invalid" in fails("root = this.t.parse_jwt_rs256(this.rs)", tampered)
    assert "token is malformed" in fails('root = "abc".parse_jwt_hs256("k")')
    assert "token signature is invalid" in fails(
        'root = {"a": 1}.sign_jwt_hs256("right").parse_jwt_hs256("wrong")')
    assert "invalid key: the key must be a PEM encoded" in fails('root = this.t.parse_jwt_rs256("nope")', doc)
    assert "key is not a valid ECDSA public key" in fails("root = this.t.parse_jwt_es256(this.rs)", doc)
    assert "failed to decode signing_secret: key is not a valid RSA private key" in fails(
        'root = {"a": 1}.sign_jwt_rs256(this.es_priv)', doc)
    assert "failed to decode signing_secret: invalid key" in fails('root = {"a": 1}.sign_jwt_es256("garbage")')
    assert "ES256 needs a secp256r1 key, got a secp384r1 key" in fails(
        'root = {"a": 1}.sign_jwt_es256(this.es384)', doc)
    assert "expected object value, got array" in fails('root = [1].sign_jwt_hs256("k")')
    assert "expected object value, got array" in fails("root = [1].sign_jwt_rs256(this.rs_priv)", doc)
    assert "expected string value, got number" in fails('root = {"a": 1}.sign_jwt_hs256(5)')


def test_jwt_parse_rejects_non_object_claims() -> None:
    token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.WzEsMl0."  # payload [1,2], signature filled in below
    import hashlib
    import hmac

    sig = hmac.new(b"k", token[:-1].encode(), hashlib.sha256).digest()
    token += base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    assert "claims must be an object, got array" in fails('root = this.t.parse_jwt_hs256("k")', {"t": token})


# -- json_schema -------------------------------------------------------------------------------
SCHEMA = json.dumps({
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "maxLength": 3},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        "ip": {"type": "string", "format": "ipv4"},
    },
})


def _schema_mapping() -> str:
    return f"root = this.json_schema({json.dumps(SCHEMA)})"


def test_json_schema_returns_a_valid_value_unchanged() -> None:
    doc = {"id": 3, "name": "abc", "tags": ["a"], "ip": "10.0.0.1"}
    assert run(_schema_mapping(), doc) == doc


def test_json_schema_reports_each_violation_as_bento_does() -> None:
    msg = fails(_schema_mapping(), {"name": 5, "tags": ["c"], "ip": "999.1.1.1"})
    assert msg.startswith("failed assignment (line 1): field `this`: ")
    lines = msg.split(": ", 2)[2].split("\n")
    assert sorted(lines) == sorted([
        "(root) id is required",
        "name invalid type. expected: string, given: integer",
        'tags.0 tags.0 must be one of the following: "a", "b"',
        "ip does not match format 'ipv4'",
    ])
    assert "id must be greater than or equal to 1" in fails(_schema_mapping(), {"id": 0})
    assert "name string length must be less than or equal to 3" in fails(_schema_mapping(), {"id": 1, "name": "abcd"})


def test_json_schema_honours_the_declared_draft() -> None:
    schema = json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema",
                         "prefixItems": [{"type": "string"}]})
    assert value(f"this.json_schema({json.dumps(schema)})", ["x"]) == ["x"]
    assert "0 invalid type. expected: string, given: integer" in fails(
        f"root = this.json_schema({json.dumps(schema)})", [1])


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ('"{not json"', "failed to parse json schema definition"),
        ('"[1]"', "failed to parse json schema definition: expected an object, got array"),
        ('"{\\"type\\": 5}"', "invalid json schema"),
        ("5", "expected string value, got number (5)"),
    ],
)
def test_json_schema_errors(schema: str, fragment: str) -> None:
    assert fragment in fails(f"root = this.json_schema({schema})", {})


# -- json_path ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "doc", "expected"),
    [
        ("$.a.b", {"a": {"b": 1}}, 1),  # a definite path yields the value itself
        ("$.a[1]", {"a": [1, {"c": 2}]}, {"c": 2}),
        ("$.a[-1]", {"a": [1, 2]}, 2),
        ("$", {"a": 1}, {"a": 1}),
        ("$.a[*]", {"a": [1, 2]}, [1, 2]),  # anything else yields an array of matches
        ("$.*", {"b": 1, "a": 2}, [2, 1]),  # objects are visited in key order
        ("$..n", {"z": {"n": 1}, "a": [{"n": 2}], "n": 3}, [3, 2, 1]),
        ("$.a[0:2]", {"a": [1, 2, 3]}, [1, 2]),
        ("$['a','b']", {"a": 1, "b": 2, "c": 3}, [1, 2]),
        ("$.a[?(@.v > 1)].id", {"a": [{"v": 1, "id": "x"}, {"v": 2, "id": "y"}, {"v": 3, "id": "z"}]}, ["y", "z"]),
        ("$.a[?(@.k == 'x')]", {"a": [{"k": "x"}, {"k": "y"}]}, [{"k": "x"}]),
        ("$.missing[*]", {"a": 1}, []),
    ],
)
def test_json_path(expr: str, doc: Any, expected: Any) -> None:
    assert value(f"this.json_path(expression: {json.dumps(expr)})", doc) == expected


@pytest.mark.parametrize(
    ("expr", "doc", "fragment"),
    [
        ("$.a.x", {"a": {"b": 1}}, "unknown key x"),
        ("$.a.b", {"a": 3}, "unknown key b: expected an object, got number (3)"),
        ("$.a[5]", {"a": [1]}, "index 5 out of bounds for an array of length 1"),
        ("$[", {}, "failed to evaluate json path expression"),
    ],
)
def test_json_path_errors(expr: str, doc: Any, fragment: str) -> None:
    assert fragment in fails(f"root = this.json_path({json.dumps(expr)})", doc)


def test_json_path_expression_must_be_a_string() -> None:
    assert "expected string value, got number (5)" in fails("root = this.json_path(5)", {})


# -- diff / patch ------------------------------------------------------------------------------
def _diff(a: Any, b: Any) -> Any:
    return value("this.a.diff(other: this.b)", {"a": a, "b": b})


def _patch(v: Any, changelog: Any) -> Any:
    return value("this.v.patch(changelog: this.c)", {"v": v, "c": changelog})


def test_diff_of_nested_objects_and_arrays() -> None:
    before = {"a": {"b": 1, "gone": True}, "list": ["x", "y"], "n": None, "same": [1, {"k": 2}]}
    after = {"a": {"b": 2, "new": {"deep": [1]}}, "list": ["y", "x", "z"], "n": 5, "same": [1.0, {"k": 2}]}
    assert _diff(before, after) == [
        {"Type": "update", "Path": ["a", "b"], "From": 1, "To": 2},
        {"Type": "delete", "Path": ["a", "gone"], "From": True, "To": None},
        {"Type": "create", "Path": ["a", "new"], "From": None, "To": {"deep": [1]}},
        {"Type": "create", "Path": ["list", "2"], "From": None, "To": "z"},  # array order is ignored
        {"Type": "update", "Path": ["n"], "From": None, "To": 5},
    ]


def test_diff_of_array_elements_compares_unpaired_elements_by_index() -> None:
    assert _diff([{"id": 1, "v": "a"}, {"id": 2}], [{"id": 1, "v": "b"}, {"id": 2}]) == [
        {"Type": "update", "Path": ["0", "v"], "From": "a", "To": "b"},
    ]
    assert _diff([1, 2], [2, 3]) == [
        {"Type": "delete", "Path": ["0"], "From": 1, "To": None},
        {"Type": "create", "Path": ["1"], "From": None, "To": 3},
    ]


def test_diff_edge_cases() -> None:
    assert _diff({"a": 1}, {"a": 1}) == []
    assert _diff({"a": 1, "b": 2}, None) == [
        {"Type": "delete", "Path": ["a"], "From": 1, "To": None},
        {"Type": "delete", "Path": ["b"], "From": 2, "To": None},
    ]
    assert _diff("x", "y") == [{"Type": "update", "Path": [], "From": "x", "To": "y"}]
    assert value("this.a.diff(this.b)", {"a": None, "b": {"x": 1}}) is None
    assert "types do not match" in fails("root = this.a.diff(this.b)", {"a": {"x": 1}, "b": {"x": "1"}})
    assert "types do not match" in fails("root = this.a.diff(this.b)", {"a": {"x": 1}, "b": [1]})


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"name": "Alice", "age": 30}, {"name": "Alice", "age": 31, "city": "NYC"}),
        ({"debug": True, "timeout": 30}, {"timeout": 60}),
        ([1, 2, 3, 4], [4, 3]),
        ([1, 2, 3], [3]),
        ({"a": [{"x": 1}, {"y": 2}]}, {"a": [{"x": 2}, {"y": 2}, {"z": 3}]}),
        ({"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 2, "d": [1]}}}),
        ({"a": None}, {"a": {"b": 1}}),
        ({"a": 1}, {"b": {"c": [1, 2]}}),
        ("x", "y"),
    ],
)
def test_patch_applies_a_diff(before: Any, after: Any) -> None:
    assert _patch(before, _diff(before, after)) == after


def test_patch_rules() -> None:
    # Field names match case-insensitively; intermediate objects are created.
    assert _patch({"a": 1}, [{"type": "create", "path": ["b", "c"], "to": [1]}]) == {"a": 1, "b": {"c": [1]}}
    # Creating at an index past the end appends; deleting moves the last element into the gap.
    assert _patch([1, 2], [{"Type": "create", "Path": ["7"], "To": 3}]) == [1, 2, 3]
    assert _patch(["a", "b", "c"], [{"Type": "delete", "Path": ["0"], "From": "a"}]) == ["c", "b"]
    assert _patch(["a"], [{"Type": "delete", "Path": [0], "From": "a"}]) == []
    # Deleting a key that is not there, or at the empty path, changes nothing.
    assert _patch({"a": 1}, [{"Type": "delete", "Path": ["x", "y"]}, {"Type": "delete", "Path": []}]) == {"a": 1}
    # An update at the empty path replaces the whole value.
    assert _patch({"a": 1}, [{"Type": "update", "Path": [], "From": {"a": 1}, "To": [1]}]) == [1]
    assert value("this.v.patch([])", {"v": None}) is None


def test_patch_leaves_its_input_and_changelog_untouched() -> None:
    out = run('let before = this.v\n'
              'root.after = $before.patch(this.c)\n'
              'root.before = $before\n'
              'root.changelog = this.c',
              {"v": {"a": {"b": 1}, "l": [1, 2]},
               "c": [{"Type": "create", "Path": ["n"], "To": {"x": 1}},
                     {"Type": "update", "Path": ["n", "x"], "To": 2},
                     {"Type": "update", "Path": ["a", "b"], "To": 9},
                     {"Type": "delete", "Path": ["l", "0"]}]})
    assert out["after"] == {"a": {"b": 9}, "l": [2], "n": {"x": 2}}
    assert out["before"] == {"a": {"b": 1}, "l": [1, 2]}
    assert out["changelog"][0]["To"] == {"x": 1}


@pytest.mark.parametrize(
    ("v", "changelog", "fragment"),
    [
        ({}, {"Type": "create"}, "expected the changelog to be an array of changes, got object"),
        ({}, ["x"], "change 0: expected an object, got string"),
        ({}, [{"Type": "move", "Path": ["a"]}], "change 0: expected Type to be create, update or delete"),
        ({}, [{"Type": "create", "Path": "a"}], "change 0: expected Path to be an array of strings"),
        ({}, [{"Type": "create", "Path": [True]}], "expected Path to be an array of strings, got element bool"),
        ([1], [{"Type": "update", "Path": ["x"], "To": 1}], "invalid index in path. x is not a number"),
        ([1], [{"Type": "update", "Path": ["3"], "To": 1}], "value index 3 is invalid"),
        ([1], [{"Type": "delete", "Path": ["3"]}], "value index 3 is invalid"),
        ({"a": "s"}, [{"Type": "create", "Path": ["a", "b"], "To": 1}],
         "string (\"s\") at a is not an object or array"),
    ],
)
def test_patch_errors(v: Any, changelog: Any, fragment: str) -> None:
    assert fragment in fails("root = this.v.patch(this.c)", {"v": v, "c": changelog})


# -- lz4 ---------------------------------------------------------------------------------------
LZ4_DOC = "BCJNGGRwuRgAAIBoZWxsbyB3b3JsZCBJIGxvdmUgc3BhY2UAAAAAGoETLg=="


def test_lz4_compress_matches_bento_byte_for_byte() -> None:
    out = compile_mapping('root.compressed = content().compress("lz4").encode("base64")').apply(
        Message(b"hello world I love space"))
    assert out is not None
    assert json.loads(out.raw) == {"compressed": LZ4_DOC}


@pytest.mark.parametrize("level", [-1, 0, 1, 5, 9])
def test_lz4_round_trip_at_every_level(level: int) -> None:
    data = "abcdefgh" * 5000
    out = run(f'root.size = this.d.compress(algorithm: "lz4", level: {level}).length()\n'
              f'root.back = this.d.compress("lz4", {level}).decompress("lz4").string()', {"d": data})
    assert out["back"] == data
    assert out["size"] < len(data) // 20


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ('"x".compress("lz4", 10)', "invalid lz4 compression level 10"),
        ('"not lz4".decompress("lz4")', "failed to decompress: lz4"),
        (f'"{LZ4_DOC}".decode("base64").slice(0, 20).decompress("lz4")', "failed to decompress: lz4"),
    ],
)
def test_lz4_errors(expr: str, fragment: str) -> None:
    assert fragment in fails(f"root = {expr}")
