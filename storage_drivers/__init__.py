"""Storage drivers: bytes by key. See :mod:`storage_drivers.base` for the interface and
:mod:`storage_drivers.registry` for choosing a driver from a URL."""

from storage_drivers.base import (
    BlobNotFound,
    BlobStat,
    InvalidKey,
    StorageDriver,
    StorageError,
    StorageMisconfigured,
    StorageUnavailable,
    check_key,
    check_prefix,
)

__all__ = [
    "BlobNotFound",
    "BlobStat",
    "InvalidKey",
    "StorageDriver",
    "StorageError",
    "StorageMisconfigured",
    "StorageUnavailable",
    "check_key",
    "check_prefix",
]
