"""The S3 listing parser builds exactly the answer botocore's generic parser builds."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from typing import Any

import botocore.session
import pytest
from botocore.parsers import RestXMLParser

from storage_drivers.registry import BUILTIN_DRIVERS, open_storage
from storage_drivers.s3 import parse_timestamp
from storage_drivers.s3_listing import ListingParser, ResponseParsers, flag_embedded_error

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_PLAIN = (
    "<Contents><Key>cas/{i:064x}</Key><LastModified>2026-12-02T18:10:0{d}.000Z</LastModified>"
    "<ETag>&quot;{i:032x}&quot;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass>"
    "</Contents>"
)
_WITH_OWNER = (
    "<Contents><Key>thumbs/a b&amp;c/300.jpg</Key><LastModified>2026-12-02T18:10:00Z"
    "</LastModified><ETag>&quot;e&quot;</ETag><Size>0</Size><Owner><ID>id</ID>"
    "<DisplayName>me</DisplayName></Owner><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
    "<ChecksumType>FULL_OBJECT</ChecksumType><StorageClass>STANDARD</StorageClass>"
    "<Unmodelled>x</Unmodelled></Contents>"
)
_EMPTY_KEY = "<Contents><Key></Key><Size>5</Size><Custom/></Contents>"


def _page(contents: str, extra: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_NS}"><Name>b</Name>'
        f"<Prefix>cas/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>{extra}"
        f"<IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken>"
        f"{contents}</ListBucketResult>"
    ).encode()


def _answer(parser: Any, body: bytes, operation: str = "ListObjectsV2") -> Any:
    model = botocore.session.get_session().get_service_model("s3")
    shape = model.operation_model(operation).output_shape
    response = {"body": body, "headers": {"x-amz-request-id": "r1"}, "status_code": 200}
    return parser.parse(response, shape)


@pytest.mark.parametrize(
    "body",
    [
        _page("".join(_PLAIN.format(i=i, d=i % 10, size=1000 + i) for i in range(50))),
        _page(_PLAIN.format(i=7, d=1, size=3)),  # one object: not a list in the XML tree
        _page(_WITH_OWNER + _PLAIN.format(i=1, d=2, size=9)),
        _page(_EMPTY_KEY),
        _page(
            _PLAIN.format(i=2, d=3, size=4),
            "<EncodingType>url</EncodingType><CommonPrefixes><Prefix>cas/0</Prefix>"
            "</CommonPrefixes><Delimiter>/</Delimiter>",
        ),
        _page(""),
    ],
    ids=["page", "single", "nested-fields", "odd-elements", "prefixes", "empty"],
)
@pytest.mark.parametrize("operation", ["ListObjectsV2", "ListObjects"])
def test_a_listing_parses_to_what_botocore_builds(body: bytes, operation: str) -> None:
    generic = _answer(RestXMLParser(timestamp_parser=parse_timestamp), body, operation)
    fast = _answer(ListingParser(timestamp_parser=parse_timestamp), body, operation)
    assert fast == generic


def test_the_factory_makes_listing_parsers_for_s3_and_botocore_parsers_for_the_rest() -> None:
    parsers = ResponseParsers(parse_timestamp)
    assert type(parsers.create_parser("rest-xml")) is ListingParser
    json_parser = parsers.create_parser("json")
    assert not isinstance(json_parser, ListingParser)
    assert json_parser._timestamp_parser is parse_timestamp


def test_a_malformed_size_fails_as_botocore_fails() -> None:
    body = _page("<Contents><Key>k</Key><Size>big</Size></Contents>")
    for parser in (RestXMLParser(), ListingParser(timestamp_parser=parse_timestamp)):
        with pytest.raises(ValueError, match="invalid literal"):
            _answer(parser, body)


_LAST_PAGE = _page(_PLAIN.format(i=5, d=0, size=1)).replace(
    b"<IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken>",
    b"<IsTruncated>false</IsTruncated>",
)


class _FlakyListing(http.server.BaseHTTPRequestHandler):
    """Answers every listing with one object; the first ``flaws`` listings of the object's prefix
    come as a 200 carrying ``<Error>`` or XML cut short, as S3 sometimes answers."""

    flaws: list[bytes] = []
    listings = 0

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        body = _LAST_PAGE
        if query.get("prefix") == ["cas/"]:
            type(self).listings += 1
            if self.flaws:
                body = self.flaws.pop(0)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    "flaw",
    [
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
        b"<Message>try again</Message></Error>",
        _LAST_PAGE[:300],
    ],
    ids=["error-document", "cut-short"],
)
def test_a_listing_answered_200_with_an_error_or_cut_short_is_retried(flaw: bytes) -> None:
    _FlakyListing.flaws, _FlakyListing.listings = [flaw], 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyListing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = urllib.parse.quote(f"http://127.0.0.1:{server.server_port}", safe="")
        driver = open_storage(
            f"s3://bucket?endpoint_url={endpoint}&access_key=a&secret_key=s&max_attempts=3",
            BUILTIN_DRIVERS,
        )
        keys = [stat.key for stat in driver.iter_keys("cas/")]
    finally:
        server.shutdown()
    assert keys == [f"cas/{5:064x}"]
    assert _FlakyListing.listings == 2


def test_other_operations_keep_botocores_check() -> None:
    model = botocore.session.get_session().get_service_model("s3")
    answer = {"status_code": 200, "body": b"<Error><Code>InternalError</Code></Error>"}
    flag_embedded_error(model.operation_model("CompleteMultipartUpload"), answer)
    assert answer["status_code"] == 500
    fine = {"status_code": 200, "body": _page("")}
    flag_embedded_error(model.operation_model("ListObjectsV2"), fine)
    assert fine["status_code"] == 200
