"""Projects: create (with the project's AttachmentSet, in one transaction), read, update, delete,
list. Every set operation goes through the core's public functions.

Field values arrive validated by the API schemas (name stripped, 1..200 characters; status one of
:data:`partsbin_projects.models.STATUSES`); this layer enforces what needs the database: unique
names and existing rows.
"""

from __future__ import annotations

from typing import Any

import peewee

from core.plugin_api import (
    AttachableEntity,
    Conflict,
    NotFound,
    cover_urls,
    create_owner,
    database,
    delete_owner,
)
from partsbin_projects.models import EDITABLE_FIELDS, Project

#: The project entity type the core manages sets for (``owner.type == "project"``,
#: ``owner.key`` is the project id).
PROJECT_ENTITY = AttachableEntity("project", Project, set_field="attachment_set", key_field="id")


def _name_taken(name: str, except_id: int | None = None) -> bool:
    query = Project.select().where(Project.name == name)
    if except_id is not None:
        query = query.where(Project.id != except_id)
    return bool(query.exists())


def _name_conflict(name: str) -> Conflict:
    return Conflict(
        f"a project named {name!r} already exists", {"name": name}, code="PROJECT_NAME_TAKEN"
    )


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable project fields: {sorted(unknown)}")


def get_project(project_id: int) -> Project:
    """The project with this id. Raises :class:`NotFound`."""
    project = Project.get_or_none(Project.id == project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist", {"project_id": project_id})
    return project


def create_project(fields: dict[str, Any]) -> Project:
    """Create a project and its new, empty AttachmentSet in one transaction; return it.

    ``fields`` holds editable fields (``name`` required). Raises :class:`Conflict`
    (``PROJECT_NAME_TAKEN``) when the name is used, also when another request takes it between
    the check and the insert (nothing is left behind then: the set is rolled back too).
    """
    _check_fields(fields)
    name = fields["name"]
    if _name_taken(name):
        raise _name_conflict(name)
    try:
        project = create_owner(PROJECT_ENTITY, **fields)
    except peewee.IntegrityError:
        if _name_taken(name):
            raise _name_conflict(name) from None
        raise
    return project  # type: ignore[return-value]


def update_project(project_id: int, changes: dict[str, Any]) -> Project:
    """Set exactly the given editable fields; return the updated project.

    Raises :class:`NotFound` for an unknown project and :class:`Conflict`
    (``PROJECT_NAME_TAKEN``) when the new name belongs to another project. No changes: the
    project is returned untouched (``updated_at`` kept).
    """
    _check_fields(changes)
    project = get_project(project_id)
    if not changes:
        return project
    name = changes.get("name")
    if name is not None and _name_taken(name, except_id=project_id):
        raise _name_conflict(name)
    for field, value in changes.items():
        setattr(project, field, value)
    try:
        with database.atomic():
            project.save()
    except peewee.IntegrityError:
        if name is not None and _name_taken(name, except_id=project_id):
            raise _name_conflict(name) from None
        raise
    return project


def delete_project(project_id: int) -> int | None:
    """Delete a project with its set and the set's attachment rows, in one transaction (the
    core then fires ``entity_deleted``). Returns the deleted set's id.

    Raises :class:`NotFound`. The attachments' blobs stay until ``partsbin gc``.
    """
    project = get_project(project_id)
    return delete_owner(PROJECT_ENTITY, project)


def list_projects() -> list[Project]:
    """Every project, newest first (created_at, then id, descending)."""
    return list(Project.select().order_by(Project.created_at.desc(), Project.id.desc()))


def project_cover_urls(projects: list[Project]) -> dict[int, str | None]:
    """``{attachment_set_id: cover_url}`` for the given projects, in one query whatever their
    number (``cover_url`` is null when the set has no image cover)."""
    return cover_urls(project.attachment_set_id for project in projects)
