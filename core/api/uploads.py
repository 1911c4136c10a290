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
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.wsgi import LimitedStream

from core.cas.spool import IngestSpool
from core.errors import PayloadTooLarge, ValidationFailed

#: Multipart framing around a file: boundaries, part headers and small text fields.
MULTIPART_OVERHEAD = 64 * 1024
#: Longest text field of an upload form; a larger one is a 413 naming this limit. Werkzeug
#: applies it to its parse buffer too, so it must stay well above the parser's 64 KiB reads.
FORM_FIELD_MAX_BYTES = 256 * 1024

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

    Raises :class:`~core.errors.ValidationFailed` (400) when the body is not multipart, cannot be
    parsed (``MALFORMED_MULTIPART``, e.g. part headers that are not UTF-8) or a field is missing
    (naming every missing field); :class:`~core.errors.PayloadTooLarge` (413) for a text field
    over :data:`FORM_FIELD_MAX_BYTES` (``details.limit == "form_field"``) and, as the file
    arrives, for a file over its limit; :class:`~core.errors.UnsupportedMediaType` (415). Raises
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
    request.max_form_memory_size = FORM_FIELD_MAX_BYTES
    files, form = _parse_form()
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



class _NonSilentFormParser(FormDataParser):
    """Werkzeug's form parser, raising its ``ValueError`` instead of answering an empty form."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["silent"] = False
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def _parse_form() -> tuple[MultiDict[str, FileStorage], MultiDict[str, str]]:
    request.form_data_parser_class = _NonSilentFormParser
    try:
        return request.files, request.form
    except UnicodeDecodeError:
        raise ValidationFailed(
            "a multipart part's headers are not UTF-8 (a file name with a raw Latin-1 byte?): "
            "send the file name in UTF-8, or as RFC 5987 filename*=UTF-8''...",
            {"fields": {"file.filename": "not valid UTF-8"}},
            code="MALFORMED_MULTIPART",
        ) from None
    except ValueError as exc:
        raise ValidationFailed(
            f"the multipart body cannot be parsed: {exc}", code="MALFORMED_MULTIPART"
        ) from None
    except RequestEntityTooLarge:
        limit = request.max_content_length
        if request.content_length is not None:
            body_limit_hit = limit is not None and request.content_length > limit
        else:  # chunked: the stream stops at the body limit
            stream = request.stream
            body_limit_hit = isinstance(stream, LimitedStream) and stream.is_exhausted
        if body_limit_hit:
            raise
        raise PayloadTooLarge(
            f"a form field is larger than the {FORM_FIELD_MAX_BYTES}-byte limit for text "
            "fields (send the file as the file part)",
            {"limit_bytes": FORM_FIELD_MAX_BYTES, "limit": "form_field"},
        ) from None
