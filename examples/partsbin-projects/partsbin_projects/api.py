"""``/api/projects``: list, create, read, update and delete projects.

Every project carries ``attachment_set_id`` (manage its files through the core's
``/api/attachment-sets/{id}/...`` routes) and ``cover_url`` (``/api/cas/<sha256>`` of the set's
cover image, or null).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, RootModel, StringConstraints

from core.plugin_api import (
    MAX_ID,
    MultiLine,
    SingleLineRequired,
    StrictBody,
    error_responses,
    may_be_absent,
)
from partsbin_projects import service
from partsbin_projects.models import DESCRIPTION_MAX, NAME_MAX, Project

blueprint = APIBlueprint(
    "partsbin_projects", __name__, url_prefix="/api/projects", abp_tags=[Tag(name="projects")]
)

_ITEM = "/<int:project_id>"

Name = Annotated[
    SingleLineRequired, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)
]
Description = Annotated[MultiLine, Field(max_length=DESCRIPTION_MAX)]
Status = Literal["idea", "building", "done"]


class ProjectPath(BaseModel):
    project_id: int = Field(ge=1, le=MAX_ID)


class ProjectIn(StrictBody):
    """A new project; ``description`` defaults to ``""`` and ``status`` to ``"idea"``."""

    name: Name
    description: Description = ""
    status: Status = "idea"


class ProjectPatch(StrictBody):
    """The fields to change; absent fields keep their value, ``null`` is refused."""

    name: Name = may_be_absent()
    description: Description = may_be_absent()
    status: Status = may_be_absent()


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    status: Status
    attachment_set_id: int
    cover_url: str | None
    created_at: str
    updated_at: str


class ProjectList(RootModel[list[ProjectOut]]):
    """Every project, newest first."""


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def project_json(project: Project, cover_url: str | None) -> dict[str, Any]:
    """The JSON shape of a project (:class:`ProjectOut`)."""
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "status": project.status,
        "attachment_set_id": project.attachment_set_id,
        "cover_url": cover_url,
        "created_at": _iso(project.created_at),
        "updated_at": _iso(project.updated_at),
    }


def _one(project: Project, status: int = 200) -> Response:
    covers = service.project_cover_urls([project])
    response = jsonify(project_json(project, covers.get(project.attachment_set_id)))
    response.status_code = status
    return response


@blueprint.get("", responses={200: ProjectList})
def list_projects() -> Response:
    """Every project, newest first, each with its ``cover_url`` (two queries in all)."""
    projects = service.list_projects()
    covers = service.project_cover_urls(projects)
    return jsonify([project_json(p, covers.get(p.attachment_set_id)) for p in projects])


@blueprint.post("", responses={201: ProjectOut, **error_responses(400, 409)})
def create_project(body: ProjectIn) -> Response:
    """Create a project together with its own, empty attachment set."""
    return _one(service.create_project(body.model_dump()), status=201)


@blueprint.get(_ITEM, responses={200: ProjectOut, **error_responses(400, 404)})
def get_project(path: ProjectPath) -> Response:
    """One project."""
    return _one(service.get_project(path.project_id))


@blueprint.patch(_ITEM, responses={200: ProjectOut, **error_responses(400, 404, 409)})
def update_project(path: ProjectPath, body: ProjectPatch) -> Response:
    """Change the given fields of a project."""
    changes = body.model_dump(include=body.model_fields_set)
    return _one(service.update_project(path.project_id, changes))


@blueprint.delete(_ITEM, responses={204: None, **error_responses(400, 404)})
def delete_project(path: ProjectPath) -> Response:
    """Delete a project, its attachment set and the set's attachments (blobs stay until gc)."""
    service.delete_project(path.project_id)
    return Response(status=204)
