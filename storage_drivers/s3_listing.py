"""botocore's S3 answer parser with a fast path for the objects of a listing page.

botocore walks every XML element of an answer through its generic, model-driven parser: about
30 us per listed object, which made parsing most of ``partsbin check`` and ``gc`` on a store of
300k objects. :class:`ListingParser` reads the scalar fields of each listed object (``Key``,
``Size``, ``LastModified``...) straight from the element and hands everything else to botocore,
so the parsed answer is the one botocore would build, field for field (a test compares them).
It is installed through the session's ``response_parser_factory`` component, the customisation
point botocore offers for parsing (:func:`install`).

botocore also parses every S3 answer of status 200 once more before that, only to look for an
``<Error>`` root (S3 can report an error with a 200) or XML cut short, and turns either into a
500 that its retry logic retries. For listings, :func:`flag_embedded_error` makes the same
decision from the answer's last bytes: a complete listing ends with its closing root tag, an
error or a cut-short answer does not.

Only imported when boto3 is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore import handlers, parsers

# The stubs of botocore declare only the public methods; this module overrides and calls the
# parser's internal ones, so it sees the classes untyped.
_RestXMLParser: Any = parsers.RestXMLParser
_ResponseParserFactory: Any = parsers.ResponseParserFactory

#: The model shape of the ``Contents`` of ListObjectsV2 (and ListObjects) answers.
OBJECT_LIST_SHAPE = "ObjectList"


class ListingParser(_RestXMLParser):
    """The ``rest-xml`` parser, with listed objects' scalar fields read without the model walk.

    An object element whose children are not each a distinct, known scalar field (a nested
    ``Owner``, a repeated tag) goes through botocore's generic parse, as does everything else.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tag_names: dict[str, str] = {}

    def _handle_list(self, shape: Any, node: Any) -> Any:
        if shape.name != OBJECT_LIST_SHAPE:
            return super()._handle_list(shape, node)
        member = shape.member
        return [self._object(member, element) for element in (
            node if isinstance(node, list) else [node]
        )]

    def _object(self, shape: Any, element: Any) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        for child in element:
            name = self._tag_names.get(child.tag)
            if name is None:
                name = self._tag_names[child.tag] = self._node_tag(child)
            text = child.text or ""
            if name in parsed:
                return self._parse_shape(shape, element)
            if name in _STRINGS:
                parsed[name] = text
            elif name == "Size":
                parsed[name] = int(text)
            elif name == "LastModified":
                parsed[name] = self._timestamp_parser(text)
            elif name in shape.members:
                return self._parse_shape(shape, element)
            # botocore drops elements the model does not name; so does this.
        return parsed


#: Scalar string members of a listed object.
_STRINGS = frozenset({"Key", "ETag", "StorageClass", "ChecksumType"})


class ResponseParsers(_ResponseParserFactory):
    """botocore's parser factory, making a :class:`ListingParser` for ``rest-xml`` (S3)."""

    def __init__(self, timestamp_parser: Callable[[str], datetime]) -> None:
        super().__init__()
        self.set_parser_defaults(timestamp_parser=timestamp_parser)
        self._timestamp_parser = timestamp_parser

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "rest-xml":
            return ListingParser(timestamp_parser=self._timestamp_parser)
        return super().create_parser(protocol_name)


#: Operations whose answers :func:`flag_embedded_error` checks by their last bytes.
LISTING_OPERATIONS = frozenset({"ListObjectsV2", "ListObjects"})
_LISTING_END = b"</ListBucketResult>"

_BOTOCORE_200_CHECK: Callable[..., None] | None = getattr(handlers, "_handle_200_error", None)


def flag_embedded_error(operation_model: Any, response_dict: dict[str, Any], **kwargs: Any) -> None:
    """botocore's ``before-parse`` check of S3 answers, without a parse for listings.

    A listing answered 200 whose body does not end with the listing's closing tag (an
    ``<Error>`` document, or XML cut short) gets status 500, as botocore's own check gives it,
    so it is retried; every other operation goes to botocore's check.
    """
    if operation_model.name not in LISTING_OPERATIONS:
        if _BOTOCORE_200_CHECK is not None:
            _BOTOCORE_200_CHECK(operation_model, response_dict, **kwargs)
        return
    body = response_dict.get("body")
    complete = not body or body.rstrip().endswith(_LISTING_END)
    if response_dict.get("status_code") == 200 and not complete:
        response_dict["status_code"] = 500


def install(core_session: Any, timestamp_parser: Callable[[str], datetime]) -> None:
    """Make ``core_session`` (a botocore session, before any client) parse with these parsers
    and check listings for embedded errors with :func:`flag_embedded_error`."""
    core_session.register_component("response_parser_factory", ResponseParsers(timestamp_parser))
    if _BOTOCORE_200_CHECK is not None:
        core_session.unregister("before-parse.s3.*", _BOTOCORE_200_CHECK)
        core_session.register("before-parse.s3.*", flag_embedded_error)
