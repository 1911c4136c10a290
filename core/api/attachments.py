"""``/api/attachment-sets/{id}/...`` and ``/api/attachment-preview``: the attachment REST API."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Annotated, Any

from flask import Response, jsonify, request, stream_with_context
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, RootModel, ValidationError

from core.api.schemas import (
    HTTP_URL_SCHEMA,
    MAX_ID,
    BodyId,
    SingleLine,
    SingleLineRequired,
    StrictBody,
    error_responses,
)
from core.api.uploads import receive_upload
from core.attachments import service, views
from core.attachments.archive import archive_entries, stream_archive
from core.attachments.entities import find_owner
from core.errors import ValidationFailed, validation_details
from core.state import get_state

blueprint = APIBlueprint(
    "attachments", __name__, url_prefix="/api", abp_tags=[Tag(name="attachments")]
)

_SET = "/attachment-sets/<int:set_id>"


class SetPath(BaseModel):
    set_id: int = Field(ge=1, le=MAX_ID)


class AttachmentPath(SetPath):
    attachment_id: int = Field(ge=1, le=MAX_ID)


class AttachmentItem(BaseModel):
    id: int
    attachment_type: str
    title: str
    url: str | None
    attachment_url: str | None
    preview_url: str | None


class AttachmentList(RootModel[list[AttachmentItem]]):
    """The set's attachments, oldest first."""


class AttachmentFull(AttachmentItem):
    attachment_set_id: int
    filename: str | None
    content_type: str | None
    file_size: int | None
    created_at: str
    updated_at: str


class Owner(BaseModel):
    type: str
    id: int
    key: Any


class CoverBody(BaseModel):
    cover_attachment_id: int | None
    cover_url: str | None


class AttachmentSetBody(CoverBody):
    id: int
    attachments: list[AttachmentItem]
    created_at: str
    updated_at: str
    owner: Owner | None


#: Longest title a client may send (the column holds 255 characters).
TITLE_MAX_CHARS = 255

Title = Annotated[SingleLineRequired, Field(min_length=1, max_length=TITLE_MAX_CHARS)]


class UrlAttachmentIn(StrictBody):
    title: Annotated[SingleLine, Field(max_length=10_000)] | None = None
    url: str = Field(min_length=1, max_length=2000, json_schema_extra=HTTP_URL_SCHEMA)


class TitleIn(StrictBody):
    title: Title


class UploadForm(StrictBody):
    """The text of a multipart upload: its ``title`` field and the file part's name."""

    title: Title
    filename: Annotated[SingleLine, Field(max_length=1024)] | None = None


class CoverIn(StrictBody):
    attachment_id: BodyId | None


class CopyIn(StrictBody):
    attachment_id: BodyId
    set_as_cover: bool = False


class PreviewIn(StrictBody):
    url: str = Field(min_length=1, max_length=2000, json_schema_extra=HTTP_URL_SCHEMA)


class PreviewOut(BaseModel):
    title: str
    image_url: str | None
    original_url: str
    content_type: str


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "title"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": UploadForm.model_json_schema()["properties"]["title"],
                    },
                }
            },
            "application/json": {"schema": UrlAttachmentIn.model_json_schema()},
        },
    }
}


@blueprint.get(_SET, responses={200: AttachmentSetBody, **error_responses(400, 404)})
def get_attachment_set(path: SetPath) -> Response:
    """An attachment set with its attachments and owner."""
    row = service.get_set(path.set_id)
    attachments = service.list_attachments(path.set_id)
    owner = find_owner(get_state(), path.set_id)
    return jsonify(views.attachment_set(row, attachments, owner))


@blueprint.get(f"{_SET}/attachments", responses={200: AttachmentList, **error_responses(400, 404)})
def list_attachments(path: SetPath) -> Response:
    """The set's attachments, oldest first."""
    return jsonify([views.attachment_item(a) for a in service.list_attachments(path.set_id)])


@blueprint.post(
    f"{_SET}/attachments",
    responses={201: AttachmentFull, **error_responses(400, 404, 413, 415, 422, 503)},
    openapi_extensions=_UPLOAD_BODY,
)
def create_attachment(path: SetPath) -> Response:
    """Upload a file (multipart ``file`` + ``title``) or add a URL (JSON ``{title, url}``)."""
    state = get_state()
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        service.get_set(path.set_id)  # 404 before reading the body
        settings = state.settings
        with receive_upload(
            "file",
            max_bytes=max(settings.max_file_bytes, settings.max_image_bytes),
            limit_for=partial(service.upload_limit, settings),
            allowed_types=settings.allowed_types,
            required_fields=("title",),
        ) as upload:
            form = _upload_form(upload.form["title"], upload.filename)
            attachment = service.add_file(
                state, path.set_id, upload.spool, form.title, form.filename
            )
    elif mimetype == "application/json":
        body = UrlAttachmentIn.model_validate(_json_body())
        attachment = service.add_url(state, path.set_id, body.url, body.title)
    else:
        raise ValidationFailed(
            "unsupported request content type "
            f"{mimetype or '(none)'}: send multipart/form-data (file, title) or "
            "application/json (title, url)",
            {"content_type": mimetype},
        )
    response = jsonify(views.attachment_full(attachment))
    response.status_code = 201
    return response


def _upload_form(title: str, filename: str | None) -> UploadForm:
    """The upload's title and file name, validated (a 400 names ``title`` or ``file.filename``)."""
    try:
        return UploadForm(title=title, filename=filename or None)
    except ValidationError as exc:
        fields = {
            {"filename": "file.filename"}.get(name, name): message
            for name, message in validation_details(exc)["fields"].items()
        }
        raise ValidationFailed(
            "invalid request: " + "; ".join(f"{k}: {v}" for k, v in fields.items()),
            {"fields": fields},
        ) from None


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationFailed("request body is not valid JSON", code="MALFORMED_JSON")
    return body


@blueprint.get(
    f"{_SET}/attachments/<int:attachment_id>",
    responses={200: AttachmentFull, **error_responses(400, 404, 409)},
)
def get_attachment(path: AttachmentPath) -> Response:
    """One attachment of the set."""
    return jsonify(views.attachment_full(service.get_attachment(path.set_id, path.attachment_id)))


@blueprint.put(
    f"{_SET}/attachments/<int:attachment_id>",
    responses={200: AttachmentFull, **error_responses(400, 404, 409)},
)
def update_attachment(path: AttachmentPath, body: TitleIn) -> Response:
    """Rename an attachment."""
    attachment = service.update_title(path.set_id, path.attachment_id, body.title)
    return jsonify(views.attachment_full(attachment))


@blueprint.delete(
    f"{_SET}/attachments/<int:attachment_id>",
    responses={204: None, **error_responses(400, 404, 409)},
)
def delete_attachment(path: AttachmentPath) -> Response:
    """Delete an attachment; a deleted cover moves to the oldest remaining image."""
    service.delete_attachment(get_state(), path.set_id, path.attachment_id)
    return Response(status=204)


@blueprint.post(
    f"{_SET}/attachments/copy",
    responses={201: AttachmentFull, **error_responses(400, 404)},
)
def copy_attachment(path: SetPath, body: CopyIn) -> Response:
    """Copy an attachment from any set into this one, sharing its bytes."""
    attachment = service.copy_attachment(
        get_state(), path.set_id, body.attachment_id, body.set_as_cover
    )
    response = jsonify(views.attachment_full(attachment))
    response.status_code = 201
    return response


@blueprint.get(f"{_SET}/cover", responses={200: CoverBody, **error_responses(400, 404)})
def get_cover(path: SetPath) -> Response:
    """The set's cover."""
    return jsonify(views.cover(service.get_set(path.set_id)))


@blueprint.put(f"{_SET}/cover", responses={200: CoverBody, **error_responses(400, 404, 409)})
def put_cover(path: SetPath, body: CoverIn) -> Response:
    """Make an attachment of this set the cover; null clears it."""
    return jsonify(views.cover(service.set_cover(path.set_id, body.attachment_id)))


@blueprint.delete(f"{_SET}/cover", responses={200: CoverBody, **error_responses(400, 404)})
def delete_cover(path: SetPath) -> Response:
    """Clear the cover."""
    return jsonify(views.cover(service.set_cover(path.set_id, None)))


@blueprint.get(f"{_SET}/archive.zip", responses={200: None, **error_responses(400, 404, 503)})
def archive(path: SetPath) -> Response:
    """Every stored file of the set as a streamed zip with unique, safe names."""
    attachments = service.list_attachments(path.set_id)
    state = get_state()
    body = stream_archive(state.storage, archive_entries(state.storage, attachments))
    response = Response(stream_with_context(body), mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="attachment-set-{path.set_id}.zip"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.post(
    "/attachment-preview", responses={200: PreviewOut, **error_responses(400, 413, 415, 422)}
)
def attachment_preview(body: PreviewIn) -> Response:
    """What a URL would become as an attachment (title, preview image), without saving."""
    from core.urlfetch.analyze import preview_url

    return jsonify(asdict(preview_url(body.url, get_state().settings)))
