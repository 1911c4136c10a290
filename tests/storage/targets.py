"""Building storage URLs that point the s3 and minio drivers at a test SeaweedFS server."""

from __future__ import annotations

from urllib.parse import quote

from core.testing.servers.seaweedfs import SeaweedServer

REMOTE_KINDS = ("s3", "minio")


def remote_url(
    kind: str, server: SeaweedServer, bucket: str, prefix: str = "", **params: str | None
) -> str:
    """Return an ``s3://`` or ``minio://`` URL for ``bucket`` (under ``prefix``) on ``server``.

    ``params`` override or add query parameters; ``None`` (or ``""``) removes one.
    """
    query: dict[str, str | None] = {
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "region": server.region,
    }
    path = f"/{prefix}" if prefix else ""
    if kind == "s3":
        query.update(endpoint_url=server.endpoint_url, addressing_style="path")
        base = f"s3://{bucket}{path}"
    elif kind == "minio":
        query.update(secure="false")
        base = f"minio://127.0.0.1:{server.s3_port}/{bucket}{path}"
    else:
        raise ValueError(f"unknown remote driver kind {kind!r}")
    query.update(params)
    pairs = [f"{name}={quote(value, safe='')}" for name, value in query.items() if value]
    return f"{base}?{'&'.join(pairs)}"
