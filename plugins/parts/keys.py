"""Part keys: four random uppercase ASCII letters (26**4 = 456,976 possible keys)."""

from __future__ import annotations

import re
import secrets
import string

KEY_LENGTH = 4
KEY_ALPHABET = string.ascii_uppercase
#: A well-formed key (path parameters are validated against it; anything else is a 400).
KEY_PATTERN = rf"^[A-Z]{{{KEY_LENGTH}}}$"

_KEY_RE = re.compile(KEY_PATTERN)


def random_key() -> str:
    """A new random key (cryptographic randomness, so keys cannot be predicted)."""
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def is_valid_key(value: str) -> bool:
    """Whether ``value`` is a well-formed key."""
    return bool(_KEY_RE.fullmatch(value))
