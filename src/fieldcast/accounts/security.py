"""Secrets handling for accounts: passwords (argon2), API tokens, and resident ID numbers.

An argon2 hash costs ~0.2 s of CPU and 64 MiB by design; it runs in the process' worker pool
(fieldcast.offload), never on the event loop, so sign-ins cannot stall every other request."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fieldcast import offload

_hasher = PasswordHasher()

TOKEN_PREFIX = "fc_"  # noqa: S105 - a public prefix, not a secret
PASSWORD_MIN = 10
PASSWORD_MAX = 128


def _hash(password: str) -> str:
    return _hasher.hash(password)  # the module's hasher at call time (tests swap in a cheap one)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await offload.run(_hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await offload.run(_verify, password_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# A hash to verify against when the email is unknown, so timing does not reveal accounts. Made
# by the current hasher (its cost is what a real account's check costs), once per hasher.
_dummy: tuple[PasswordHasher, str] | None = None


def _dummy_hash() -> str:
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash("not-a-real-password-" + secrets.token_hex(8)))
    return _dummy[1]


async def verify_unknown_account(password: str) -> None:
    """Spend what checking a real account's password costs, in the pool, and fail."""
    await offload.run(lambda: _verify(_dummy_hash(), password))


def new_secret_token() -> tuple[str, str]:
    """A high-entropy bearer/invitation token and its SHA-256 (what we store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a plain SHA-256 is enough (no stretching needed).
    return hashlib.sha256(token.encode()).hexdigest()


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalise_id_number(raw: str) -> str:
    return raw.strip().replace(" ", "").upper()


def id_number_is_valid(number: str) -> bool:
    """Check an 18-character PRC resident identity number (GB 11643-1999 check digit)."""
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return False
    month, day = int(number[10:12]), int(number[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17]


def id_number_hash(number: str, key: str) -> str:
    """Keyed hash so the number can be matched (duplicate checks) but never read back."""
    return hmac.new(key.encode(), b"id-number:" + number.encode(), hashlib.sha256).hexdigest()


def id_number_with_check_digit(first17: str) -> str:
    """Complete 17 digits with their check digit (used to make demo and test numbers)."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + _ID_CHECK[total % 11]
