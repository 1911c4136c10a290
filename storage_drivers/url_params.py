"""Parsing storage URLs: query parameters, typed values and redaction for error messages.

Every problem raises :class:`StorageMisconfigured` with a message naming the parameter. Query
values are percent-decoded, but ``+`` is kept literally (secret keys often contain it), so write
a space as ``%20`` and a literal ``%`` as ``%25``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from storage_drivers.base import StorageMisconfigured

_SECRET_PARAMS = ("secret_key", "session_token", "password")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class StorageUrl:
    """A split storage URL: ``scheme://netloc/path?params``."""

    scheme: str
    netloc: str
    path: str
    params: Mapping[str, str]
    #: The URL with secrets replaced by ``***``, for error messages and logs.
    redacted: str


def parse_storage_url(url: str, *, scheme: str, allowed_params: Collection[str]) -> StorageUrl:
    """Split ``url`` and check its scheme and query parameter names.

    Raises :class:`StorageMisconfigured` if the scheme is not ``scheme``, a parameter is not in
    ``allowed_params``, a parameter is repeated, or the URL has a ``#fragment``.
    """
    redacted = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise StorageMisconfigured(f"cannot parse storage URL {redacted!r}: {exc}") from exc
    if parts.scheme != scheme:
        raise StorageMisconfigured(
            f"storage URL {redacted!r} does not start with {scheme}:// "
            f"(the {scheme} driver was chosen)"
        )
    if parts.fragment:
        raise StorageMisconfigured(f"storage URL {redacted!r} must not have a #fragment")
    params = _parse_query(parts.query, redacted)
    unknown = sorted(set(params) - set(allowed_params))
    if unknown:
        raise StorageMisconfigured(
            f"unknown parameter {unknown[0]!r} in {scheme} storage URL {redacted!r}; "
            f"allowed: {', '.join(sorted(allowed_params)) or 'none'}"
        )
    return StorageUrl(parts.scheme, parts.netloc, unquote(parts.path), params, redacted)


def _parse_query(query: str, redacted: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in query.split("&") if query else ():
        raw_name, _, raw_value = item.partition("=")
        name, value = unquote(raw_name), unquote(raw_value)
        if not name:
            raise StorageMisconfigured(f"empty parameter name in storage URL {redacted!r}")
        if name in params:
            raise StorageMisconfigured(f"parameter {name!r} repeated in storage URL {redacted!r}")
        params[name] = value
    return params


def bool_param(params: Mapping[str, str], name: str, default: bool) -> bool:
    """Return the boolean parameter ``name`` (``true/false``, ``1/0``, ``yes/no``, ``on/off``)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise StorageMisconfigured(f"parameter {name}={raw!r} is not a boolean (use true or false)")


def seconds_param(params: Mapping[str, str], name: str, default: float) -> float:
    """Return the parameter ``name`` as a positive, finite number of seconds."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise StorageMisconfigured(f"parameter {name}={raw!r} is not a positive number of seconds")
    return value


def int_param(params: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """Return the parameter ``name`` as an integer ``>= minimum``."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise StorageMisconfigured(f"parameter {name}={raw!r} is not an integer >= {minimum}")
    return value


def redact_url(url: str) -> str:
    """Return ``url`` with the password and secret parameters replaced by ``***``."""
    for name in _SECRET_PARAMS:
        url = re.sub(rf"([?&]{name}=)[^&#]*", r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{parts.username}:***@{host}"
        url = SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment).geturl()
    return url
