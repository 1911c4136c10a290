"""Receiving file uploads: a service routes opt into, not an app-wide policy.

A route that wants a file checked while it arrives calls :func:`receive_upload` before anything
reads ``request.form`` or ``request.files``. It parses the multipart body itself (with
``python-multipart``'s streaming parser, which hands over the file's bytes without buffering or
copying them) and writes that request's file part into an :class:`~core.cas.spool.IngestSpool`,
which hashes, sniffs and limits the file as the body is read: a disallowed type stops the upload
after a few KiB (415), an oversized file right after its limit (413), and the spool can be stored
without reading the bytes again. Every other route parses multipart bodies as Werkzeug does,
within the app's ordinary body limits.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from flask import request
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.http import parse_options_header

from core.cas.spool import IngestSpool
from core.errors import PayloadTooLarge, ValidationFailed

#: Multipart framing around a file: boundaries, part headers and small text fields.
MULTIPART_OVERHEAD = 64 * 1024
#: Longest text field of an upload form; a larger one is a 413 naming this limit.
FORM_FIELD_MAX_BYTES = 256 * 1024
#: Bytes read from the request body per parser call.
READ_BYTES = 64 * 1024
#: Charsets a text part may name in its ``Content-Type``; any other is read as UTF-8.
_TEXT_CHARSETS = frozenset({"ascii", "us-ascii", "utf-8", "iso-8859-1"})


@dataclass(frozen=True)
class UploadPolicy:
    """How one request's file part is received: a size limit per detected content type and
    the accepted types (``None``: any type)."""

    limit_for: Callable[[str], int]
    allowed_types: Collection[str] | None


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
    policy = UploadPolicy(
        lambda content_type: min(max_bytes, per_type(content_type)), allowed_types
    )
    request.max_content_length = max_bytes + MULTIPART_OVERHEAD
    reader = _FormReader(field, policy, max_parts=request.max_form_parts)
    try:
        _parse_body(reader)
        upload = reader.files.get(field)
        missing = [] if upload is not None else [field]
        missing += [name for name in required_fields if not reader.form.get(name, "").strip()]
        if missing:
            raise ValidationFailed(
                f"missing required field(s): {', '.join(missing)}",
                {"fields": dict.fromkeys(missing, "Field required")},
            )
        assert upload is not None and isinstance(upload.stream, IngestSpool)
        spool = upload.stream
        spool.finish()
    except BaseException:
        reader.close()
        raise
    # What Werkzeug's parser would have left: later reads see this form, not an empty body.
    parsed = request._get_current_object().__dict__
    parsed["form"], parsed["files"] = reader.form, reader.files
    return Upload(spool=spool, filename=upload.filename, form=reader.form)


def _parse_body(reader: _FormReader) -> None:
    """Feed the request body to ``python-multipart``; 400 ``MALFORMED_MULTIPART`` when it is not
    a whole multipart body. Werkzeug's stream raises 413 at the request's body limit."""
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        raise ValidationFailed(
            "multipart/form-data without a boundary parameter", code="MALFORMED_MULTIPART"
        )
    try:
        parser = MultipartParser(boundary.encode("latin-1"), reader.callbacks())
    except (FormParserError, UnicodeEncodeError):
        raise ValidationFailed(
            f"the multipart boundary {boundary[:80]!r} is not valid",
            code="MALFORMED_MULTIPART",
        ) from None
    stream = request.stream
    try:
        while chunk := stream.read(READ_BYTES):
            parser.write(chunk)
    except FormParserError as exc:
        raise ValidationFailed(
            f"the multipart body cannot be parsed: {exc}", code="MALFORMED_MULTIPART"
        ) from None
    if not reader.ended:
        raise ValidationFailed(
            "the multipart body ends before its closing boundary (was the upload cut off?)",
            code="MALFORMED_MULTIPART",
        )


class _FormReader:
    """``python-multipart`` callbacks that collect one request's form: the first file part named
    ``field`` goes into an :class:`IngestSpool` under ``policy``, text fields (at most
    :data:`FORM_FIELD_MAX_BYTES` each) into :attr:`form`; other file parts are read and dropped.
    """

    def __init__(self, field: str, policy: UploadPolicy, max_parts: int | None) -> None:
        self.field = field
        self.policy = policy
        self.max_parts = max_parts
        self.files: MultiDict[str, FileStorage] = MultiDict()
        self.form: MultiDict[str, str] = MultiDict()
        self.ended = False
        self._parts = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._name: str | None = None
        self._spool: IngestSpool | None = None
        self._text: bytearray | None = None
        self._charset = "utf-8"

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def close(self) -> None:
        """Close every spool (after an error: nothing of this request is kept)."""
        for stored in self.files.values():
            stored.close()

    def _part_begin(self) -> None:
        self._parts += 1
        if self.max_parts is not None and self._parts > self.max_parts:
            raise PayloadTooLarge(
                f"the multipart body has more than {self.max_parts} parts",
                {"limit_parts": self.max_parts, "limit": "form_parts"},
            )
        self._headers = []
        self._name, self._spool, self._text = None, None, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers.append((bytes(self._header_name), bytes(self._header_value)))
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        headers = Headers(_decoded(self._headers))
        disposition = headers.get("Content-Disposition")
        if disposition is None:
            raise ValidationFailed(
                "a multipart part has no Content-Disposition header", code="MALFORMED_MULTIPART"
            )
        options = parse_options_header(disposition)[1]
        name, filename = options.get("name"), options.get("filename")
        if name is None:
            return  # a part without a name is no field: read and dropped
        self._name = name
        if filename is not None:
            if name == self.field and name not in self.files:
                self._spool = IngestSpool(self.policy.limit_for, self.policy.allowed_types)
                stream: Any = self._spool  # read as a file: seek, read, close
                self.files.add(name, FileStorage(stream, filename, name, headers=headers))
            return
        self._text = bytearray()
        charset = parse_options_header(headers.get("Content-Type", ""))[1].get("charset", "")
        self._charset = charset.lower() if charset.lower() in _TEXT_CHARSETS else "utf-8"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._spool is not None:
            self._spool.write(memoryview(data)[start:end])
        elif self._text is not None:
            if len(self._text) + end - start > FORM_FIELD_MAX_BYTES:
                raise PayloadTooLarge(
                    f"a form field is larger than the {FORM_FIELD_MAX_BYTES}-byte limit for "
                    "text fields (send the file as the file part)",
                    {"limit_bytes": FORM_FIELD_MAX_BYTES, "limit": "form_field"},
                )
            self._text += memoryview(data)[start:end]

    def _part_end(self) -> None:
        if self._text is not None and self._name is not None:
            self.form.add(self._name, self._text.decode(self._charset, "replace"))
        self._spool, self._text = None, None

    def _end(self) -> None:
        self.ended = True


def _decoded(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    try:
        return [(name.decode().strip(" \t"), value.decode().strip(" \t"))
                for name, value in headers]  # fmt: skip
    except UnicodeDecodeError:
        raise ValidationFailed(
            "a multipart part's headers are not UTF-8 (a file name with a raw Latin-1 byte?): "
            "send the file name in UTF-8, or as RFC 5987 filename*=UTF-8''...",
            {"fields": {"file.filename": "not valid UTF-8"}},
            code="MALFORMED_MULTIPART",
        ) from None
