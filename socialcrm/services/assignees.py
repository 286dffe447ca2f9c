"""Who may be given work: existing, enabled users of a role that can work tickets, or reply drafts.

An assignee is a username. Tickets go to the service team, drafts to community managers; admins can
work both. A name that is not such a user is refused with a message that names it and says why.
"""

from __future__ import annotations

from typing import Final, Literal

from sqlmodel import Session, col, select

from socialcrm.errors import InvalidInputError
from socialcrm.models import Role, User

WorkKind = Literal["tickets", "drafts"]
WORK_ROLES: Final[dict[WorkKind, tuple[Role, ...]]] = {
    "tickets": ("service", "admin"),
    "drafts": ("community", "admin"),
}
"""The roles that work each kind of item (and so can be assigned it)."""


def assignable(session: Session, work: WorkKind) -> list[str]:
    """The usernames that ``work`` can be assigned to, alphabetically."""
    statement = (
        select(User.username)
        .where(col(User.role).in_(WORK_ROLES[work]), col(User.disabled).is_(False))
        .order_by(col(User.username))
    )
    return list(session.exec(statement))


def check_assignee(session: Session, username: str | None, work: WorkKind) -> str | None:
    """``username`` when it may be given ``work`` (None unassigns); InvalidInputError saying why otherwise."""
    if username is None:
        return None
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise InvalidInputError(f"assignee: there is no user {username!r}")
    if user.disabled:
        raise InvalidInputError(f"assignee: user {username!r} is disabled")
    roles = WORK_ROLES[work]
    if user.role not in roles:
        raise InvalidInputError(
            f"assignee: user {username!r} has the role {user.role}, which cannot work {work}"
            f" (roles that can: {', '.join(roles)})"
        )
    return username
