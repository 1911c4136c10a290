"""Multipart uploads stream straight into the CAS spool while the request body is parsed."""

from __future__ import annotations

from functools import partial
from typing import IO

from flask import Request

from core.attachments.service import upload_limit
from core.cas.spool import IngestSpool
from core.state import get_state


class PartsbinRequest(Request):
    """A request whose multipart file parts are written into an :class:`IngestSpool`.

    The parser therefore hashes, sniffs and limits each file while it reads the body: a
    disallowed type stops the upload after a few KiB (415), an oversized file right after its
    limit (413), and the spool is stored without reading the bytes a second time.
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        settings = get_state().settings
        return IngestSpool(partial(upload_limit, settings), settings.allowed_types)  # type: ignore[return-value]
