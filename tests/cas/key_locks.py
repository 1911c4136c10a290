"""A stand-in for :mod:`core.cas.thumbnails`' per-key lock entry that reports who waits on it."""

from __future__ import annotations

import threading


def observed_key_lock(changed: threading.Condition) -> type:
    """A ``thumbnails._KeyLock`` class whose entries notify ``changed`` whenever their user count
    changes, so a test can wait until N threads hold or queue on one key
    (``changed.wait_for(lambda: entry.users == n)``)."""

    class ObservedKeyLock:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self._users = 0

        @property
        def users(self) -> int:
            return self._users

        @users.setter
        def users(self, value: int) -> None:
            with changed:
                self._users = value
                changed.notify_all()

    return ObservedKeyLock
