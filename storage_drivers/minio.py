"""A storage driver for MinIO and other S3-compatible servers, through the ``minio`` SDK.

URL::

    minio://host:9000/bucket[/key/prefix]?secure=false&access_key=...&secret_key=...
        &region=us-east-1&create_bucket=true&connect_timeout=5&read_timeout=30

``secure`` defaults to ``true`` (HTTPS); ``region`` defaults to ``us-east-1`` (giving it avoids a
bucket-location request). Credentials come from the URL, else from the environment variables
``PARTSBIN_MINIO_ACCESS_KEY`` and ``PARTSBIN_MINIO_SECRET_KEY``; with neither, requests are
anonymous. An optional path after the bucket is a key prefix. Timeouts are in seconds (defaults:
connect 3, read 10); a failed request is retried once, so a frozen server fails a request within
about 20 s. The readiness probe (:meth:`MinioDriver.check`) uses its own connection pool with a
2 s budget and no retry.

The bucket is checked when the driver is built: missing -> :class:`StorageMisconfigured` (or
created with ``create_bucket=true``); unreachable or refused credentials ->
:class:`StorageUnavailable`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, BinaryIO

from storage_drivers.base import (
    PRESIGNABLE_HEADERS,
    BlobNotFound,
    BlobStat,
    StorageError,
    StorageMisconfigured,
    StorageUnavailable,
    check_key,
)
from storage_drivers.s3_common import (
    BUCKET_PROBE_PREFIX,
    ListedInPages,
    S3Target,
    check_bucket_name,
    classify_s3_error,
    root_prefix,
    unreachable,
)
from storage_drivers.streams import (
    CHUNK_SIZE,
    ClosingIterator,
    SizeCheckingReader,
    check_range,
)
from storage_drivers.url_params import bool_param, parse_storage_url, seconds_param

#: Listed keys handed over at a time by :meth:`MinioDriver.iter_keys` (an S3 listing page).
LISTING_PAGE = 1000

try:
    import certifi
    import urllib3
    from minio import Minio
    from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
except ImportError as exc:  # pragma: no cover - reported when a driver is built
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

_PARAMS = (
    "secure",
    "access_key",
    "secret_key",
    "region",
    "create_bucket",
    "connect_timeout",
    "read_timeout",
)
ACCESS_KEY_ENV = "PARTSBIN_MINIO_ACCESS_KEY"
SECRET_KEY_ENV = "PARTSBIN_MINIO_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
#: Part size of streaming uploads (the S3 minimum): the SDK holds one part, and a copy of it, in
#: memory at a time.
PART_SIZE = 5 * 1024 * 1024


class MinioDriver(ListedInPages):
    """Stores objects in one bucket of an S3-compatible server (optionally under a key prefix)."""

    scheme = "minio"

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        *,
        prefix: str = "",
        secure: bool = True,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        create_bucket: bool = False,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        """Build the client for ``endpoint`` (``host[:port]``) and check the bucket."""
        if _IMPORT_ERROR is not None:
            raise StorageMisconfigured(
                "the minio storage driver needs the minio SDK: pip install minio"
            ) from _IMPORT_ERROR
        check_bucket_name(bucket)
        if (access_key is None) != (secret_key is None):
            raise StorageMisconfigured("minio storage needs access_key and secret_key, or neither")
        self.bucket = bucket
        self._root = root_prefix(prefix)
        # Like boto3's "standard" mode with 2 attempts: retry connection errors, timeouts and
        # 5xx replies once.
        retries = urllib3.Retry(
            total=1,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
            raise_on_status=False,
        )
        self._http = self._pool(connect_timeout, read_timeout, retries, maxsize=20)
        self._client_arguments: dict[str, Any] = {
            "endpoint": endpoint,
            "access_key": access_key,
            "secret_key": secret_key,
            "secure": secure,
            "region": region,
        }
        self._probe_http = self._pool(2.0, 2.0, urllib3.Retry(total=0, raise_on_status=False), 2)
        try:
            self._client = Minio(**self._client_arguments, http_client=self._http)
            self._probe = Minio(**self._client_arguments, http_client=self._probe_http)
        except ValueError as exc:
            raise StorageMisconfigured(f"bad minio endpoint {endpoint!r}: {exc}") from exc
        scheme = "https" if secure else "http"
        self._target = S3Target("MinIO", f"{scheme}://{endpoint}", bucket, access_key)
        self._ensure_bucket(create_bucket)

    @classmethod
    def from_url(cls, url: str) -> MinioDriver:
        """Build from ``minio://host:port/bucket[/prefix]?...`` (see the module docstring)."""
        parsed = parse_storage_url(url, scheme="minio", allowed_params=_PARAMS)
        if not parsed.netloc or "@" in parsed.netloc:
            raise StorageMisconfigured(
                f"minio storage URL {parsed.redacted!r} must name host:port (credentials go in "
                "the access_key and secret_key parameters)"
            )
        bucket, _, prefix = parsed.path.lstrip("/").partition("/")
        if not bucket:
            raise StorageMisconfigured(f"minio storage URL {parsed.redacted!r} names no bucket")
        params = parsed.params
        access_key = params.get("access_key", os.environ.get(ACCESS_KEY_ENV))
        secret_key = params.get("secret_key", os.environ.get(SECRET_KEY_ENV))
        return cls(
            parsed.netloc,
            bucket,
            prefix=prefix,
            secure=bool_param(params, "secure", True),
            access_key=access_key or None,
            secret_key=secret_key or None,
            region=params.get("region") or "us-east-1",
            create_bucket=bool_param(params, "create_bucket", False),
            connect_timeout=seconds_param(params, "connect_timeout", 3.0),
            read_timeout=seconds_param(params, "read_timeout", 10.0),
        )

    def _ensure_bucket(self, create: bool) -> None:
        # A listing rather than HEAD: its error replies carry a code saying what is wrong.
        try:
            probe = self._root + BUCKET_PROBE_PREFIX
            next(iter(self._client.list_objects(self.bucket, prefix=probe)), None)
            return
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise self._translate(exc, None) from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise self._translate(exc, None) from exc
        if not create:
            raise StorageMisconfigured(
                f"bucket {self.bucket!r} does not exist at {self._target.endpoint}; "
                "create it or add create_bucket=true to the storage URL"
            )
        try:
            self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._translate(exc, None) from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise self._translate(exc, None) from exc

    # --- operations ----------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> None:
        """Upload with ``put_object(length=-1, part_size=5 MiB)``, one part at a time.

        Raises :class:`ValueError` (storing nothing) if ``size`` is given and the stream yields a
        different number of bytes; exceptions raised by ``stream`` propagate unchanged.
        """
        name = self._name(key)
        reader: Any = SizeCheckingReader(stream, size)
        with self._errors(key=None):
            # One part in flight: the SDK holds each part in memory (and copies it once).
            self._client.put_object(
                self.bucket, name, reader, length=-1, part_size=PART_SIZE, num_parallel_uploads=1
            )

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """GET the object (ranged unless reading it whole) and stream the body in 64 KiB chunks.

        A ``start`` past the end of the object yields nothing.
        """
        check_range(start, end)
        length = 0 if end is None else end - start + 1
        try:
            response = self._client.get_object(
                self.bucket, self._name(key), offset=start, length=length
            )
        except S3Error as exc:
            if exc.code == "InvalidRange":
                return ClosingIterator(iter(()), lambda: None)
            raise self._translate(exc, key) from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise self._translate(exc, key) from exc

        def release() -> None:
            response.close()
            response.release_conn()

        return ClosingIterator(self._chunks(response, key), release)

    def _chunks(self, response: Any, key: str) -> Iterator[bytes]:
        with self._errors(key):
            yield from response.stream(CHUNK_SIZE)

    def stat(self, key: str) -> BlobStat | None:
        try:
            result = self._client.stat_object(self.bucket, self._name(key))
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            error = self._translate(exc, key)
            if isinstance(error, BlobNotFound):
                return None
            raise error from exc
        return BlobStat(key, int(result.size or 0), result.last_modified)

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            self._client.remove_object(self.bucket, name)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            error = self._translate(exc, key)
            if not isinstance(error, BlobNotFound):
                raise error from exc

    def delete_many(self, keys: Sequence[str]) -> None:
        """DeleteObjects through ``remove_objects`` (the SDK sends 1,000 keys per call)."""
        from minio.deleteobjects import DeleteObject

        objects = [DeleteObject(self._name(key)) for key in keys]
        with self._errors(key=None):
            errors = list(self._client.remove_objects(self.bucket, objects))
        errors = [error for error in errors if error.code != "NoSuchKey"]
        if errors:
            raise StorageUnavailable(f"S3 refused to delete {len(errors)} keys: {errors[0]}")

    def _listing_pages(self, prefix: str) -> Iterator[list[BlobStat]]:
        skip = len(self._root)
        page: list[BlobStat] = []
        with self._errors(key=None):
            for item in self._client.list_objects(
                self.bucket, prefix=self._root + prefix, recursive=True
            ):
                if not item.is_dir and item.object_name is not None:
                    page.append(
                        BlobStat(item.object_name[skip:], int(item.size or 0), item.last_modified)
                    )
                    if len(page) == LISTING_PAGE:
                        yield page
                        page = []
        if page:
            yield page

    def presigned_get_url(
        self,
        key: str,
        expires_seconds: int = 300,
        response_headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """Return a SigV4 presigned GET URL (computed locally, no request is made).

        ``response_headers`` become the signed ``response-*`` query parameters; ``None`` if one
        of them has no S3 override (see :data:`~storage_drivers.base.PRESIGNABLE_HEADERS`).
        """
        overrides: dict[str, str | list[str] | tuple[str]] = {}
        for name, value in (response_headers or {}).items():
            if name not in PRESIGNABLE_HEADERS:
                return None
            overrides[f"response-{name.lower()}"] = value
        with self._errors(key):
            return self._client.presigned_get_object(
                self.bucket,
                self._name(key),
                expires=timedelta(seconds=expires_seconds),
                response_headers=overrides or None,
            )

    @staticmethod
    def _pool(connect: float, read: float, retries: Any, maxsize: int) -> Any:
        return urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect, read=read),
            retries=retries,
            maxsize=maxsize,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        )

    def check(self, timeout: float = 2.0) -> None:
        """Stat a probe key through a pool of its own: ``timeout`` per connect and read, no retry.

        Raises :class:`StorageUnavailable` when the server does not answer in time.
        """
        probe = self._probe
        if timeout != 2.0:
            http = self._pool(timeout, timeout, urllib3.Retry(total=0, raise_on_status=False), 1)
            probe = Minio(**self._client_arguments, http_client=http)
        try:
            probe.stat_object(self.bucket, self._root + BUCKET_PROBE_PREFIX)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            error = self._translate(exc, "healthcheck/probe")
            if not isinstance(error, BlobNotFound):
                raise error from exc

    def close(self) -> None:
        self._http.clear()
        self._probe_http.clear()

    # --- helpers -------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self._root + check_key(key)

    @contextlib.contextmanager
    def _errors(self, key: str | None) -> Iterator[None]:
        """Translate minio and urllib3 errors raised inside the block; others pass through."""
        try:
            yield
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise self._translate(exc, key) from exc

    def _translate(self, exc: Exception, key: str | None) -> StorageError:
        if isinstance(exc, S3Error):
            status = exc.response.status if exc.response is not None else None
            return classify_s3_error(self._target, exc.code, status, exc.message or "", key)
        if isinstance(exc, ServerError):
            return classify_s3_error(self._target, None, exc.status_code, str(exc), key)
        if isinstance(exc, InvalidResponseError):
            return StorageUnavailable(
                f"{self._target.service} endpoint {self._target.endpoint} sent a non-S3 answer: "
                f"{exc}"
            )
        return unreachable(self._target, exc)
