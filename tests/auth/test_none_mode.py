"""``PARTSBIN_AUTH=none`` (the default): every request is the local user with every role."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_self_is_the_local_user_with_every_role(client: FlaskClient) -> None:
    response = client.get("/api/auth/self")
    assert response.status_code == 200
    assert response.get_json() == {
        "subject": "local",
        "email": None,
        "name": "Local User",
        "roles": ["reader", "editor"],
    }
