"""Authentication and roles: who a request is (:class:`Principal`) and what it may do.

Modes (``PARTSBIN_AUTH``): ``none`` makes every request the local user with every role; ``oidc``
signs people in through an OpenID Connect provider and accepts API tokens. See docs/auth.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

READER = "reader"
EDITOR = "editor"

#: Every role, lowest first; a role implies every role before it.
ROLES: tuple[str, ...] = (READER, EDITOR)


def implied_roles(role: str) -> list[str]:
    """``role`` and every role below it (``editor`` -> ``["reader", "editor"]``)."""
    return list(ROLES[: ROLES.index(role) + 1])


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a signed-in person, an API token or the local user."""

    subject: str
    name: str | None
    email: str | None
    roles: tuple[str, ...] = field(default_factory=tuple)
    #: ``"local"``, ``"session"`` or ``"token"``: how the caller was authenticated.
    via: str = "local"

    def has_role(self, role: str) -> bool:
        """Whether the principal holds ``role``."""
        return role in self.roles

    def as_json(self) -> dict[str, object]:
        """The ``GET /api/auth/self`` body: ``{subject, email, name, roles}``."""
        return {
            "subject": self.subject,
            "email": self.email,
            "name": self.name,
            "roles": list(self.roles),
        }


#: The caller in ``PARTSBIN_AUTH=none``: everyone is this user and may do everything.
LOCAL_USER = Principal(subject="local", name="Local User", email=None, roles=ROLES, via="local")
