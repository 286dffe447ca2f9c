"""One poll of a multi-stream source: run each stream's step, merge posts, bound pages, honour rate limits.

Rate-limit policy shared by the social connectors: a 429 is raised as ``RateLimited`` (with the
server's Retry-After or reset time when it sent one). When a *successful* response says the budget
is spent (``X-Ratelimit-Remaining: 0`` / ``RateLimit-Remaining: 0``), the batch is returned as usual
with ``has_more=False`` and the cursor remembers ``wait_until``; the next ``fetch`` raises
``RateLimited`` without touching the network until that time. Nothing ever sleeps on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors._cursor import CursorState, Page, StreamState, walk_step
from connectors._http import JsonResponse
from connectors.base import Batch, RateLimited, RawPost

DEFAULT_PAUSE = 60.0


@dataclass
class PollContext:
    """What a stream step may touch: the cursor, and the problem list of the batch being built."""

    source: str
    state: CursorState
    problems: list[str] = field(default_factory=list)
    skipped: int = 0

    def skip(self, message: str) -> None:
        """Record one unusable item (a ParseError-style message); the batch goes on without it."""
        self.skipped += 1
        self.problems.append(f"{self.source}: {message}")

    def saw(self, response: JsonResponse) -> None:
        """Note the rate-limit headers of a successful response."""
        self.state.pause_for(response.rate_limit_wait)


Step = Callable[[PollContext, StreamState], Awaitable[list[RawPost]]]
PageFetcher = Callable[[PollContext, Any, float | None], Awaitable[Page]]


def walking(
    fetch_page: PageFetcher, overlap: float = 0.0, initial_mark: Callable[[], float | None] | None = None
) -> Step:
    """Make a step that walks a newest-first listing page by page (see ``walk_step``).

    A page item whose payload is None still moves the mark (an old, filtered or unreadable item)
    but is never delivered.
    """

    async def step(ctx: PollContext, stream: StreamState) -> list[RawPost]:
        async def page(anchor: Any, floor: float | None) -> Page:
            return await fetch_page(ctx, anchor, floor)

        return [p for p in await walk_step(stream, page, overlap, initial_mark) if p is not None]

    return step


async def poll_streams(
    source: str,
    kind: str,
    cursor: str | None,
    steps: Mapping[str, Step],
    *,
    max_pages: int,
    keep: Callable[[RawPost], bool] | None = None,
) -> Batch:
    """Run one page of every due stream and return the merged batch with the cursor after it.

    ``keep`` filters posts locally (keywords); filtered posts still move the cursor.
    """
    state, problems = CursorState.load(source, kind, cursor)
    for stale in set(state.streams) - set(steps):
        del state.streams[stale]
    state.check_pause(source)
    ctx = PollContext(source, state, problems)
    posts: dict[str, RawPost] = {}
    for name in state.begin_round(steps):
        try:
            fresh = await steps[name](ctx, state.stream(name))
        except RateLimited as err:
            if not posts:
                raise
            state.pause_for(err.retry_after if err.retry_after else DEFAULT_PAUSE)
            ctx.problems.append(str(err))
            break
        for post in fresh:
            if keep is None or keep(post):
                posts.setdefault(post.external_id, post)
        if state.wait_until is not None:
            break
    has_more = state.finish_round(steps, max_pages) and state.wait_until is None
    return Batch(
        posts=list(posts.values()),
        cursor=state.dump(),
        has_more=has_more,
        skipped=ctx.skipped,
        problems=tuple(ctx.problems),
    )


def keyword_filter(keywords: list[str]) -> Callable[[RawPost], bool] | None:
    """Return a predicate keeping posts whose title or body contains any keyword (case-insensitive)."""
    words = [k.casefold() for k in keywords if k.strip()]
    if not words:
        return None

    def keep(post: RawPost) -> bool:
        text = f"{post.title or ''}\n{post.body}".casefold()
        return any(w in text for w in words)

    return keep
