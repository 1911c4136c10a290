"""A storage driver for Amazon S3 and S3-compatible servers, through boto3.

URL::

    s3://bucket[/key/prefix]?endpoint_url=http://127.0.0.1:8333&region=us-east-1
        &access_key=...&secret_key=...&create_bucket=true&addressing_style=path
        &connect_timeout=5&read_timeout=30&max_attempts=2

Every parameter is optional. Without ``access_key``/``secret_key`` the boto3 credential chain is
used (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, instance roles), resolved once
per process; ``region`` falls back to ``AWS_REGION``/``AWS_DEFAULT_REGION``, then ``us-east-1``.
An optional path after the bucket is a key prefix: the driver then sees only keys under it.
Timeouts are in seconds; ``max_attempts`` counts the first try, so a dead endpoint fails within
a few seconds. ``addressing_style`` defaults to ``path`` with an ``endpoint_url``, else ``auto``.

The bucket is checked when the driver is built: missing -> :class:`StorageMisconfigured` (or
created with ``create_bucket=true``); unreachable or refused credentials ->
:class:`StorageUnavailable`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from storage_drivers.base import (
    BlobNotFound,
    BlobStat,
    StorageDriver,
    StorageError,
    StorageMisconfigured,
    StorageUnavailable,
    check_key,
    check_prefix,
)
from storage_drivers.s3_common import (
    BUCKET_PROBE_PREFIX,
    S3Target,
    check_bucket_name,
    classify_s3_error,
    root_prefix,
    unreachable,
)
from storage_drivers.streams import CHUNK_SIZE, ClosingIterator, SizeCheckingReader, check_range
from storage_drivers.url_params import (
    bool_param,
    int_param,
    parse_storage_url,
    seconds_param,
)

try:
    import boto3
    import boto3.exceptions
    import botocore.exceptions
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
except ImportError as exc:  # pragma: no cover - reported when a driver is built
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

_PARAMS = (
    "endpoint_url",
    "region",
    "access_key",
    "secret_key",
    "create_bucket",
    "addressing_style",
    "connect_timeout",
    "read_timeout",
    "max_attempts",
)
_ADDRESSING_STYLES = ("auto", "path", "virtual")
_PART_SIZE = 8 * 1024 * 1024


class S3Driver(StorageDriver):
    """Stores objects in one S3 bucket (optionally under a key prefix); thread-safe."""

    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        create_bucket: bool = False,
        addressing_style: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 2,
    ) -> None:
        """Build the client and check the bucket (see the module docstring for errors)."""
        if _IMPORT_ERROR is not None:
            raise StorageMisconfigured(
                "the s3 storage driver needs boto3: pip install boto3"
            ) from _IMPORT_ERROR
        check_bucket_name(bucket)
        if (access_key is None) != (secret_key is None):
            raise StorageMisconfigured("s3 storage needs access_key and secret_key, or neither")
        style = addressing_style or ("path" if endpoint_url else "auto")
        if style not in _ADDRESSING_STYLES:
            raise StorageMisconfigured(
                f"addressing_style={style!r} is not one of {', '.join(_ADDRESSING_STYLES)}"
            )
        self.bucket = bucket
        self._root = root_prefix(prefix)
        session = _shared_session()
        region = region or session.region_name or "us-east-1"
        s3_options: Any = {"addressing_style": style}  # a TypedDict of Literal values in stubs
        config = Config(
            region_name=region,
            signature_version="s3v4",
            s3=s3_options,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=20,
        )
        try:
            with _session_lock:  # creating clients from one session is not thread-safe
                self._client: Any = session.client(
                    "s3",
                    endpoint_url=endpoint_url,
                    aws_access_key_id=access_key,
                    aws_secret_access_key=secret_key,
                    config=config,
                )
                if access_key is None:
                    credentials = session.get_credentials()
                    access_key = credentials.access_key if credentials else None
        except ValueError as exc:  # botocore rejects a malformed endpoint_url
            raise StorageMisconfigured(f"bad s3 endpoint_url {endpoint_url!r}: {exc}") from exc
        self._target = S3Target("S3", endpoint_url or f"(AWS, region {region})", bucket, access_key)
        self._transfer = TransferConfig(
            multipart_threshold=_PART_SIZE,
            multipart_chunksize=_PART_SIZE,
            max_concurrency=2,
            use_threads=True,
        )
        # Parts read from a non-seekable stream are buffered in memory: bound them to 2 parts
        # (16 MiB), which keeps a 1 GB upload under the 64 MB memory budget.
        self._transfer.max_in_memory_upload_chunks = 2
        self._region = region
        self._probe_prefix = self._root + BUCKET_PROBE_PREFIX
        self._ensure_bucket(create_bucket)

    @classmethod
    def from_url(cls, url: str) -> S3Driver:
        """Build from ``s3://bucket[/prefix]?...`` (see the module docstring)."""
        parsed = parse_storage_url(url, scheme="s3", allowed_params=_PARAMS)
        if not parsed.netloc:
            raise StorageMisconfigured(f"s3 storage URL {parsed.redacted!r} names no bucket")
        if "@" in parsed.netloc:
            raise StorageMisconfigured(
                f"s3 storage URL {parsed.redacted!r} has credentials before the bucket; "
                "pass access_key and secret_key as parameters"
            )
        params = parsed.params
        return cls(
            parsed.netloc,
            prefix=parsed.path,
            endpoint_url=params.get("endpoint_url") or None,
            region=params.get("region") or None,
            access_key=params.get("access_key"),
            secret_key=params.get("secret_key"),
            create_bucket=bool_param(params, "create_bucket", False),
            addressing_style=params.get("addressing_style") or None,
            connect_timeout=seconds_param(params, "connect_timeout", 5.0),
            read_timeout=seconds_param(params, "read_timeout", 30.0),
            max_attempts=int_param(params, "max_attempts", 2, minimum=1),
        )

    def _ensure_bucket(self, create: bool) -> None:
        # A listing rather than HeadBucket: its error replies carry a code saying what is wrong.
        try:
            self._client.list_objects_v2(Bucket=self.bucket, Prefix=self._probe_prefix, MaxKeys=1)
            return
        except botocore.exceptions.ClientError as exc:
            code, status = _code_and_status(exc)
            if status != 404 and code != "NoSuchBucket":
                raise self._translate(exc, None) from exc
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, None) from exc
        if not create:
            raise StorageMisconfigured(
                f"bucket {self.bucket!r} does not exist at {self._target.endpoint}; "
                "create it or add create_bucket=true to the storage URL"
            )
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        if self._region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self._client.create_bucket(**arguments)
        except botocore.exceptions.ClientError as exc:
            if _code_and_status(exc)[0] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._translate(exc, None) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._translate(exc, None) from exc

    # --- operations ----------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> None:
        """Upload with boto3's managed transfer (multipart above 8 MiB, parts buffered in memory).

        Raises :class:`ValueError` (storing nothing) if ``size`` is given and the stream yields a
        different number of bytes; exceptions raised by ``stream`` propagate unchanged.
        """
        name = self._name(key)
        reader = SizeCheckingReader(stream, size)
        with self._errors(key=None):
            self._client.upload_fileobj(reader, self.bucket, name, Config=self._transfer)

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """GET the object (with a ``Range`` header unless reading it whole) and stream the body.

        A ``start`` past the end of the object yields nothing.
        """
        check_range(start, end)
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self._name(key)}
        if start or end is not None:
            arguments["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            response = self._client.get_object(**arguments)
        except botocore.exceptions.ClientError as exc:
            if _code_and_status(exc)[0] == "InvalidRange":
                return ClosingIterator(iter(()), lambda: None)
            raise self._translate(exc, key) from exc
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, key) from exc
        body = response["Body"]
        return ClosingIterator(self._chunks(body, key), body.close)

    def _chunks(self, body: Any, key: str) -> Iterator[bytes]:
        with self._errors(key):
            yield from body.iter_chunks(CHUNK_SIZE)

    def stat(self, key: str) -> BlobStat | None:
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=self._name(key))
        except botocore.exceptions.ClientError as exc:
            error = self._translate(exc, key)
            if isinstance(error, BlobNotFound):
                return None
            raise error from exc
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, key) from exc
        return BlobStat(key, int(response["ContentLength"]), response.get("LastModified"))

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=name)
        except botocore.exceptions.ClientError as exc:
            error = self._translate(exc, key)
            if not isinstance(error, BlobNotFound):
                raise error from exc
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, key) from exc

    def iter_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        """List with ListObjectsV2, 1,000 keys per page."""
        check_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        skip = len(self._root)
        with self._errors(key=None):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._root + prefix):
                for item in page.get("Contents", ()):
                    yield BlobStat(item["Key"][skip:], int(item["Size"]), item.get("LastModified"))

    def presigned_get_url(self, key: str, expires_seconds: int = 300) -> str | None:
        """Return a SigV4 presigned GET URL (computed locally, no request is made)."""
        with self._errors(key):
            url: str = self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._name(key)},
                ExpiresIn=expires_seconds,
            )
        return url

    def close(self) -> None:
        self._client.close()

    # --- helpers -------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self._root + check_key(key)

    @contextlib.contextmanager
    def _errors(self, key: str | None) -> Iterator[None]:
        """Translate boto3/botocore errors raised inside the block; others pass through."""
        try:
            yield
        except (
            botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError,
            boto3.exceptions.Boto3Error,
        ) as exc:
            raise self._translate(exc, key) from exc

    def _translate(self, exc: Exception, key: str | None) -> StorageError:
        if isinstance(exc, botocore.exceptions.ClientError):
            code, status = _code_and_status(exc)
            message = str(exc.response.get("Error", {}).get("Message", ""))
            return classify_s3_error(self._target, code, status, message, key)
        credential_errors = (
            botocore.exceptions.NoCredentialsError,
            botocore.exceptions.PartialCredentialsError,
        )
        if isinstance(exc, credential_errors):
            return StorageUnavailable(
                f"no usable S3 credentials for {self._target.endpoint} ({exc}): set access_key "
                "and secret_key in the storage URL or the AWS environment variables"
            )
        return unreachable(self._target, exc)


_session_lock = threading.Lock()
_session: Any = None


def _shared_session() -> Any:
    """Return the process's boto3 session (loading botocore's models once, not per driver).

    Credentials given in a URL go to each client; the session supplies the default credential
    chain and region, read once per process.
    """
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session


def _code_and_status(exc: Any) -> tuple[str | None, int | None]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code"), status
