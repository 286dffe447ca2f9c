"""Filters a person saved for a list page, under a name of their choosing; only they see and use them.

A filter is the page's query string, reduced to the parameters that page knows (so a saved filter
cannot carry anything else). Saving under an existing name replaces that filter's query.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from sqlmodel import Session, col, select

from socialcrm.errors import InvalidInputError, NotFoundError
from socialcrm.models import SavedFilter, utcnow

MAX_NAME = 64
MAX_QUERY = 1000
MAX_PER_PAGE = 50


def clean_query(query: str, allowed: Iterable[str]) -> str:
    """``query`` with only the ``allowed`` parameters (non-empty), in a stable order."""
    keep = set(allowed)
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=False) if k in keep and v]
    text = urlencode(sorted(pairs))
    if len(text) > MAX_QUERY:
        raise InvalidInputError(f"query: longer than {MAX_QUERY} characters")
    return text


def list_filters(session: Session, user_id: int, page: str) -> list[SavedFilter]:
    """This person's saved filters for ``page``, by name."""
    return list(
        session.exec(
            select(SavedFilter)
            .where(SavedFilter.user_id == user_id, SavedFilter.page == page)
            .order_by(col(SavedFilter.name))
        )
    )


def save_filter(
    session: Session, user_id: int, page: str, name: str, query: str, allowed: Iterable[str]
) -> SavedFilter:
    """Save (or replace) the filter called ``name``; the name says what a person sees in the list."""
    name = " ".join(name.split())
    if not name:
        raise InvalidInputError("name: a saved filter needs a name")
    if len(name) > MAX_NAME:
        raise InvalidInputError(f"name: longer than {MAX_NAME} characters")
    cleaned = clean_query(query, allowed)
    existing = session.exec(
        select(SavedFilter).where(SavedFilter.user_id == user_id, SavedFilter.page == page, SavedFilter.name == name)
    ).first()
    if existing is None:
        if len(list_filters(session, user_id, page)) >= MAX_PER_PAGE:
            raise InvalidInputError(f"name: at most {MAX_PER_PAGE} saved filters per page; delete one first")
        existing = SavedFilter(user_id=user_id, page=page, name=name, created_at=utcnow())
    existing.query = cleaned
    session.add(existing)
    session.flush()
    return existing


def delete_filter(session: Session, user_id: int, filter_id: int) -> None:
    """Delete one of this person's saved filters (another person's is "not found", never deleted)."""
    found = session.get(SavedFilter, filter_id)
    if found is None or found.user_id != user_id:
        raise NotFoundError(f"no saved filter with id {filter_id}")
    session.delete(found)
