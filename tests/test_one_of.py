"""``one_of(field, values)``: the batch-query condition, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from flask import Flask

from core.attachments.models import AttachmentSet
from core.db import is_sqlite, one_of, tuples, utcnow


def _make_sets(count: int) -> list[int]:
    now = utcnow()
    return [AttachmentSet.create(created_at=now, updated_at=now).id for _ in range(count)]


@pytest.mark.parametrize("wanted", [[], [0], [0, 2, 4], list(range(6))])
def test_one_of_selects_exactly_the_given_ids(app: Flask, wanted: list[int]) -> None:
    with app.app_context():
        ids = _make_sets(6)
        chosen = [ids[i] for i in wanted] + [10**9]  # an id no row has matches nothing
        query = AttachmentSet.select(AttachmentSet.id).where(one_of(AttachmentSet.id, chosen))
        assert sorted(row_id for (row_id,) in tuples(query)) == [ids[i] for i in wanted]


def test_no_values_match_nothing(app: Flask) -> None:
    with app.app_context():
        _make_sets(2)
        query = AttachmentSet.select().where(one_of(AttachmentSet.id, []))
        assert query.count() == 0


def test_postgresql_sends_one_array_parameter_whatever_the_count(app: Flask) -> None:
    with app.app_context():
        ids = _make_sets(3)
        sql, params = AttachmentSet.select().where(one_of(AttachmentSet.id, ids)).sql()
        if is_sqlite():
            assert params == ids and sql.count("?") == len(ids)
        else:
            assert params == [ids] and "= ANY(%s)" in sql


def test_text_values_work_too(app: Flask) -> None:
    with app.app_context():
        ids = _make_sets(2)
        text_ids = [str(row_id) for row_id in ids]
        query = AttachmentSet.select(AttachmentSet.id).where(
            one_of(AttachmentSet.id.cast("text"), text_ids)
        )
        assert sorted(row_id for (row_id,) in tuples(query)) == ids
