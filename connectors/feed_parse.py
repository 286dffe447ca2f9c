"""The feed-parsing worker: bytes in, plain picklable entries out (runs in a separate process).

``parse_feed`` decodes the body (connectors.feed_decode), makes it safe for an XML parser
(connectors.feed_prolog), runs feedparser on the resulting UTF-8 bytes wrapped in a BytesIO
(never a URL, path or str: feedparser would open those) and reduces every entry to plain data
with its HTML turned into text. ``python -m connectors.feed_parse MEMORY_LIMIT_BYTES`` is the
worker a pool process runs: pickled ``(job, timeout)`` in on stdin, results out on stdout. A job may
name an entry hook (``connectors.base.EntryHook`` as ``(function, argument)``): the worker then runs it
on the parsed entries and gives each entry its value as ``prepared``.
A worker caps its own address space, kills itself (SIGALRM) if a job outlives twice its time
cap, and dies with its parent on Linux, so no parse outlives the daemon.
"""

from __future__ import annotations

import calendar
import ctypes
import ctypes.util
import importlib
import io
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

import feedparser

from connectors.feed_decode import decode_feed_bytes
from connectors.feed_prolog import EntityBombError, make_parser_safe
from connectors.feed_text import plain_text

MAX_TITLE_CHARS = 1_000
MAX_TEXT_CHARS = 100_000
FEED_VERSIONS_UNKNOWN = ("", None)
HOOK_CHUNK = 64  # entries per call of an entry hook
HOOK_SHARE = 0.5  # an entry hook starts no chunk after this share of the job's time cap has passed


def _timestamp(parsed: Any) -> float | None:
    if not parsed:
        return None
    try:
        return float(calendar.timegm(parsed))
    except (TypeError, ValueError, OverflowError):
        return None


def _detail_text(entry: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = entry.get(key)
    if not value:
        return None
    detail = entry.get(f"{key}_detail") or {}
    return plain_text(str(value), detail.get("type"))[:limit] or None


def _body_text(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content") or []
    best = max(contents, key=lambda c: len(c.get("value") or ""), default=None)
    summary = entry.get("summary") or ""
    if best is not None and len(best.get("value") or "") >= len(summary):
        return plain_text(best.get("value") or "", best.get("type"))[:MAX_TEXT_CHARS]
    detail = entry.get("summary_detail") or {}
    return plain_text(summary, detail.get("type"))[:MAX_TEXT_CHARS]


def _language(entry: Mapping[str, Any], feed_language: str | None) -> str | None:
    for key in ("content", "summary_detail", "title_detail"):
        detail = entry.get(key)
        if isinstance(detail, list):
            detail = detail[0] if detail else None
        if detail and detail.get("language"):
            return str(detail["language"])
    return feed_language


def _entry(entry: Mapping[str, Any], feed_language: str | None) -> dict[str, Any]:
    author = entry.get("author_detail") or {}
    reply_to = entry.get("thr_in-reply-to") or {}
    date = (
        _timestamp(entry.get("published_parsed"))
        or _timestamp(entry.get("updated_parsed"))
        or _timestamp(entry.get("created_parsed"))
    )
    return {
        "id": (entry.get("id") or "").strip() or None,
        "link": (entry.get("link") or "").strip() or None,
        "title": _detail_text(entry, "title", MAX_TITLE_CHARS),
        "text": _body_text(entry),
        "date": date,
        "published_raw": (entry.get("published") or "").strip(),
        "author_name": author.get("name") or entry.get("author") or None,
        "author_email": author.get("email") or None,
        "author_url": author.get("href") or None,
        "in_reply_to": reply_to.get("ref") or None,
        "in_reply_to_href": reply_to.get("href") or None,
        "comments": entry.get("comments") or None,
        "tags": [t.get("term") for t in entry.get("tags") or [] if t.get("term")][:20],
        "language": _language(entry, feed_language),
    }


def _feed_author(feed: Mapping[str, Any]) -> dict[str, Any]:
    """The feed's own author (Atom ``feed/author``, RSS ``dc:creator``): its entries without one inherit it."""
    detail = feed.get("author_detail") or {}
    return {
        "author_name": detail.get("name") or feed.get("author") or None,
        "author_email": detail.get("email") or None,
        "author_url": detail.get("href") or None,
    }


def _newest(entries: list[Any], limit: int) -> list[Any]:
    """The ``limit`` newest entries by date; undated ones keep their place in document order."""
    if len(entries) <= limit:
        return entries
    keyed = [
        (_timestamp(e.get("published_parsed")) or _timestamp(e.get("updated_parsed")), i) for i, e in enumerate(entries)
    ]
    if all(date is None for date, _ in keyed):
        return entries[:limit]
    keyed.sort(key=lambda pair: (pair[0] if pair[0] is not None else float("inf"), -pair[1]), reverse=True)
    chosen = sorted(i for _, i in keyed[:limit])
    return [entries[i] for i in chosen]


def parse_feed(
    body: bytes,
    content_type: str | None,
    max_entries: int,
    content_language: str | None = None,
) -> dict[str, Any]:
    """Parse one feed body; return ``{"ok": True, ...}`` or ``{"ok": False, "error": "..."}``."""
    text, encoding = decode_feed_bytes(body, content_type)
    try:
        safe, notes = make_parser_safe(text)
    except EntityBombError as err:
        return {"ok": False, "error": str(err)}
    # No Content-Location: resolving every element against a base costs feedparser half its time;
    # the few links we keep are resolved against the feed's URL by connectors.feed_entries.
    headers = {"content-type": "application/xml; charset=utf-8"}
    if content_language:
        headers["content-language"] = content_language
    result = feedparser.parse(
        io.BytesIO(safe.encode("utf-8")),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    feed = result.get("feed") or {}
    feed_language = feed.get("language") or content_language
    all_entries = list(result.get("entries") or [])
    chosen = _newest(all_entries, max_entries)
    bozo = result.get("bozo_exception") if result.get("bozo") else None
    return {
        "ok": True,
        "version": result.get("version") or "",
        "encoding": encoding,
        "bozo": f"{type(bozo).__name__}: {bozo}" if bozo is not None else None,
        "notes": notes,
        "feed": {
            "title": _detail_text(feed, "title", MAX_TITLE_CHARS),
            "link": feed.get("link") or None,
            "date": _timestamp(feed.get("updated_parsed")) or _timestamp(feed.get("published_parsed")),
            "language": feed_language,
            **_feed_author(feed),
        },
        "total_entries": len(all_entries),
        "entries": [_entry(e, feed_language) for e in chosen],
    }


def _limit_memory(extra_bytes: int) -> None:
    """Cap the address space at what the process uses now plus ``extra_bytes``."""
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        current = 0
    limit = current + extra_bytes
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # not enforceable here (e.g. macOS): the time cap still holds
        pass


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (best effort elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _hook_function(name: str) -> Callable[[Any, list[tuple[str | None, str, str | None]]], list[Any]]:
    module, _, function = name.partition(":")
    found: Callable[[Any, list[tuple[str | None, str, str | None]]], list[Any]] = getattr(
        importlib.import_module(module), function
    )
    return found


def _run_hook(hook: tuple[str, Any], entries: list[dict[str, Any]], deadline: float) -> None:
    """Give entries their value of ``hook`` as ``prepared``, a chunk at a time until ``deadline``.

    Entries left without one (past the deadline, or the hook failed) are for the core to compute:
    the hook never makes a parse run past its time cap.
    """
    function, argument = hook
    try:
        run = _hook_function(function)
        for start in range(0, len(entries), HOOK_CHUNK):
            if time.perf_counter() > deadline:
                return
            chunk = entries[start : start + HOOK_CHUNK]
            values = run(argument, [(e["title"], e["text"], e["language"]) for e in chunk])
            if len(values) != len(chunk):
                return
            for entry, value in zip(chunk, values, strict=True):
                entry["prepared"] = value
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - the core's own code: it computes the values itself and reports there
        return


def _run_job(job: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    started = time.perf_counter()
    hook = job.pop("entry_hook", None)
    result: dict[str, Any]
    try:
        result = parse_feed(**job)
        if hook is not None and result.get("ok"):
            _run_hook(hook, result["entries"], deadline=started + timeout * HOOK_SHARE)
    except MemoryError:
        result = {"ok": False, "error": "the parser ran out of memory (memory cap reached)", "fatal": True}
    except RecursionError as err:
        result = {"ok": False, "error": f"the document nests too deeply: {err}"}
    except Exception as err:  # feedparser is untyped and never meant to raise: report, keep serving
        result = {"ok": False, "error": f"the parser failed: {type(err).__name__}: {err}"}
    result["seconds"] = time.perf_counter() - started
    return result


def worker_main(requests: Connection, replies: Connection, memory_limit_bytes: int | None) -> None:
    """Serve ``(job, timeout)`` requests until the pipe closes or sends ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if memory_limit_bytes:
        _limit_memory(memory_limit_bytes)
    try:
        replies.send(("ready", os.getpid()))
    except OSError:  # the daemon is gone already (killed while starting this worker): nothing to serve
        return
    while True:
        try:
            request = requests.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        job, timeout = request
        signal.setitimer(signal.ITIMER_REAL, 2 * timeout + 1)  # default SIGALRM action: terminate
        result = _run_job(job, timeout)
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            replies.send(result)
        except (OSError, ValueError):
            return
        if result.get("fatal"):
            return


def _main() -> None:
    requests = Connection(os.dup(0), writable=False)
    replies = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # anything printed by a library goes to stderr, never into the reply pipe
    memory_limit = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    worker_main(requests, replies, memory_limit or None)


if __name__ == "__main__":
    _main()
