"""Bloblang methods for encryption, password hashes and JSON Web Tokens.

- ``encrypt_aes`` / ``decrypt_aes`` (schemes ``ctr``, ``ofb``, ``cbc``) with ``cryptography``;
- ``compare_bcrypt`` with ``bcrypt`` and ``compare_argon2`` with ``argon2-cffi``;
- ``sign_jwt_*`` / ``parse_jwt_*`` for HS256/384/512, RS256/384/512 and ES256/384/512 with PyJWT.

The libraries are imported on first use so that mappings which never call these methods do
not pay for loading them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from .methods import _obj, go_json
from .registry import method
from .values import QueryError, describe, expected


def _raw(v: Any, what: str = "string") -> bytes:
    """The exact bytes of a string or byte array argument (other types are an error)."""
    t = type(v)
    if t is bytes:
        return v
    if t is str:
        return v.encode()
    raise expected(what, v)


# -- AES ------------------------------------------------------------------------------
_BLOCK = 16  # AES block size, and so the size of the initialisation vector


def _aes_cipher(scheme: Any, key: Any, iv: Any, decrypting: bool) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    k = _raw(key)
    if len(k) not in (16, 24, 32):
        raise QueryError(f"invalid AES key size {len(k)}: the key must be 16, 24 or 32 bytes long")
    vector = _raw(iv)
    if len(vector) != _BLOCK:
        raise QueryError(f"the initialisation vector must be {_BLOCK} bytes long (the AES block size), "
                         f"got {len(vector)}")
    name = scheme if type(scheme) is str else _raw(scheme).decode("utf-8", "replace")
    if name == "ctr":
        mode: Any = modes.CTR(vector)
    elif name == "ofb":
        try:  # OFB lives in the "decrepit" module of recent cryptography releases
            from cryptography.hazmat.decrepit.ciphers.modes import OFB
        except ImportError:  # pragma: no cover - older cryptography
            OFB = modes.OFB
        mode = OFB(vector)
    elif name == "cbc":
        mode = modes.CBC(vector)
    else:
        what = "decryption" if decrypting else "encryption"
        raise QueryError(f"unrecognised {what} scheme: {name} (expected ctr, ofb or cbc)")
    return name, Cipher(algorithms.AES(k), mode)


@method("encrypt_aes", "scheme", "key", "iv")
def encrypt_aes(v: Any, scheme: Any, key: Any, iv: Any) -> bytes:
    """Encrypt a string or byte array; the result is a byte array (``.encode("hex")`` it to print)."""
    data = _raw(v)
    name, cipher = _aes_cipher(scheme, key, iv, False)
    if name == "cbc" and len(data) % _BLOCK:
        raise QueryError("plaintext is not a multiple of the block size")
    enc = cipher.encryptor()
    return enc.update(data) + enc.finalize()


@method("decrypt_aes", "scheme", "key", "iv")
def decrypt_aes(v: Any, scheme: Any, key: Any, iv: Any) -> bytes:
    data = _raw(v)
    name, cipher = _aes_cipher(scheme, key, iv, True)
    if name == "cbc" and len(data) % _BLOCK:
        raise QueryError("ciphertext is not a multiple of the block size")
    dec = cipher.decryptor()
    return dec.update(data) + dec.finalize()


# -- password hashes ---------------------------------------------------------------------
_BCRYPT_MAX = 72  # bcrypt only ever reads the first 72 bytes of a password (as Go's does)


@method("compare_bcrypt", "hashed_secret")
def compare_bcrypt(v: Any, hashed_secret: Any) -> bool:
    import bcrypt

    secret = _raw(v)[:_BCRYPT_MAX]
    hashed = _raw(hashed_secret)
    try:
        return bcrypt.checkpw(secret, hashed)
    except ValueError as exc:
        raise QueryError(f"invalid bcrypt hash: {exc}") from None


@method("compare_argon2", "hashed_secret")
def compare_argon2(v: Any, hashed_secret: Any) -> bool:
    import argon2
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    secret = _raw(v)
    hashed = _raw(hashed_secret).decode("utf-8", "replace")
    if not secret:  # as Bento: an empty input never matches, whatever the hash
        return False
    # The documented form: $argon2id$v=19$m=4096,t=3,p=1$<salt>$<key> (argon2i or argon2id).
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0]:
        raise QueryError("invalid argon2 hash: expected $<format>$v=<version>$m=<memory>,t=<iterations>,"
                         "p=<parallelism>$<salt>$<key>")
    if parts[1] not in ("argon2i", "argon2id"):
        raise QueryError(f"invalid argon2 hash: unrecognised argon2 format {parts[1]!r} "
                         "(expected argon2i or argon2id)")
    try:
        return _argon2_hasher(argon2).verify(hashed, secret)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError, ValueError) as exc:
        raise QueryError(f"invalid argon2 hash: {exc}") from None


@lru_cache(maxsize=1)
def _argon2_hasher(argon2: Any) -> Any:
    return argon2.PasswordHasher()


# -- JSON Web Tokens ----------------------------------------------------------------------
_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


@lru_cache(maxsize=1)
def _jws() -> Any:
    """A PyJWS instance for the nine algorithms Bento supports.

    Bento (golang-jwt) accepts HMAC secrets and RSA keys of any length, so the algorithms are
    registered without PyJWT's minimum key length check (which would warn on every call).
    """
    import jwt
    from jwt.algorithms import ECAlgorithm, HMACAlgorithm, RSAAlgorithm

    def quiet(cls: type) -> type:
        return type("Quiet" + cls.__name__, (cls,), {"check_key_length": lambda self, key: None})

    hmac_alg, rsa_alg, ec_alg = quiet(HMACAlgorithm), quiet(RSAAlgorithm), quiet(ECAlgorithm)
    jws = jwt.PyJWS(algorithms=[])
    for bits in (256, 384, 512):
        jws.register_algorithm(f"HS{bits}", hmac_alg(getattr(HMACAlgorithm, f"SHA{bits}")))
        jws.register_algorithm(f"RS{bits}", rsa_alg(getattr(RSAAlgorithm, f"SHA{bits}")))
        jws.register_algorithm(f"ES{bits}", ec_alg(getattr(ECAlgorithm, f"SHA{bits}")))
    return jws


def _pem_error(private: bool) -> QueryError:
    kind = "PKCS1 or PKCS8 private key" if private else "PKIX or PKCS1 public key (or a certificate)"
    return QueryError(f"invalid key: the key must be a PEM encoded {kind}")


@lru_cache(maxsize=64)
def _jwt_key(alg: str, secret: bytes, private: bool) -> Any:
    """The key object for an algorithm: HMAC secrets as bytes, RSA/ECDSA keys parsed from PEM."""
    if alg.startswith("HS"):
        return secret
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        if private:
            key: Any = serialization.load_pem_private_key(secret, password=None)
        elif b"-----BEGIN CERTIFICATE-----" in secret:
            key = x509.load_pem_x509_certificate(secret).public_key()
        else:
            key = serialization.load_pem_public_key(secret)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _pem_error(private) from None
    side = "private" if private else "public"
    if alg.startswith("RS"):
        if not isinstance(key, rsa.RSAPrivateKey if private else rsa.RSAPublicKey):
            raise QueryError(f"key is not a valid RSA {side} key")
        return key
    if not isinstance(key, ec.EllipticCurvePrivateKey if private else ec.EllipticCurvePublicKey):
        raise QueryError(f"key is not a valid ECDSA {side} key")
    if key.curve.name != _CURVES[alg]:
        raise QueryError(f"key is invalid: {alg} needs a {_CURVES[alg]} key, got a {key.curve.name} key")
    return key


def _sign_jwt(alg: str) -> Callable[[Any, Any], str]:
    def sign(v: Any, signing_secret: Any) -> str:
        claims = _obj(v)
        try:
            key = _jwt_key(alg, _raw(signing_secret), True)
        except QueryError as exc:
            raise QueryError(f"failed to decode signing_secret: {exc}") from None
        # Go's encoding/json form of the claims (sorted keys, HTML characters escaped), as golang-jwt signs.
        payload = go_json(claims, None, True).encode()
        import jwt

        try:
            return _jws().encode(payload, key, algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise QueryError(f"failed to sign token: {exc}") from None

    sign.__doc__ = f"Sign an object of JWT claims with {alg}."
    return sign


def _parse_jwt(alg: str) -> Callable[[Any, Any], Any]:
    def parse(v: Any, signing_secret: Any) -> Any:
        import jwt

        token = _raw(v).decode("utf-8", "replace")
        key = _jwt_key(alg, _raw(signing_secret), False)
        try:
            header = _jws().get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise QueryError(f"failed to parse JWT string: token is malformed: {exc}") from None
        if header.get("alg") != alg:
            raise QueryError(f"failed to parse JWT string: incorrect signing method: {header.get('alg')}")
        try:
            payload = _jws().decode(token, key, algorithms=[alg])
        except jwt.InvalidSignatureError:
            raise QueryError("failed to parse JWT string: token signature is invalid") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise QueryError(f"failed to parse JWT string: {exc}") from None
        try:
            claims = msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise QueryError(f"failed to parse JWT string: token is malformed: claims are not JSON: {exc}") from None
        if type(claims) is not dict:
            raise QueryError(f"failed to parse JWT string: token is malformed: claims must be an object, "
                             f"got {describe(claims)}")
        return claims

    parse.__doc__ = f"Parse the claims of a JWT signed with {alg}, checking the signature (claims are not validated)."
    return parse


for _family in ("HS", "RS", "ES"):
    for _bits in (256, 384, 512):
        _alg = f"{_family}{_bits}"
        method(f"sign_jwt_{_alg.lower()}", "signing_secret")(_sign_jwt(_alg))
        method(f"parse_jwt_{_alg.lower()}", "signing_secret")(_parse_jwt(_alg))
