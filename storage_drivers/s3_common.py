"""What the ``s3`` and ``minio`` drivers share: bucket and prefix checks, listing, errors."""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from storage_drivers.base import (
    BlobNotFound,
    BlobStat,
    InvalidKey,
    StorageDriver,
    StorageMisconfigured,
    StorageUnavailable,
    check_key,
    check_prefix,
)
from storage_drivers.streams import read_ahead, split_listing

BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
#: Prefix listed to check a bucket at start-up; no key matches it (keys never start with ".").
BUCKET_PROBE_PREFIX = ".partsbin-bucket-check"

#: Codes meaning "this object does not exist" (``404``/``NotFound`` come from HEAD requests,
#: which carry no error body).
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchObject"})

_CREDENTIAL_PROBLEMS = {
    "InvalidAccessKeyId": "does not know the access key {access_key}",
    "SignatureDoesNotMatch": "rejected the request signature: the secret key is wrong",
    "AccessDenied": "denied access to bucket {bucket!r}: check the credentials and bucket policy",
    "403": "denied access to bucket {bucket!r} (HTTP 403): check the credentials and bucket policy",
    "ExpiredToken": "rejected the session token as expired",
    "InvalidToken": "rejected the session token",
}


class ListedInPages(StorageDriver):
    """A driver listing through ListObjectsV2 pages (keys in ascending UTF-8 byte order), the
    next pages fetched ahead; sorted listings with an ``alphabet`` are split into one listing
    per character, several at once (:func:`~storage_drivers.streams.split_listing`)."""

    lists_sorted = True

    @abc.abstractmethod
    def _listing_pages(self, prefix: str) -> Iterable[list[BlobStat]]:
        """The keys under ``prefix`` (already checked), a list per page, in key order."""

    def iter_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        check_prefix(prefix)
        return read_ahead(lambda: self._listing_pages(prefix))

    def iter_sorted_keys(self, prefix: str = "", alphabet: str | None = None) -> Iterator[BlobStat]:
        check_prefix(prefix)
        if not alphabet:
            return self.iter_keys(prefix)
        return split_listing(self._listing_pages, prefix, alphabet)


@dataclass(frozen=True)
class S3Target:
    """Where requests go, for error messages."""

    service: str  # "S3" or "MinIO"
    endpoint: str
    bucket: str
    access_key: str | None

    def describe_access_key(self) -> str:
        return repr(self.access_key) if self.access_key else "(anonymous)"


def classify_s3_error(
    target: S3Target, code: str | None, status: int | None, message: str, key: str | None
) -> StorageUnavailable | StorageMisconfigured | BlobNotFound:
    """Return the storage error for an S3 error response.

    Not-found codes on an object give :class:`BlobNotFound`; refused credentials and a missing
    bucket give :class:`StorageMisconfigured` (waiting will not help: the settings or the service
    must be fixed, so the API answers 500 and logs at ERROR); everything else (server errors,
    throttling, other refusals) gives :class:`StorageUnavailable`. Each message says which problem
    it is.
    """
    where = f"{target.service} endpoint {target.endpoint}"
    code = code or (str(status) if status else None)
    if key is not None and (code in NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket")):
        return BlobNotFound(f"no object with key {key!r}")
    if code == "NoSuchBucket" or (key is None and status == 404):
        return StorageMisconfigured(f"bucket {target.bucket!r} does not exist at {where}")
    if code in _CREDENTIAL_PROBLEMS or status == 403:
        problem = _CREDENTIAL_PROBLEMS.get(code or "403", _CREDENTIAL_PROBLEMS["403"])
        text = problem.format(access_key=target.describe_access_key(), bucket=target.bucket)
        return StorageMisconfigured(f"{where} {text} ({code})")
    if status is not None and status >= 500:
        return StorageUnavailable(f"{where} failed with HTTP {status} ({code}): {message}")
    return StorageUnavailable(f"{where} refused the request with HTTP {status} ({code}): {message}")


def unreachable(target: S3Target, exc: BaseException) -> StorageUnavailable:
    """Return the error for a request that got no HTTP answer (refused, timed out, reset)."""
    return StorageUnavailable(
        f"cannot reach {target.service} endpoint {target.endpoint}: {type(exc).__name__}: {exc}"
    )


def check_bucket_name(bucket: str) -> str:
    """Return ``bucket`` if it is a valid bucket name, else raise :class:`StorageMisconfigured`."""
    if not BUCKET_PATTERN.match(bucket) or ".." in bucket:
        raise StorageMisconfigured(
            f"{bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, '.' and '-')"
        )
    return bucket


def root_prefix(url_path: str) -> str:
    """Return the key prefix ``"a/b/"`` for the URL path ``/a/b`` after the bucket (``""`` if none).

    Raises :class:`StorageMisconfigured` if the path is not a safe key.
    """
    prefix = url_path.strip("/")
    if not prefix:
        return ""
    try:
        check_key(prefix)
    except InvalidKey as exc:
        raise StorageMisconfigured(f"invalid key prefix {prefix!r} in the storage URL") from exc
    return prefix + "/"
