"""Fakes for our own seams only: a scripted Connector and a keyword Classifier implementing the protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from classifiers.base import Analysis, Sentiment
from connectors.base import (
    Batch,
    ConnectorError,
    ConnectorOptions,
    RawPost,
    ReplyPolicy,
    ReplyResult,
    ReplyTarget,
)


class FakeClassifier:
    """Negative when a text contains a complaint word, positive for praise, else neutral."""

    kind: ClassVar[str] = "fake"
    model_id = "fake-1"
    NEGATIVE = ("ärgerlich", "enttäuscht", "never arrived", "terrible", "schlecht", "überfällig", "broken")
    POSITIVE = ("super", "great", "toll", "love")

    def __init__(self) -> None:
        self.calls: list[int] = []

    def analyse(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> list[Analysis]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            low = text.lower()
            label = (
                "negative"
                if any(w in low for w in self.NEGATIVE)
                else ("positive" if any(w in low for w in self.POSITIVE) else "neutral")
            )
            language = "de" if any(w in low for w in ("ich", "die", "der", "und", "ist", "wie")) else "en"
            out.append(Analysis(Sentiment(label, 0.9, self.model_id), language))  # type: ignore[arg-type]
        return out


def post(
    source: str, n: int, text: str, *, thread: str | None = None, author: str = "alice", minutes: int = 0
) -> RawPost:
    return RawPost(
        source=source,
        external_id=f"{source}-{n}",
        url=f"https://example.com/{source}/{n}",
        author_handle=author,
        title=None,
        body=text,
        published_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes or n),
        thread_id=thread,
        raw={"n": n},
    )


class ScriptedConnector:
    """Returns scripted pages keyed by cursor; raises a scripted error when told to."""

    kind: ClassVar[str] = "scripted"
    Options = ConnectorOptions
    min_interval: ClassVar[timedelta] = timedelta(seconds=1)
    reply_policy: ClassVar[ReplyPolicy] = ReplyPolicy(can_reply=True, max_length=500)

    def __init__(self, name: str, pages: dict[str | None, Batch] | None = None) -> None:
        self.name = name
        self.pages = pages or {}
        self.error: ConnectorError | None = None
        self.cursors_seen: list[str | None] = []
        self.replies: list[tuple[str, str, str]] = []

    async def fetch(self, cursor: str | None) -> Batch:
        self.cursors_seen.append(cursor)
        if self.error is not None:
            raise self.error
        return self.pages.get(cursor, Batch(posts=[], cursor=cursor))

    async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
        self.replies.append((target.external_id, text, idempotency_key))
        return ReplyResult(external_id=f"reply-{len(self.replies)}", url=f"https://example.com/r/{len(self.replies)}")

    async def aclose(self) -> None:
        return None
