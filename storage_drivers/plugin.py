"""The built-in storage drivers, registered through the same hook a third-party plugin uses."""

from __future__ import annotations

import pluggy

from storage_drivers.base import StorageDriver
from storage_drivers.registry import BUILTIN_DRIVERS

hookimpl = pluggy.HookimplMarker("partsbin")


@hookimpl
def register_storage_drivers() -> dict[str, type[StorageDriver]]:
    """Return the ``file``, ``s3`` and ``minio`` drivers (importing their modules now)."""
    return dict(BUILTIN_DRIVERS)
