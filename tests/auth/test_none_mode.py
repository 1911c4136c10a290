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


def test_writes_need_no_credentials(client: FlaskClient) -> None:
    assert client.post("/api/parts", json={"description": "no login"}).status_code == 201


def test_login_and_logout_just_go_back(client: FlaskClient) -> None:
    login = client.get("/api/auth/login?redirect=/parts")
    assert (login.status_code, login.headers["Location"]) == (302, "/parts")
    logout = client.get("/api/auth/logout")
    assert (logout.status_code, logout.headers["Location"]) == (302, "/")


def test_login_refuses_an_off_site_redirect_here_too(client: FlaskClient) -> None:
    assert client.get("/api/auth/login?redirect=https://evil.example/").status_code == 400


def test_a_cross_origin_write_is_refused_even_without_auth(client: FlaskClient) -> None:
    # A page on another site must not drive a Partsbin on localhost through the browser.
    response = client.post(
        "/api/parts", json={"description": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "CROSS_ORIGIN"


def test_a_same_origin_write_passes(client: FlaskClient) -> None:
    response = client.post(
        "/api/parts", json={"description": "x"}, headers={"Origin": "http://localhost"}
    )
    assert response.status_code == 201
