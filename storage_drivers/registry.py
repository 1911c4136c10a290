"""Choosing a storage driver from its URL.

:data:`BUILTIN_DRIVERS` maps each built-in scheme to its driver class, importing the driver's
module only when the scheme is first looked up, so importing this module imports neither boto3
nor minio.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from storage_drivers.base import StorageDriver, StorageMisconfigured
from storage_drivers.url_params import redact_url


class LazyDriverMap(Mapping[str, type[StorageDriver]]):
    """A read-only mapping of scheme -> driver class, given as ``"module:Class"`` strings that are
    imported on first access. Looking up an unknown scheme raises :class:`KeyError`."""

    def __init__(self, targets: Mapping[str, str | type[StorageDriver]]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, type[StorageDriver]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, scheme: str) -> type[StorageDriver]:
        with self._lock:
            if scheme not in self._loaded:
                self._loaded[scheme] = _import_driver(scheme, self._targets[scheme])
            return self._loaded[scheme]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def __contains__(self, scheme: object) -> bool:
        return scheme in self._targets


def _import_driver(scheme: str, target: str | type[StorageDriver]) -> type[StorageDriver]:
    driver: object = target
    if isinstance(target, str):
        module_name, _, class_name = target.partition(":")
        driver = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(driver, type) and issubclass(driver, StorageDriver)):
        raise TypeError(f"{target} (storage scheme {scheme!r}) is not a StorageDriver subclass")
    return driver


#: The drivers that ship with Partsbin, by dotted name.
BUILTIN_DRIVER_TARGETS: Mapping[str, str] = {
    "file": "storage_drivers.local:LocalDriver",
    "s3": "storage_drivers.s3:S3Driver",
    "minio": "storage_drivers.minio:MinioDriver",
}

#: The drivers that ship with Partsbin (each module imported on first lookup).
BUILTIN_DRIVERS: Mapping[str, type[StorageDriver]] = LazyDriverMap(BUILTIN_DRIVER_TARGETS)


def url_scheme(url: str) -> str:
    """Return the URL's scheme; a plain absolute path (``/var/lib/blobs``) counts as ``file``."""
    if url.startswith("/"):
        return "file"
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def open_storage(url: str, drivers: Mapping[str, type[StorageDriver]]) -> StorageDriver:
    """Build the driver that ``drivers`` registers for the URL's scheme.

    Raises :class:`StorageMisconfigured` if the scheme is unknown (the message lists the known
    schemes) or the driver rejects the URL; a driver may also raise
    :class:`~storage_drivers.base.StorageUnavailable` if its backend cannot be reached.
    """
    scheme = url_scheme(url)
    if scheme not in drivers:
        known = ", ".join(sorted(drivers)) or "none"
        raise StorageMisconfigured(
            f"unknown storage scheme {scheme!r} in storage URL {redact_url(url)!r}; "
            f"known schemes: {known}"
        )
    return drivers[scheme].from_url(url)
