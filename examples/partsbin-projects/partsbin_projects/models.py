"""The Peewee model of the ``projects`` table (created by ``partsbin_projects/migrations``)."""

from __future__ import annotations

import peewee

from core.plugin_api import AttachmentSet, TimestampedModel

#: The values of ``Project.status``, in the order a project moves through them.
STATUSES: tuple[str, ...] = ("idea", "building", "done")

NAME_MAX = 200
DESCRIPTION_MAX = 10_000


class Project(TimestampedModel):
    """A maker's project: a unique ``name`` (1..200 characters), a free-text ``description``
    (``""`` when there is none), a ``status`` from :data:`STATUSES`, and its own AttachmentSet.

    ``attachment_set`` is declared NOT NULL because every project has a set: the API creates a
    project together with its set (``core.attachments.entities.create_owner``), and
    ``partsbin migrate`` gives every row still without one a new set right after the migrations
    (``backfill_sets``). Only the database column is nullable, so that migration 002 could add it
    to a table that already had rows; see ``migrations/002_attachments.py``.
    """

    id = peewee.AutoField()
    name = peewee.CharField(max_length=NAME_MAX, unique=True)
    description = peewee.TextField(default="")
    status = peewee.CharField(max_length=10, default="idea")
    # backref="+": no ``project_set`` accessor is added to the core's AttachmentSet class.
    attachment_set = peewee.ForeignKeyField(
        AttachmentSet, column_name="attachment_set_id", unique=True, backref="+", lazy_load=False
    )

    # The accessor peewee adds for the foreign-key column (declared for type checkers).
    attachment_set_id: int

    class Meta:
        table_name = "projects"


#: Project fields a client may set (everything but the id, the set and the timestamps).
EDITABLE_FIELDS: tuple[str, ...] = ("name", "description", "status")
