"""Input streams for the storage tests: generated (never held whole in memory) and failing."""

from __future__ import annotations

import hashlib
import random

MIB = 1024 * 1024


class GeneratedStream:
    """A read-only stream of ``size`` pseudo-random bytes made on demand, one MiB at a time.

    Every MiB differs (so misordered parts are caught). :attr:`sha256` is the digest of the
    bytes handed out so far, i.e. of the whole stream once it has been read to the end.
    """

    def __init__(self, size: int, *, seed: int = 0) -> None:
        self._block = random.Random(seed).randbytes(MIB)
        self._size = size
        self._position = 0
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def read(self, size: int = -1) -> bytes:
        remaining = self._size - self._position
        if size is None or size < 0 or size > remaining:
            size = remaining
        out = bytearray()
        while len(out) < size:
            mib, offset = divmod(self._position + len(out), MIB)
            block = mib.to_bytes(8, "big") + self._block[8:]
            out += block[offset : offset + size - len(out)]
        self._position += size
        data = bytes(out)
        self._hash.update(data)
        return data


class FailingStream:
    """Yields ``good_bytes`` bytes of data, then raises :class:`StreamBroke` on the next read."""

    def __init__(self, good_bytes: int) -> None:
        self._inner = GeneratedStream(good_bytes, seed=1)
        self._left = good_bytes

    def read(self, size: int = -1) -> bytes:
        if self._left == 0:
            raise StreamBroke("the client went away")
        data = self._inner.read(size)
        self._left -= len(data)
        return data


class StreamBroke(Exception):
    """Raised by :class:`FailingStream`."""
