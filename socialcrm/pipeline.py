"""Batch -> normalise -> dedup -> classify -> enrich -> link -> rules -> persist, in one transaction per batch.

Enrichers (``Pipeline(enrichers=[...])``, such as custom labels) annotate each batch's new posts after
classification and store what they found with the mentions, before linking and rules see them.

The cursor only advances in the transaction that stored the batch, so a crash at any point
either stores the whole page (with its cursor) or nothing: re-polling then fetches the same page
again and the (source, external_id) check drops what is already stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from classifiers.base import Analysis, Classifier, ClassifierError
from connectors import Batch, RawPost
from socialcrm.config import Config, SourceConfig
from socialcrm.db import Database, lock_across_processes, must_restart_transaction
from socialcrm.linking import link_mention
from socialcrm.linking.normalize import normalize_handle
from socialcrm.models import Decision, Mention, utcnow
from socialcrm.rules.facts import build_facts
from socialcrm.rules.ruleset import RuleSet
from socialcrm.services import sources
from socialcrm.services.actions import ActionContext, apply_evaluation
from socialcrm.threads import LOOKBACK, assign_threads, earlier_threads

logger = logging.getLogger(__name__)
MAX_RAW_BYTES = 64 * 1024
UNIQUE_RACE_TRIES = 3
RESTART_TRIES = 3


@dataclass
class PollCounts:
    """What polling amounted to: posts fetched, new and already stored, errors, tickets opened, drafts written."""

    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    errors: int = 0
    tickets: int = 0
    drafts: int = 0

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
        classifier: Classifier,
        ruleset: RuleSet,
        enrichers: Sequence[Enricher] = (),
    ) -> None:
        self.config = config
        self.db = db
        self.classifier = classifier
        self.ruleset = ruleset
        self.enrichers = list(enrichers)

    async def process(self, source: SourceConfig, batch: Batch) -> BatchResult:
        """Store one batch and advance the source's cursor, atomically."""
        posts = _unique(batch.posts)
        known = await self.db.run_read(lambda s: _known_ids(s, source.name, [p.external_id for p in posts]))
        fresh = [p for p in posts if p.external_id not in known]
        analyses = await self._classify(fresh) if fresh else []
        items = [NewPost(post, analysis) for post, analysis in zip(fresh, analyses, strict=True)]
        for enricher in self.enrichers if items else ():
            await asyncio.to_thread(enricher.enrich, items)
        now = utcnow()

        def store(session: Session) -> BatchResult:
            return self._store(session, source, batch, items, now)

        for attempt in range(1, RESTART_TRIES + 1):
            try:
                result = await self.db.run_write(store)
                break
            except OperationalError as err:
                # A deadlock with another worker's transaction (on rows the person locks do not cover):
                # PostgreSQL rolled this one back; the batch is stored again from the start.
                if not must_restart_transaction(err) or attempt == RESTART_TRIES:
                    raise
                logger.warning("%s: storing a page collided with another worker; trying again", source.name)
        result.fetched = len(batch.posts)
        result.duplicates = result.fetched - result.new
        result.errors += batch.skipped
        return result

    async def _classify(self, posts: Sequence[RawPost]) -> list[Analysis | None]:
        texts = [self._classify_text(p) for p in posts]
        hints = [p.language_hint for p in posts]
        size = self.config.classifier.batch_size
        results: list[Analysis | None] = []
        for start in range(0, len(texts), size):
            chunk, chunk_hints = texts[start : start + size], hints[start : start + size]
            try:
                results.extend(await asyncio.to_thread(self.classifier.analyse, chunk, chunk_hints))
            except (ClassifierError, RuntimeError, ValueError) as err:
                logger.error("Classifier failed on a batch of %d texts (%s); retrying one by one", len(chunk), err)
                results.extend(await asyncio.to_thread(self._classify_each, chunk, chunk_hints))
        return results

    def _classify_each(self, texts: Sequence[str], hints: Sequence[str | None]) -> list[Analysis | None]:
        out: list[Analysis | None] = []
        for text, hint in zip(texts, hints, strict=True):
            try:
                out.append(self.classifier.analyse([text], [hint])[0])
            except (ClassifierError, RuntimeError, ValueError) as err:
                logger.error("Classifier failed on one text (%s); stored without sentiment", err)
                out.append(None)
        return out

    def _classify_text(self, post: RawPost) -> str:
        text = post.body if not post.title else f"{post.title}\n{post.body}"
        return text[: self.config.daemon.max_text_chars]

    def _store(
        self,
        session: Session,
        source: SourceConfig,
        batch: Batch,
        items: Sequence[NewPost],
        now: datetime,
    ) -> BatchResult:
        result = BatchResult()
        fresh = [item.post for item in items]
        # Other workers store other sources' batches meanwhile; those sharing an author with this one wait.
        lock_across_processes(session, (_person(source, p) for p in fresh if p.author_handle))
        # Re-check inside the write transaction: another writer (a CLI poll, a restarted daemon)
        # may have stored some of these since the read above.
        known = _known_ids(session, source.name, [p.external_id for p in fresh])
        context = ActionContext(config=self.config, now=now, actor="daemon")
        since = min((p.published_at for p in fresh), default=now) - LOOKBACK
        earlier = earlier_threads(session, source.name, source.type, fresh, since)
        threads = assign_threads(source.type, fresh, earlier)
        for item, thread_id in zip(items, threads, strict=True):
            post = item.post
            if post.external_id in known:
                continue
            mention = self._mention(source, post, item.analysis, thread_id, now)
            session.add(mention)
            session.flush()
            for enricher in self.enrichers:
                enricher.store(session, [(item, mention)])
            try:
                decisions = self._link_and_act(session, mention, context, now)
                outcomes = [a.get("outcome") for d in decisions for a in d.actions]
                result.tickets += outcomes.count("opened")
                result.drafts += outcomes.count("drafted")
            except Exception as err:  # noqa: BLE001 - one mention's linking/rules bug must not block the source
                if must_restart_transaction(err):
                    raise  # a deadlock lost the transaction as a whole: process() stores the batch again
                # The mention itself stays stored (it was flushed before the savepoint); only its
                # link and actions are rolled back. `socialcrm rules test` shows the failure again.
                logger.exception(
                    "Linking or rules failed for %s/%s; mention stored without actions", source.name, post.external_id
                )
                result.errors += 1
            result.new += 1
            assert mention.id is not None
            result.mention_ids.append(mention.id)
            known.add(post.external_id)
        sources.record_batch(
            session,
            source,
            cursor=batch.cursor,
            fetched=len(batch.posts),
            new=result.new,
            skipped=batch.skipped,
            problems=batch.problems,
            now=now,
        )
        return result

    def _link_and_act(
        self, session: Session, mention: Mention, context: ActionContext, now: datetime
    ) -> list[Decision]:
        """Link the mention and apply the rules in a savepoint; again if a concurrent writer won a unique key.

        Workers polling different sources at once meet the same people: two may create the same prospect
        (or identity) in the same moment. The loser's insert fails on the unique key once the winner
        commits; rolled back to the savepoint, the next try finds the winner's row and links to it, so
        the mention still gets its ticket or draft.
        """
        for attempt in range(1, UNIQUE_RACE_TRIES + 1):
            try:
                with session.begin_nested():
                    link_mention(session, mention, self.config.linking, now)
                    facts = build_facts(session, mention, self.ruleset, now)
                    evaluation = self.ruleset.evaluate(facts)
                    return apply_evaluation(session, mention, evaluation, context)
            except IntegrityError:
                if attempt == UNIQUE_RACE_TRIES:
                    raise
                logger.info(
                    "%s/%s: another writer stored the same record first; trying again",
                    mention.source,
                    mention.external_id,
                )
        raise AssertionError("unreachable")

    def _mention(
        self, source: SourceConfig, post: RawPost, analysis: Analysis | None, thread_id: str, now: datetime
    ) -> Mention:
        limit = self.config.daemon.max_text_chars
        text = post.body or ""
        return Mention(
            source=source.name,
            source_type=source.type,
            external_id=post.external_id[:512],
            url=(post.url or "")[:2048],
            kind=post.kind,
            thread_id=thread_id,
            parent_id=post.parent_id[:512] if post.parent_id else None,
            author=post.author_handle[:256] if post.author_handle else None,
            author_name=post.author_name[:256] if post.author_name else None,
            author_url=post.author_url[:1024] if post.author_url else None,
            title=post.title[:1000] if post.title else None,
            text=text[:limit],
            truncated=len(text) > limit,
            language=analysis.language if analysis else post.language_hint,
            sentiment=analysis.sentiment.label if analysis else None,
            sentiment_score=round(analysis.sentiment.score, 4) if analysis else None,
            classifier=analysis.sentiment.model[:128] if analysis else None,
            group=source.group,
            tags=list(source.tags),
            author_metrics={k: float(v) for k, v in post.author_metrics.items()},
            raw=_json_safe(post.raw),
            published_at=post.published_at,
            fetched_at=now,
        )


def _person(source: SourceConfig, post: RawPost) -> str:
    """The name under which storing a post of this author is locked against other workers."""
    author = (post.author_handle or "")[:256]
    return f"person:{source.type}:{normalize_handle(source.type, author)}"


def _unique(posts: Sequence[RawPost]) -> list[RawPost]:
    seen: set[str] = set()
    out = []
    for post in posts:
        if post.external_id not in seen:
            seen.add(post.external_id)
            out.append(post)
    return out


def _known_ids(session: Session, source: str, external_ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    ids = [e[:512] for e in external_ids]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.exec(
            select(Mention.external_id).where(Mention.source == source, col(Mention.external_id).in_(chunk))
        )
        known.update(rows)
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
