"""The attachments package as a plugin: the attachment API and ``partsbin check``, served through
the same hooks as any plugin's."""

from __future__ import annotations

from collections.abc import Iterator

import click
from flask_openapi3 import APIBlueprint

from core.plugins import hookimpl

#: Rows read per query while streaming referenced hashes (keyset pagination on the key indexes).
REFERENCE_CHUNK = 5000


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from core.api.attachments import blueprint

    return [blueprint]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from core.attachments.check import check_command

    cli.add_command(check_command)


@hookimpl
def referenced_blobs(first: str | None, last: str | None) -> Iterator[str]:
    """The hashes attachment rows reference (``blob_key`` and ``preview_blob_key``), ascending.

    Each column is read in keyset chunks of :data:`REFERENCE_CHUNK` along its index and the two
    streams are merged, so memory stays flat however many attachments there are.
    """
    import heapq

    from core.attachments.models import Attachment

    columns = (Attachment.blob_key, Attachment.preview_blob_key)
    return heapq.merge(*(_column_hashes(column, first, last) for column in columns))


def _column_hashes(column: object, first: str | None, last: str | None) -> Iterator[str]:
    from core.attachments.models import Attachment
    from core.state import get_state

    database = get_state().database
    lower = "cas/" + (first or "")
    upper = "cas/" + (last or "g")  # every lowercase hex hash sorts below "g"
    after: str | None = None
    while True:
        query = Attachment.select(column).where(column >= lower, column <= upper)  # type: ignore[operator]
        if after is not None:
            query = query.where(column > after)  # type: ignore[operator]
        sql, params = query.order_by(column).limit(REFERENCE_CHUNK).bind(database).sql()
        # The driver's rows as they come: plain text, so Peewee's per-row conversion (most of
        # the cost of this stream on a large store) has nothing to do.
        keys = [row[0] for row in database.execute_sql(sql, params).fetchall()]
        for key in keys:
            yield key[4:]
        if len(keys) < REFERENCE_CHUNK:
            return
        after = keys[-1]
