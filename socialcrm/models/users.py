"""Tables for people who log in: users, browser sessions, API tokens and the filters each one saved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from socialcrm.models.columns import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A person with a role: admin, community, service or marketing."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    password_hash: str
    role: str = Field(max_length=16)
    display_name: str | None = None
    language: str | None = Field(default=None, max_length=8)
    time_zone: str | None = Field(default=None, max_length=64)  # IANA name; None: the browser's, else the server's
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    email: str | None = Field(default=None, max_length=254)  # where the weekly digest goes
    weekly_digest: bool = False  # opted in to the weekly digest e-mail


class WebSession(SQLModel, table=True):
    """A logged-in browser; the cookie holds a random token whose hash is the key."""

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for /api/v1, stored as a hash."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=64)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked: bool = False
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None: until revoked
    read_only: bool = False  # only GET, HEAD and OPTIONS requests


class SavedFilter(SQLModel, table=True):
    """A list filter a person saved under a name (the page's query string), for themselves only."""

    __table_args__ = (UniqueConstraint("user_id", "page", "name", name="uq_savedfilter_user_page_name"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    page: str = Field(max_length=32)
    name: str = Field(max_length=64)
    query: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
