"""The S3 listing parser builds exactly the answer botocore's generic parser builds."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.parsers import RestXMLParser

from storage_drivers.s3 import parse_timestamp
from storage_drivers.s3_listing import ListingParser, ResponseParsers

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
