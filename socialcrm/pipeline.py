"""Batch -> dedup -> keep_only -> classify -> enrich -> store (link, rules, actions), each page atomically.

Enrichers (``Pipeline(enrichers=[...])``, such as custom labels) annotate each batch's new posts after
classification and store what they found with the mentions, before linking and rules see them.

``Pipeline.process(source, batch)`` is the entry point: it processes one fetched batch of one source.
The poller calls it for every page, and so may any worker that fetched a page.

The cursor only advances in the transaction that stored the batch, so a crash at any point either
stores the whole page (with its cursor) or nothing: re-polling then fetches the same page again and
the (source, external_id) key drops what is already stored (an erased mention by the keyed hash it
keeps: services/erased_posts.py). Classification runs on one thread of its own
(``socialcrm.classifying``), so the next batch is classified while the previous one is stored.
Storing is batched (``services.ingest``): a few set-based queries for the whole batch, not per post;
pages that arrive while others are being stored are stored together, in one transaction
(``socialcrm.store_groups``), so they pay for the person locks, the reads and the commit once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import null, union_all
from sqlmodel import Session, col, select

from classifiers.base import Analysis, Classifier
from classifiers.language import normalise_language
from classifiers.portable import classified_text
from connectors import Batch, RawPost
from socialcrm.classifying import Classification
from socialcrm.config import Config, SourceConfig
from socialcrm.db import Database, GroupedWrites, lock_across_processes
from socialcrm.linking.normalize import normalize_handle
from socialcrm.models import Mention, utcnow
from socialcrm.rules.query import Query, parse_query
from socialcrm.rules.ruleset import RuleSet
from socialcrm.rules.text import words
from socialcrm.services import ingest, sources
from socialcrm.services.erased_posts import erased_ids, has_erased_mentions, installation_key
from socialcrm.store_groups import StoreGroups
from socialcrm.threads import LOOKBACK, assign_threads, earlier_threads

logger = logging.getLogger(__name__)
MAX_RAW_BYTES = 64 * 1024
# Groups of pages one process stores at once on PostgreSQL: one holding the person locks, one storing
# its mentions meanwhile (more only split the waiting pages into smaller groups). SQLite has one writer.
GROUP_WRITERS = 2


@dataclass
class PollCounts:
    """What polling amounted to: posts fetched, new, already stored, dropped by keep_only, errors, tickets, drafts."""

    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    errors: int = 0
    tickets: int = 0
    drafts: int = 0
    filtered: int = 0

    def add(self, other: PollCounts) -> None:
        """Add ``other``'s counts to these."""
        for counter in fields(PollCounts):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


@dataclass
class BatchResult(PollCounts):
    """What one stored batch amounted to, with the ids of the mentions it stored."""

    mention_ids: list[int] = field(default_factory=list)


@dataclass
class NewPost:
    """A post about to be stored, with its analysis and what enrichers added (``extra``)."""

    post: RawPost
    analysis: Analysis | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    """One fetched page of one source, classified, waiting to be stored."""

    source: SourceConfig
    batch: Batch
    new_posts: Sequence[NewPost]
    filtered: int  # posts its source's keep_only dropped
    now: datetime


class Enricher(Protocol):
    """A step for each batch of new posts after classification (such as custom labels).

    ``enrich`` runs on a worker thread before the batch is stored and may annotate the posts (their
    ``extra``); ``store`` runs in the batch's write transaction, once a mention exists, before its rules.
    """

    def enrich(self, posts: Sequence[NewPost]) -> None:
        """Annotate the new posts of one batch."""
        ...

    def store(self, session: Session, stored: Sequence[tuple[NewPost, Mention]]) -> None:
        """Write what ``enrich`` found for the mentions just stored (same transaction)."""
        ...


class Pipeline:
    """Turns connector batches into stored mentions and the work the rules derive from them."""

    def __init__(
        self,
        config: Config,
        db: Database,
        classifier: Classifier | Classification,
        ruleset: RuleSet,
        enrichers: Sequence[Enricher] = (),
    ) -> None:
        self.config = config
        self.db = db
        self.classification = (
            classifier
            if isinstance(classifier, Classification)
            else Classification(classifier, batch_size=config.classifier.batch_size)
        )
        self.ruleset = ruleset
        self.enrichers = list(enrichers)
        # Source-state writes of pages without new posts (a 304, only duplicates) share transactions.
        # A stored page's commit need not wait for its flush (``[database] ingest_synchronous_commit``):
        # a crash takes back the page with its cursor, and the next poll fetches it again.
        self.synchronous_commit = config.database.ingest_synchronous_commit
        self.state_writes = GroupedWrites(db, prefetch=sources.load_states, synchronous_commit=self.synchronous_commit)
        # Pages with new posts that arrive while others are stored are stored together (group commit).
        self.pages: StoreGroups[Page, BatchResult] = StoreGroups(
            db,
            self._store_pages,
            lambda page: page.source.name,
            writers=1 if db.is_sqlite else GROUP_WRITERS,
            synchronous_commit=self.synchronous_commit,
        )
        self._key: bytes | None = None  # the database's erasure key, read once
        self._erased_sources = set[str]()  # sources seen with erased mentions: their hashes are always asked

    def _erasure_key(self, session: Session) -> bytes:
        if self._key is None:
            self._key = installation_key(session)
        return self._key

    async def process(self, source: SourceConfig, batch: Batch) -> BatchResult:
        """Process one fetched batch of one source: store its new posts and advance the cursor, atomically."""
        posts = _unique(batch.posts)
        kept = _keep(source, posts)
        known = set[str]()
        if kept:
            known = await self.db.run_read(
                lambda s: _known_ids(
                    s, source.name, [p.external_id for p in kept], self._erasure_key(s), self._erased_sources
                )
            )
        fresh = [p for p in kept if p.external_id[:512] not in known]
        analyses = await self._classify(fresh)
        new_posts = [NewPost(post, analysis) for post, analysis in zip(fresh, analyses, strict=True)]
        for enricher in self.enrichers if new_posts else ():
            await asyncio.to_thread(enricher.enrich, new_posts)
        now = utcnow()
        filtered = len(posts) - len(kept)

        page = Page(source, batch, new_posts, filtered, now)
        if new_posts:  # stored with other sources' pages that arrive meanwhile (StoreGroups)
            result = await self.pages.store(page)
        else:  # only the cursor and the counts change: written together with other sources' such pages
            result = await self.state_writes.write(lambda s: self._store_pages(s, [page])[0], key=source.name)
        result.fetched = len(batch.posts)
        result.filtered = filtered
        result.duplicates = result.fetched - result.new - filtered
        result.errors += batch.skipped
        return result

    async def _classify(self, posts: Sequence[RawPost]) -> list[Analysis | None]:
        if not posts:
            return []
        limit = self.config.daemon.max_text_chars
        texts = [classified_text(p.title, p.body, limit) for p in posts]
        hints = [p.language_hint for p in posts]
        # A feed parser process may have classified a post already (the word-list classifier): same text, same verdict.
        return await self.classification.analyse_posts(texts, hints, [p.prepared for p in posts])

    def _store_pages(self, session: Session, pages: list[Page], one_by_one: bool = False) -> list[BatchResult]:
        """Store the pages' new posts and their sources' states, then link, decide and act on them all at once."""
        stored = [self._insert(session, page) for page in pages]
        mentions = [mention for found in stored for mention in found]
        # What needs no lock is worked out before them: each mention's words, and how many ids to draw.
        plan = None if one_by_one or not mentions else ingest.BatchPlan.made_for(mentions, self.ruleset)
        # Other pages are stored meanwhile (other workers; on PostgreSQL, other groups of this process
        # too): those sharing an author with these wait here, before linking, facts and rules read or
        # create anything of theirs. Storing the mentions and their threads above concerns their own
        # sources alone, so pages sharing authors still overlap in that part.
        lock_across_processes(
            session,
            (_person(page.source, m) for page, found in zip(pages, stored, strict=True) for m in found if m.author),
        )
        processed = ingest.process_mentions(  # at the first page's time (they were fetched together)
            session, mentions, self.config, self.ruleset, pages[0].now, one_by_one=one_by_one, plan=plan
        )
        failed = set(processed.failed)
        results = []
        for found in stored:
            ids = [m.id for m in found if m.id is not None]
            result = BatchResult(mention_ids=ids)
            result.new = len(found)
            result.tickets = sum(processed.tickets_of[i] for i in ids)
            result.drafts = sum(processed.drafts_of[i] for i in ids)
            result.errors = sum(i in failed for i in ids)
            results.append(result)
        return results

    def _insert(self, session: Session, page: Page) -> list[Mention]:
        """Store one page's new posts (less any another writer stored meanwhile) and its source's state."""
        source, batch, now = page.source, page.batch, page.now
        posts = [item.post for item in page.new_posts]
        since = min((p.published_at for p in posts), default=now) - LOOKBACK
        earlier = earlier_threads(session, source.name, source.type, posts, since)
        threads = assign_threads(source.type, posts, earlier)
        rows = [
            self._row(source, item.post, item.analysis, thread_id, now)
            for item, thread_id in zip(page.new_posts, threads, strict=True)
        ]
        # Another writer (a CLI poll, a second daemon) may have stored some of these since the read
        # above: the insert skips those, and they are counted as duplicates.
        mentions = ingest.insert_mentions(session, rows, self.config.linking, now)
        # The source's own row, before the person locks, which pages of other sources sharing an author
        # queue for: what is done after them is done one group after the other.
        sources.record_batch(
            session,
            source,
            cursor=batch.cursor,
            fetched=len(batch.posts) - page.filtered,
            new=len(mentions),
            skipped=batch.skipped,
            problems=batch.problems,
            now=now,
        )
        session.flush()
        if self.enrichers and mentions:
            by_id = {m.external_id: m for m in mentions}
            stored = [
                (item, by_id[row["external_id"]])
                for item, row in zip(page.new_posts, rows, strict=True)
                if row["external_id"] in by_id
            ]
            for enricher in self.enrichers:
                enricher.store(session, stored)
        return mentions

    def _row(
        self, source: SourceConfig, post: RawPost, analysis: Analysis | None, thread_id: str, now: datetime
    ) -> dict[str, Any]:
        """The mention row of one new post (every column but the id), in the thread ``assign_threads`` chose."""
        limit = self.config.daemon.max_text_chars
        text = post.body or ""
        return {
            "source": source.name,
            "source_type": source.type,
            "external_id": post.external_id[:512],
            "url": (post.url or "")[:2048],
            "kind": post.kind[:16],
            "thread_id": thread_id,
            "parent_id": post.parent_id[:512] if post.parent_id else None,
            "author": post.author_handle[:256] if post.author_handle else None,
            "author_name": post.author_name[:256] if post.author_name else None,
            "author_url": post.author_url[:1024] if post.author_url else None,
            "title": post.title[:1000] if post.title else None,
            "text": text[:limit],
            "truncated": len(text) > limit,
            "language": analysis.language if analysis else _hinted_language(post.language_hint),
            "sentiment": analysis.sentiment.label if analysis else None,
            "sentiment_score": round(analysis.sentiment.score, 4) if analysis else None,
            "classifier": analysis.sentiment.model[:128] if analysis else None,
            "customer_id": None,
            "link_method": None,
            "link_confidence": None,
            "group": source.group,
            "tags": list(source.tags),
            "author_metrics": {k: float(v) for k, v in post.author_metrics.items()},
            "raw": _json_safe(post.raw),
            "published_at": post.published_at,
            "fetched_at": now,
            "erased_at": None,
        }


def _hinted_language(hint: str | None) -> str | None:
    """A post's own language hint in the classifier's words ("de-AT" -> "de", "zh-Hant-TW" -> "other").

    Stored when classification failed. A hint as the feed gave it could be longer than the column
    holds (PostgreSQL refuses it, SQLite keeps it whole) and would not match the languages people filter by.
    """
    return normalise_language(hint) if hint and hint.strip() else None


def _person(source: SourceConfig, mention: Mention) -> str:
    """The name under which storing a post of this author is locked against other writers."""
    author = mention.author or ""
    return f"person:{source.type}:{normalize_handle(source.type, author)}"


def _unique(posts: Sequence[RawPost]) -> list[RawPost]:
    seen: set[str] = set()
    out = []
    for post in posts:
        if post.external_id not in seen:
            seen.add(post.external_id)
            out.append(post)
    return out


@functools.lru_cache(maxsize=256)
def _keep_query(source: str) -> Query:
    return parse_query(source)


def _keep(source: SourceConfig, posts: list[RawPost]) -> list[RawPost]:
    """The posts a source keeps: all, or those whose title or text match its ``keep_only`` query."""
    if not source.keep_only:
        return posts
    query = _keep_query(source.keep_only)
    return [p for p in posts if query.matches(words(f"{p.title}\n{p.body}" if p.title else p.body or ""))]


def _known_ids(
    session: Session, source: str, external_ids: Sequence[str], erasure_key: bytes, erased_sources: set[str]
) -> set[str]:
    """The ids among ``external_ids`` already stored: as they are, or as an erased mention's keyed hash.

    The hashes are asked only for a source that has erased mentions. Whether it has is asked in the
    same statement as the ids (an index probe) every time until it has: an erasure made meanwhile by
    any process is seen at the next page. A source found with one is remembered in ``erased_sources``
    (an erasure is kept for good), and its ids and hashes are then asked in one statement.
    """
    ids = [e[:512] for e in external_ids]
    if source in erased_sources:
        return _stored(session, source, erased_ids(erasure_key, source, ids) | {e: e for e in ids})
    probe = select(null()).where(has_erased_mentions(source))
    known: set[str] = set()
    erased = False
    for start in range(0, len(ids), 1000):
        lookup = select(Mention.external_id).where(
            Mention.source == source, col(Mention.external_id).in_(ids[start : start + 1000])
        )
        rows = session.execute(union_all(lookup, probe)) if start == 0 else session.execute(lookup)
        for (external_id,) in rows:
            if external_id is None:
                erased = True
            else:
                known.add(external_id)
    if erased:
        erased_sources.add(source)
        known |= _stored(session, source, erased_ids(erasure_key, source, ids))
    return known


def _stored(session: Session, source: str, asked: dict[str, str]) -> set[str]:
    """The values of ``asked`` (stored external id -> fetched id) whose key ``source`` has stored."""
    wanted = list(asked)
    known: set[str] = set()
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = session.exec(
            select(Mention.external_id).where(Mention.source == source, col(Mention.external_id).in_(chunk))
        )
        known.update(asked[row] for row in rows)
    return known


def _json_safe(raw: Any) -> dict[str, Any] | None:
    """The raw payload as plain JSON, capped in size (kept for audit, not for display)."""
    if not raw:
        return None
    try:
        text = json.dumps(raw, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return {"unserialisable": True}
    if len(text.encode()) > MAX_RAW_BYTES:
        return {"truncated": True, "excerpt": text[: MAX_RAW_BYTES // 4]}
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}
