"""A storage driver for Amazon S3 and S3-compatible servers, through boto3.

URL::

    s3://bucket[/key/prefix]?endpoint_url=http://127.0.0.1:8333&region=us-east-1
        &access_key=...&secret_key=...&create_bucket=true&addressing_style=path
        &connect_timeout=3&read_timeout=10&max_attempts=2

Every parameter is optional. Without ``access_key``/``secret_key`` the boto3 credential chain is
used (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, instance roles), resolved once
per process; ``region`` falls back to ``AWS_REGION``/``AWS_DEFAULT_REGION``, then ``us-east-1``.
An optional path after the bucket is a key prefix: the driver then sees only keys under it.
Timeouts are in seconds (defaults: connect 3, read 10, so a frozen server fails a request within
about 20 s with the retry); ``max_attempts`` (default 2) counts the first try. The readiness
probe (:meth:`S3Driver.check`) uses its own client with a 2 s budget and no retry.
``addressing_style`` defaults to ``path`` with an ``endpoint_url``, else ``auto``.

The bucket is checked when the driver is built: missing -> :class:`StorageMisconfigured` (or
created with ``create_bucket=true``); unreachable or refused credentials ->
:class:`StorageUnavailable`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
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
    import botocore.session
    import botocore.utils
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    from storage_drivers import s3_listing
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
#: Parts of one upload in flight at once.
_CONCURRENCY = 2


class S3Driver(ListedInPages):
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
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
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
            # botocore: "max_attempts" counts retries only; "total_max_attempts" the first try too
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=20,
        )
        self._client_arguments: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
        }
        self._config = config
        self._probe_clients: dict[float, Any] = {}
        self._conditional = True  # see conditional_puts
        try:
            with _session_lock:  # creating clients from one session is not thread-safe
                self._client: Any = session.client(
                    "s3", config=config, **self._client_arguments
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
            max_concurrency=_CONCURRENCY,
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
            connect_timeout=seconds_param(params, "connect_timeout", 3.0),
            read_timeout=seconds_param(params, "read_timeout", 10.0),
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
        """Upload ``stream``; multipart above 8 MiB, two parts in flight.

        A seekable stream of known ``size`` (the upload spool) is sent straight from the stream:
        each part reads its own byte window (under a lock), so memory stays at a few buffers
        whatever the size. Any other stream goes through boto3's managed transfer, which buffers
        at most two parts in memory. Raises :class:`ValueError` (storing nothing) if ``size`` is
        given and the stream holds a different number of bytes; exceptions raised by ``stream``
        propagate unchanged.
        """
        name = self._name(key)
        if size is not None and _seekable(stream):
            self._put_windows(name, stream, size)
            return
        reader = SizeCheckingReader(stream, size)
        with self._errors(key=None):
            self._client.upload_fileobj(reader, self.bucket, name, Config=self._transfer)

    #: One conditional request per :meth:`put_if_absent` up to :data:`_PART_SIZE` (larger
    #: objects look first, then upload in parts). Servers that do not implement
    #: ``If-None-Match`` on PUT (501) switch this driver to looking first.
    conditional_puts = True

    def put_if_absent(self, key: str, stream: BinaryIO, size: int) -> bool:
        """One ``PutObject`` with ``If-None-Match: *``: stored, or 412 (``False``) when an
        object is there; above :data:`_PART_SIZE`, or on a seekable-less stream, the default
        (``stat``, then :meth:`put`)."""
        if not self._conditional or size > _PART_SIZE or not _seekable(stream):
            return super().put_if_absent(key, stream, size)
        start = _start_holding(stream, size)
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._name(key),
                Body=_Window(stream, threading.Lock(), start, size),
                ContentLength=size,
                IfNoneMatch="*",
            )
        except botocore.exceptions.ClientError as exc:
            code, status = _code_and_status(exc)
            if status == 412 or code == "PreconditionFailed":
                return False
            if status == 501 or code == "NotImplemented":
                self._conditional = False  # the server refuses the header: look first from now on
                stream.seek(start)
                return super().put_if_absent(key, stream, size)
            if status == 409:  # ConditionalRequestConflict: a concurrent write of the same key
                stream.seek(start)
                return super().put_if_absent(key, stream, size)
            raise self._translate(exc, key=None) from exc
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, key=None) from exc
        return True

    def _put_windows(self, name: str, stream: BinaryIO, size: int) -> None:
        start = _start_holding(stream, size)
        lock = threading.Lock()
        if size <= _PART_SIZE:
            with self._errors(key=None):
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=_Window(stream, lock, start, size),
                    ContentLength=size,
                )
            return
        with self._errors(key=None):
            upload_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=name)[
                "UploadId"
            ]

        def send(number: int) -> dict[str, Any]:
            offset = (number - 1) * _PART_SIZE
            length = min(_PART_SIZE, size - offset)
            answer = self._client.upload_part(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                PartNumber=number,
                Body=_Window(stream, lock, start + offset, length),
                ContentLength=length,
            )
            return {"PartNumber": number, "ETag": answer["ETag"]}

        numbers = range(1, (size + _PART_SIZE - 1) // _PART_SIZE + 1)
        try:
            with self._errors(key=None), ThreadPoolExecutor(_CONCURRENCY) as pool:
                parts = list(pool.map(send, numbers))
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id
                )
            raise

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

    def delete_many(self, keys: Sequence[str]) -> None:
        """DeleteObjects, 1,000 keys per call (the S3 maximum)."""
        for start in range(0, len(keys), 1000):
            objects = [{"Key": self._name(key)} for key in keys[start : start + 1000]]
            with self._errors(key=None):
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            errors = [e for e in answer.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise StorageUnavailable(f"S3 refused to delete {len(errors)} keys: {errors[0]}")

    def _listing_pages(self, prefix: str) -> Iterator[list[BlobStat]]:
        paginator = self._client.get_paginator("list_objects_v2")
        skip = len(self._root)
        with self._errors(key=None):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._root + prefix):
                yield [
                    BlobStat(item["Key"][skip:], int(item["Size"]), item.get("LastModified"))
                    for item in page.get("Contents", ())
                ]

    def presigned_get_url(
        self,
        key: str,
        expires_seconds: int = 300,
        response_headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """Return a SigV4 presigned GET URL (computed locally, no request is made).

        ``response_headers`` become the signed ``response-*`` overrides; ``None`` if one of
        them has no S3 override (see :data:`~storage_drivers.base.PRESIGNABLE_HEADERS`).
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._name(key)}
        for name, value in (response_headers or {}).items():
            parameter = PRESIGNABLE_HEADERS.get(name)
            if parameter is None:
                return None
            params[parameter] = value
        with self._errors(key):
            url: str = self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_seconds
            )
        return url

    def check(self, timeout: float = 2.0) -> None:
        """HEAD a probe key with a client of its own: ``timeout`` per connect and read, no retry."""
        client = self._probe_client(timeout)
        try:
            client.head_object(Bucket=self.bucket, Key=self._probe_prefix)
        except botocore.exceptions.ClientError as exc:
            error = self._translate(exc, "healthcheck/probe")
            if not isinstance(error, BlobNotFound):
                raise error from exc
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, None) from exc

    def _probe_client(self, timeout: float) -> Any:
        with _session_lock:
            client = self._probe_clients.get(timeout)
            if client is None:
                config = self._config.merge(
                    Config(
                        connect_timeout=timeout,
                        read_timeout=timeout,
                        retries={"total_max_attempts": 1, "mode": "standard"},
                    )
                )
                client = _session.client("s3", config=config, **self._client_arguments)
                self._probe_clients[timeout] = client
            return client

    def close(self) -> None:
        self._client.close()
        for client in self._probe_clients.values():
            client.close()

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
            core_session = botocore.session.get_session()
            s3_listing.install(core_session, parse_timestamp)
            _session = boto3.session.Session(botocore_session=core_session)
        return _session


def parse_timestamp(value: Any) -> datetime:
    """Parse a timestamp of an S3 answer into an aware datetime.

    ISO 8601 (every ``LastModified`` of a listing) goes through :meth:`datetime.fromisoformat`,
    about 40 times faster than botocore's default (dateutil), which spent half of a listing's
    time; anything else (HTTP dates of HEAD answers, epoch numbers) falls back to botocore's.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    result: datetime = botocore.utils.parse_timestamp(value)
    return result


def _start_holding(stream: BinaryIO, size: int) -> int:
    """The position of a seekable ``stream``, checked to have exactly ``size`` bytes after it;
    raises :class:`ValueError` (before anything is sent) otherwise."""
    start = stream.tell()
    available = stream.seek(0, 2) - start
    stream.seek(start)
    if available != size:
        raise ValueError(f"stream holds {available} bytes; {size} were announced")
    return start


def _seekable(stream: object) -> bool:
    """Whether ``stream`` can be read at any offset (``seek``/``tell``, not declared unseekable)."""
    if not (callable(getattr(stream, "seek", None)) and callable(getattr(stream, "tell", None))):
        return False
    seekable = getattr(stream, "seekable", None)
    return bool(seekable()) if callable(seekable) else True


class _Window:
    """A seekable read-only view of ``length`` bytes of ``stream`` from ``start``.

    Several windows share one stream: each read seeks and reads under ``lock``, so parts can be
    sent concurrently (botocore may read a body twice: once to checksum it, once to send it).
    """

    def __init__(self, stream: BinaryIO, lock: threading.Lock, start: int, length: int) -> None:
        self._stream = stream
        self._lock = lock
        self._start = start
        self._length = length
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._position
        want = remaining if size is None or size < 0 else min(size, remaining)
        if want <= 0:
            return b""
        with self._lock:
            self._stream.seek(self._start + self._position)
            data = self._stream.read(want)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._length}[whence]
        self._position = max(0, min(self._length, base + offset))
        return self._position

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length


def _code_and_status(exc: Any) -> tuple[str | None, int | None]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code"), status
