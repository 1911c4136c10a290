"""``partsbin check``: verifies the attachment invariants and names every violation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import click
from flask.cli import with_appcontext

from core.attachments.entities import entity_registry
from core.attachments.models import Attachment, AttachmentSet
from core.db import tuples
from core.state import PartsbinState, get_state


def find_violations(state: PartsbinState) -> Iterator[str]:
    """Yield one message per broken invariant.

    Checked: every owner row has a set; no set is shared by two owners; no set is without an
    owner; every cover is an attachment of its own set; every stored key exists in storage.
    """
    owners_of: dict[int, list[str]] = defaultdict(list)
    for entity in entity_registry(state).values():
        model = entity.model
        pk = model._meta.primary_key
        for row_id, set_id in tuples(model.select(pk, entity.set_column)):
            if set_id is None:
                yield f"{entity.name} {row_id} has no attachment set"
            else:
                owners_of[set_id].append(f"{entity.name} {row_id}")
    for set_id, owners in sorted(owners_of.items()):
        if len(owners) > 1:
            yield f"attachment set {set_id} is shared by {', '.join(owners)}"
    for (set_id,) in tuples(AttachmentSet.select(AttachmentSet.id).order_by(AttachmentSet.id)):
        if set_id not in owners_of:
            yield f"attachment set {set_id} has no owner"

    covers = (
        AttachmentSet.select(
            AttachmentSet.id, AttachmentSet.cover_attachment, Attachment.attachment_set
        )
        .join(Attachment, on=(AttachmentSet.cover_attachment == Attachment.id))
        .where(Attachment.attachment_set != AttachmentSet.id)
    )
    for set_id, cover_id, other_set in tuples(covers):
        yield f"attachment set {set_id} has cover {cover_id}, which belongs to set {other_set}"

    keys: dict[str, list[int]] = defaultdict(list)
    query = Attachment.select(Attachment.id, Attachment.s3_key, Attachment.preview_s3_key)
    for attachment_id, s3_key, preview_key in tuples(query):
        for key in (s3_key, preview_key):
            if key:
                keys[key].append(attachment_id)
    for key, attachment_ids in sorted(keys.items()):
        if state.storage.stat(key) is None:
            ids = ", ".join(str(i) for i in attachment_ids)
            yield f"{key} is missing from storage (attachments {ids})"


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Verify attachment invariants; exit 1 naming each violation."""
    violations = list(find_violations(get_state()))
    for message in violations:
        click.echo(message)
    if violations:
        raise SystemExit(1)
    click.echo("ok: no violations")
