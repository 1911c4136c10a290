"""Receiving file uploads: a service routes opt into, not an app-wide policy.

A route that wants a file checked while it arrives calls :func:`receive_upload` before anything
reads ``request.form`` or ``request.files``. The multipart parser then writes that request's file
parts into an :class:`~core.cas.spool.IngestSpool`, which hashes, sniffs and limits each file as
the body is read: a disallowed type stops the upload after a few KiB (415), an oversized file right
after its limit (413), and the spool can be stored without reading the bytes again. Every other
route parses multipart bodies as Werkzeug does, within the app's ordinary body limits.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import IO

from flask import Request, request
from werkzeug.datastructures import MultiDict

from core.cas.spool import IngestSpool
from core.errors import ValidationFailed

#: Multipart framing around a file: boundaries, part headers and small text fields.
MULTIPART_OVERHEAD = 64 * 1024

_POLICY_KEY = "partsbin.upload_policy"


@dataclass(frozen=True)
class UploadPolicy:
    """How one request's file parts are received: a size limit per detected content type and
    the accepted types (``None``: any type)."""

    limit_for: Callable[[str], int]
    allowed_types: Collection[str] | None


class PartsbinRequest(Request):
    """A request whose file parts go into an :class:`IngestSpool` when the route asked for it
    with :func:`receive_upload`; otherwise Werkzeug's default temporary files."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        policy: UploadPolicy | None = self.environ.get(_POLICY_KEY)
        if policy is None:
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        return IngestSpool(policy.limit_for, policy.allowed_types)  # type: ignore[return-value]


@dataclass
class Upload:
    """A file received by :func:`receive_upload`: checked and hashed, not yet stored.

    ``spool`` knows the bytes' ``sha256``, ``size`` and detected ``content_type``; read it with
    :meth:`read` or store it in an attachment set (``core.plugin_api.attach_upload``). ``form``
    holds the request's other (text) fields. Call :meth:`close` when done (``with`` works).
    """

    spool: IngestSpool
    filename: str | None
    form: MultiDict[str, str]

    @property
    def sha256(self) -> str:
        assert self.spool.sha256 is not None
        return self.spool.sha256

    @property
    def size(self) -> int:
        return self.spool.size

    @property
    def content_type(self) -> str:
        assert self.spool.content_type is not None
        return self.spool.content_type

    def read(self) -> bytes:
        """Every byte of the file (at most the limit you gave)."""
        self.spool.seek(0)
        return self.spool.read()

    def close(self) -> None:
        self.spool.close()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def receive_upload(
    field: str = "file",
    *,
    max_bytes: int,
    limit_for: Callable[[str], int] | None = None,
    allowed_types: Collection[str] | None = None,
    required_fields: Collection[str] = (),
) -> Upload:
    """Parse the current ``multipart/form-data`` request, streaming file ``field`` into a spool.

    ``max_bytes`` is the file's size limit; ``limit_for`` (optional) gives a smaller limit per
    detected content type. ``allowed_types`` are the accepted detected types (``None``: any).
    Text fields named in ``required_fields`` must be present and not blank.

    Raises :class:`~core.errors.ValidationFailed` (400) when the body is not multipart or a field
    is missing (naming every missing field), :class:`~core.errors.PayloadTooLarge` (413) and
    :class:`~core.errors.UnsupportedMediaType` (415) as the file arrives. Raises
    :class:`RuntimeError` if the request body was already parsed (call this first).
    """
    if request.mimetype != "multipart/form-data":
        raise ValidationFailed(
            f"send the file as multipart/form-data (field {field!r}), not "
            f"{request.mimetype or '(no content type)'}",
            {"content_type": request.mimetype},
        )
    if "form" in request.__dict__ or "files" in request.__dict__:
        raise RuntimeError("receive_upload() must run before request.form/files are read")
    per_type = limit_for or (lambda _content_type: max_bytes)
    request.environ[_POLICY_KEY] = UploadPolicy(
        lambda content_type: min(max_bytes, per_type(content_type)), allowed_types
    )
    request.max_content_length = max_bytes + MULTIPART_OVERHEAD
    files, form = request.files, request.form
    upload = files.get(field)
    missing = [] if isinstance(getattr(upload, "stream", None), IngestSpool) else [field]
    missing += [name for name in required_fields if not form.get(name, "").strip()]
    if missing:
        for stored in files.values():
            stored.close()
        raise ValidationFailed(
            f"missing required field(s): {', '.join(missing)}",
            {"fields": dict.fromkeys(missing, "Field required")},
        )
    assert upload is not None
    spool = upload.stream
    assert isinstance(spool, IngestSpool)
    spool.finish()
    return Upload(spool=spool, filename=upload.filename, form=form)

