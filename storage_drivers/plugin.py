"""The built-in storage drivers, registered through the same hook a third-party plugin uses.

Each driver is named by ``"module:Class"``, so only the configured scheme's module (and SDK)
is imported.
"""

from __future__ import annotations

import pluggy

from storage_drivers.registry import BUILTIN_DRIVER_TARGETS

hookimpl = pluggy.HookimplMarker("partsbin")


@hookimpl
def register_storage_drivers() -> dict[str, str]:
    """Return the ``file``, ``s3`` and ``minio`` drivers by dotted name."""
    return dict(BUILTIN_DRIVER_TARGETS)
