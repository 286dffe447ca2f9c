"""Load recorded cassettes (praw betamax JSON, vcrpy YAML, R-vcr YAML) and serve them from a ReplayServer.

The recordings are served as they were captured, with three transport-level repairs a replay must
make: bodies are stored decoded, so ``Content-Encoding``/``Content-Length``/``Transfer-Encoding`` go;
cookies for the recorded domain go; and the recorded origin (``http://localhost:3000``,
``https://oauth.reddit.com`` ...) is rewritten in headers and bodies to the replay server's base
URL so ``Link`` headers and absolute URLs point back at it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from aiohttp import web

from tests.replay_server import Canned, ReplayServer

REPLAY_DIR = Path(__file__).resolve().parent
_DROP_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "connection", "set-cookie"}


@dataclass
class Interaction:
    """One recorded request and its response."""

    method: str
    url: str
    request_body: bytes
    status: int
    headers: dict[str, str]
    body: bytes
    request_headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)

    def canned(self, rewrite: Mapping[str, str] | None = None, delay: float = 0.0) -> Canned:
        body = self.body
        headers = dict(self.headers)
        for old, new in (rewrite or {}).items():
            body = body.replace(old.encode(), new.encode())
            headers = {k: v.replace(old, new) for k, v in headers.items()}
        return Canned(self.status, body, headers, delay)


def _flatten_headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (raw or {}).items():
        if name.lower() in _DROP_HEADERS:
            continue
        out[name] = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return out


def _body_bytes(raw: Any) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, dict):
        if raw.get("base64_string"):
            return base64.b64decode(raw["base64_string"])
        raw = raw.get("string")
        if raw is None:
            return b""
    if isinstance(raw, bytes):
        return raw
    return str(raw).encode("utf-8")


def load_betamax(path: Path) -> list[Interaction]:
    """Read a praw/prawcore betamax cassette."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for item in data["interactions"]:
        req, resp = item["request"], item["response"]
        out.append(
            Interaction(
                method=req["method"].upper(),
                url=req["uri"],
                request_body=_body_bytes(req.get("body")),
                status=int(resp["status"]["code"]),
                headers=_flatten_headers(resp.get("headers")),
                body=_body_bytes(resp.get("body")),
                request_headers=_flatten_headers(req.get("headers")),
            )
        )
    return out


def load_vcr_yaml(path: Path) -> list[Interaction]:
    """Read a vcrpy (``interactions``) or R-vcr (``http_interactions``) YAML cassette."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = data.get("interactions") or data.get("http_interactions") or []
    out = []
    for item in items:
        req, resp = item["request"], item["response"]
        status = resp["status"]
        code = status["code"] if isinstance(status, dict) else int(status)
        out.append(
            Interaction(
                method=req["method"].upper(),
                url=req["uri"],
                request_body=_body_bytes(req.get("body")),
                status=int(code),
                headers=_flatten_headers(resp.get("headers")),
                body=_body_bytes(resp.get("body")),
                request_headers=_flatten_headers(req.get("headers")),
            )
        )
    return out


def load(path: Path) -> list[Interaction]:
    """Read any supported cassette by its extension."""
    if path.suffix == ".json":
        return load_betamax(path)
    return load_vcr_yaml(path)


def serve(
    server: ReplayServer,
    interactions: Iterable[Interaction],
    *,
    origins: Iterable[str] = (),
    delay: float = 0.0,
) -> None:
    """Register every interaction on ``server``, keyed by method and path, in recorded order.

    Identical ``METHOD path`` keys are served one after another (the last repeats), which is how
    the recordings' retries (three 5xx in a row) and multi-step flows replay. ``origins`` lists
    recorded origins to rewrite to the server's base URL in addition to each interaction's own.
    """
    grouped: dict[tuple[str, str], list[Canned]] = {}
    for item in interactions:
        rewrite = {o: server.base_url for o in {item.origin, *origins}}
        grouped.setdefault((item.method, item.path), []).append(item.canned(rewrite, delay))
    for (method, path), canned in grouped.items():
        server.add(method, path, *canned)


def serve_by_query(server: ReplayServer, method: str, path: str, variants: list[tuple[dict[str, str], Canned]]) -> None:
    """Serve ``path`` by query: the first variant whose parameters are all in the request wins."""

    async def handler(request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        for wanted, canned in variants:
            if all(query.get(k) == v for k, v in wanted.items()):
                return web.Response(status=canned.status, body=canned.body, headers=dict(canned.headers))
        return web.Response(status=404, text=f"no recording for {request.path_qs}")

    server.add_handler(method, path, handler)


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response for emulators that re-page recorded items."""
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def hostile_json(name: str) -> bytes:
    """Bytes of a JSONTestSuite file copied into tests/replay/hostile-json/."""
    return (REPLAY_DIR / "hostile-json" / name).read_bytes()
