"""Which role a route needs: the HTTP method's default, or what the route declares.

GET and HEAD need ``reader``; every other method needs ``editor``; OPTIONS needs nothing. A view
declares another role with :func:`requires_role` (exported by :mod:`core.plugin_api`), placed
*below* the route decorator so the mark is on the function the route wraps::

    @blueprint.post("/search")
    @requires_role(READER)      # a query sent as POST: readers may use it
    def search(body: SearchBody) -> Response: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from core.auth import EDITOR, READER, ROLES

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`requires_role` sets on a view function.
ROLE_ATTRIBUTE = "__partsbin_required_role__"

#: Blueprints open to everyone: health probes, the OpenAPI document and its viewers.
PUBLIC_BLUEPRINTS = frozenset(
    {"health", "openapi", "swagger", "redoc", "rapidoc", "scalar", "elements", "rapipdf"}
)

_UNDECLARED = object()


def requires_role(role: str | None) -> Callable[[F], F]:
    """Declare the role a view needs for every method it serves (``None``: no sign-in at all).

    Raises ``ValueError`` at import time for a role that does not exist, so a typo cannot
    silently open or close a route.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)}, or None for public)")

    def mark(func: F) -> F:
        setattr(func, ROLE_ATTRIBUTE, role)
        return func

    return mark


def public(func: F) -> F:
    """Declare a view open to everyone, signed in or not (same as ``requires_role(None)``)."""
    return requires_role(None)(func)


def route_role(
    endpoint: str | None, view: Callable[..., Any] | None, method: str, *, cas_public: bool = False
) -> str | None:
    """The role needed to call ``view`` (registered as ``endpoint``) with ``method``.

    ``None`` means the route is open. ``cas_public`` opens the ``/api/cas`` routes
    (``PARTSBIN_CAS_PUBLIC``).
    """
    method = method.upper()
    if method == "OPTIONS":
        return None
    blueprint = endpoint.rpartition(".")[0] if endpoint and "." in endpoint else None
    if blueprint in PUBLIC_BLUEPRINTS or endpoint == "static":
        return None
    if cas_public and blueprint == "cas":
        return None
    declared = getattr(view, ROLE_ATTRIBUTE, _UNDECLARED)
    if declared is not _UNDECLARED:
        return declared  # type: ignore[return-value]
    return READER if method in ("GET", "HEAD") else EDITOR
