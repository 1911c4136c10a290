"""Part keys: random uppercase ASCII letters, four of them while four-letter keys are free.

Four letters give 26**4 = 456,976 keys. Creation never depends on luck: a few random keys are
tried, and when they are all taken (a crowded space) the unique index is walked from a random
point to the next free key, for a bounded number of index reads. When that finds none either,
the space counts as full and the key comes from the next longer space (five letters, then six,
up to :data:`MAX_KEY_LENGTH`), so creation keeps working at any size. The UI contract types
``part_key`` as a plain string (only the AI clean-up request, which Partsbin does not offer,
pins four letters), and the UI displays whatever key it gets.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

#: The length of new keys while that space has room.
KEY_LENGTH = 4
#: The longest key (26**8 keys: more parts than any database here will hold).
MAX_KEY_LENGTH = 8
KEY_ALPHABET = string.ascii_uppercase
#: A well-formed key (path parameters are validated against it; anything else is a 400).
KEY_PATTERN = rf"^[A-Z]{{{KEY_LENGTH},{MAX_KEY_LENGTH}}}$"

_KEY_RE = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class KeySpace:
    """The keys creation draws from: every string of ``length`` letters of ``alphabet``.

    ``alphabet`` must be sorted (keys are walked in the database's sort order, which for
    uppercase ASCII is the same on SQLite and PostgreSQL). Tests pass a tiny space to simulate a
    crowded one without inserting 400k rows.
    """

    alphabet: str = KEY_ALPHABET
    length: int = KEY_LENGTH

    @property
    def size(self) -> int:
        """How many keys the space holds."""
        return len(self.alphabet) ** self.length

    def key_at(self, index: int) -> str:
        """The ``index``-th key in sort order (``0 <= index < size``)."""
        base = len(self.alphabet)
        letters = []
        for _ in range(self.length):
            index, digit = divmod(index, base)
            letters.append(self.alphabet[digit])
        return "".join(reversed(letters))

    def index_of(self, key: str) -> int:
        """The position of ``key`` in sort order (inverse of :meth:`key_at`)."""
        base = len(self.alphabet)
        index = 0
        for letter in key:
            index = index * base + self.alphabet.index(letter)
        return index

    def contains(self, key: str) -> bool:
        """Whether ``key`` belongs to this space."""
        return len(key) == self.length and all(letter in self.alphabet for letter in key)

    def random_key(self) -> str:
        """A random key of this space (cryptographic randomness, so keys cannot be predicted)."""
        return "".join(secrets.choice(self.alphabet) for _ in range(self.length))


#: The four-letter space new keys come from first.
DEFAULT_SPACE = KeySpace()
#: The spaces new keys come from, in order: each is used once the ones before it are full.
KEY_SPACES: tuple[KeySpace, ...] = tuple(
    KeySpace(length=length) for length in range(KEY_LENGTH, MAX_KEY_LENGTH + 1)
)


def random_key() -> str:
    """A new random key (cryptographic randomness, so keys cannot be predicted)."""
    return DEFAULT_SPACE.random_key()


def is_valid_key(value: str) -> bool:
    """Whether ``value`` is a well-formed key."""
    return bool(_KEY_RE.fullmatch(value))
