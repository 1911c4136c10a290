"""The throwaway SeaweedFS S3 server used by the test suite (core.testing.servers.seaweedfs)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from core.testing.servers.seaweedfs import SeaweedServer

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def server() -> Iterator[SeaweedServer]:
    with SeaweedServer() as started:
        started.create_bucket("partsbin-server-test")
        yield started


def test_objects_round_trip_through_a_created_bucket(server: SeaweedServer) -> None:
    client = server.client()
    client.put_object(Bucket="partsbin-server-test", Key="a", Body=b"hello")

    body = client.get_object(Bucket="partsbin-server-test", Key="a")["Body"].read()

    assert body == b"hello"


def test_unsigned_requests_are_refused(server: SeaweedServer) -> None:
    with requests.Session() as http:
        http.trust_env = False
        response = http.get(f"{server.endpoint_url}/partsbin-server-test/a", timeout=10)

    assert response.status_code == 403


def test_a_wrong_secret_key_is_refused(server: SeaweedServer) -> None:
    impostor = server.client(secret_key="wrong")

    with pytest.raises(ClientError) as caught:
        impostor.list_objects_v2(Bucket="partsbin-server-test")

    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_restart_keeps_the_endpoint_and_the_objects(server: SeaweedServer) -> None:
    server.client().put_object(Bucket="partsbin-server-test", Key="kept", Body=b"data")
    endpoint = server.endpoint_url

    server.restart()

    assert server.endpoint_url == endpoint
    body = server.client().get_object(Bucket="partsbin-server-test", Key="kept")["Body"].read()
    assert body == b"data"


def test_stop_removes_the_data_folder_and_the_socket_files() -> None:
    with SeaweedServer() as server:
        folder = server.folder
        assert folder is not None
        socket_names = [path.name for path in folder.glob("*.sock")]
        server.restart()
        assert server_sockets_in_temp(server)  # weed made them, so stop has something to remove

        server.stop()
        server.stop()  # stopping twice is fine

    assert not folder.exists()
    assert socket_names  # the filer and S3 sockets lived in the folder
    assert server_sockets_in_temp(server) == []


def server_sockets_in_temp(server: SeaweedServer) -> list[Path]:
    """The gRPC socket files weed left in the system temp folder for this server's ports."""
    temp = Path(tempfile.gettempdir())
    ports = server.ports.values()
    return [path for port in ports for path in temp.glob(f"seaweedfs-*-{port}.sock")]
