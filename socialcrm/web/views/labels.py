"""Custom labels in the web app: define, teach with examples, train, see the estimate, switch on, back-label.

Who may do what: every role sees the labels and their figures; admins and community managers define
and teach them (they read the conversations); only admins delete a label.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import func
from sqlmodel import Session, col, select

from socialcrm.errors import ConflictError, InvalidInputError
from socialcrm.labelling.features import FeatureSource, WordFeatures, describe
from socialcrm.labelling.training import MIN_EACH
from socialcrm.models import CustomLabel, Mention
from socialcrm.services import label_predictions, labels
from socialcrm.services.labels import LabelInput
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, back_to, finish

routes = web.RouteTableDef()
FEATURES_KEY = web.AppKey("label_features", FeatureSource)
TEACHERS = ("community",)  # with admin: define, mark examples, train, switch on, back-label
READERS = ("community", "service", "marketing")
CANDIDATES = 20


def setup(app: web.Application, classifier: object | None) -> None:
    """Give the app the features labels train on: the running classifier's, or one built from the config when needed."""
    config = app[CONFIG_KEY]
    app[FEATURES_KEY] = FeatureSource(config.classifier.kind, config.classifier.options(), classifier)


def features_of(app: web.Application) -> FeatureSource:
    """The app's FeatureSource (see ``setup``)."""
    return app[FEATURES_KEY]


@dataclass(frozen=True)
class LabelPage:
    """What the page of one label shows."""

    label: CustomLabel
    examples: list[labels.ExampleRow]
    candidates: list[Mention]
    predicted: int
    stale: int  # mentions labelled by an earlier training


def _input(form: Any, name: str = "") -> LabelInput:
    raw = params.text(form, "threshold", 10)
    try:
        threshold = float(raw) if raw else 0.5
    except ValueError:
        raise InvalidInputError("threshold: a number between 0 and 1") from None
    return LabelInput(
        name=params.text(form, "name", 64) or name,
        title=params.text(form, "title", 200) or "",
        description=params.raw_text(form, "description", labels.MAX_DESCRIPTION),
        threshold=threshold,
    )


@routes.get("/labels")
@requires(*READERS)
async def label_list(request: web.Request) -> web.Response:
    """Every label with its state, examples and estimate; a form for a new one."""
    return await _list_page(request)


async def _list_page(request: web.Request, *, error: str | None = None, http_status: int = 200) -> web.Response:
    def load(s: Session) -> tuple[list[CustomLabel], dict[int, tuple[int, int]]]:
        return labels.list_labels(s), labels.example_counts(s)

    rows, counts = await request.app[DB_KEY].run_read(load)
    return render(
        request, "labels.html", http_status=http_status, rows=rows, counts=counts, error=error, describe=describe
    )


@routes.post("/labels")
@requires(*TEACHERS)
async def label_create(request: web.Request) -> web.StreamResponse:
    """Define a label; then the page to teach it."""
    data = _input(await request.post())
    actor = user_of(request).username
    try:
        label = await request.app[DB_KEY].run_write(lambda s: labels.define(s, data, actor=actor))
    except (InvalidInputError, ConflictError) as err:
        return await _list_page(request, error=str(err), http_status=409 if isinstance(err, ConflictError) else 400)
    return finish(request, f"/labels/{label.id}", "label_defined")


@routes.get(r"/labels/{id:\d+}")
@requires(*READERS)
async def label_page(request: web.Request) -> web.Response:
    """One label: estimate, settings, examples, and mentions to mark (newest, or matching ``q``)."""
    label_id = params.path_id(request)
    query = params.text(request.query, "q", 100) or ""
    return await _label_page(request, label_id, query)


async def _label_page(
    request: web.Request, label_id: int, query: str = "", *, error: str | None = None, http_status: int = 200
) -> web.Response:
    def load(s: Session) -> LabelPage:
        label = labels.get_label(s, label_id)
        marked = labels.examples(s, label_id)
        seen = {e.mention_id for e in marked if e.mention_id is not None}
        search = select(Mention).where(col(Mention.erased_at).is_(None)).order_by(col(Mention.id).desc())
        if query:
            search = search.where(func.lower(Mention.text).contains(query.lower()))
        candidates = [m for m in s.exec(search.limit(CANDIDATES + len(seen))) if m.id not in seen][:CANDIDATES]
        predicted = s.exec(select(func.count()).where(label_predictions.has_label(label.name))).one()
        return LabelPage(label, marked, candidates, int(predicted), label_predictions.stale_count(s, label))

    page = await request.app[DB_KEY].run_read(load)
    positives = sum(1 for e in page.examples if e.positive)
    return render(
        request,
        "label.html",
        http_status=http_status,
        page=page,
        label=page.label,
        query=query,
        error=error,
        positives=positives,
        negatives=len(page.examples) - positives,
        minimum=MIN_EACH,
        describe=describe,
        current_features=_current_features_key(request),
        continue_before=params.integer(request.query, "continue", 1),
    )


def _current_features_key(request: web.Request) -> str | None:
    """The features a training would use now, when known without loading a model."""
    config = request.app[CONFIG_KEY]
    source = request.app.get(FEATURES_KEY)
    if config.classifier.kind == "lexicon":
        return WordFeatures.key
    return source.get().key if source is not None and source.loaded else None


@routes.post(r"/labels/{id:\d+}")
@requires(*TEACHERS)
async def label_update(request: web.Request) -> web.StreamResponse:
    """Change title, description and threshold."""
    label_id = params.path_id(request)
    data = _input(await request.post(), "x")
    actor = user_of(request).username
    try:
        await request.app[DB_KEY].run_write(lambda s: labels.update(s, label_id, data, actor=actor))
    except InvalidInputError as err:
        return await _label_page(request, label_id, error=str(err), http_status=400)
    return finish(request, f"/labels/{label_id}", "label_saved")


@routes.post(r"/labels/{id:\d+}/examples")
@requires(*TEACHERS)
async def example_add(request: web.Request) -> web.StreamResponse:
    """Mark a mention (``mention_id``) or add a written text (``text``) as an example (``positive`` 1) or not (0)."""
    label_id = params.path_id(request)
    form = await request.post()
    positive = params.text(form, "positive", 1) == "1"
    mention_id = params.integer(form, "mention_id", 1)
    text = params.raw_text(form, "text", labels.MAX_EXAMPLE_TEXT)
    actor = user_of(request).username

    def write(s: Session) -> None:
        if mention_id is not None:
            labels.mark_mention(s, label_id, mention_id, positive, actor=actor)
        else:
            labels.add_text(s, label_id, text, positive, actor=actor)

    try:
        await request.app[DB_KEY].run_write(write)
    except InvalidInputError as err:
        return await _label_page(request, label_id, error=str(err), http_status=400)
    back = back_to(form, f"/labels/{label_id}")
    return finish(request, back, "label_example_added", positive=positive)


@routes.post(r"/labels/{id:\d+}/examples/{example:\d+}/delete")
@requires(*TEACHERS)
async def example_remove(request: web.Request) -> web.StreamResponse:
    """Forget one example."""
    label_id = params.path_id(request)
    example_id = params.whole_number(request.match_info["example"])
    if example_id is None:
        raise web.HTTPNotFound()
    await request.app[DB_KEY].run_write(lambda s: labels.remove_example(s, label_id, example_id))
    return finish(request, f"/labels/{label_id}", "label_example_removed")


@routes.post(r"/labels/{id:\d+}/train")
@requires(*TEACHERS)
async def label_train(request: web.Request) -> web.StreamResponse:
    """Train on the examples and estimate precision and recall by cross-validation (seconds, on the CPU)."""
    label_id = params.path_id(request)
    actor = user_of(request).username
    db = request.app[DB_KEY]
    source = features_of(request.app)

    def work() -> CustomLabel:
        return labels.train_label(db, label_id, source.get, actor=actor)

    try:
        label = await asyncio.to_thread(work)
    except InvalidInputError as err:
        return await _label_page(request, label_id, error=str(err), http_status=400)
    return finish(
        request,
        f"/labels/{label_id}",
        "label_trained",
        precision=label.cv_precision,
        recall=label.cv_recall,
        positives=label.positives,
        negatives=label.negatives,
    )


@routes.post(r"/labels/{id:\d+}/switch")
@requires(*TEACHERS)
async def label_switch(request: web.Request) -> web.StreamResponse:
    """Switch the label on (``enabled`` 1: predicted for new mentions) or off."""
    label_id = params.path_id(request)
    enabled = params.text(await request.post(), "enabled", 1) == "1"
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: labels.set_enabled(s, label_id, enabled, actor=actor))
    return finish(request, f"/labels/{label_id}", "label_on" if enabled else "label_off", enabled=enabled)


@routes.post(r"/labels/{id:\d+}/backfill")
@requires(*TEACHERS)
async def label_backfill(request: web.Request) -> web.StreamResponse:
    """Predict the label for up to 200 stored mentions (newest first, before ``before``); says where to go on."""
    label_id = params.path_id(request)
    before = params.integer(await request.post(), "before", 1)
    actor = user_of(request).username
    db = request.app[DB_KEY]
    source = features_of(request.app)

    def work() -> label_predictions.BackfillPage:
        with db.read() as s:
            label = labels.get_label(s, label_id)
            if not label.enabled:
                raise ConflictError(f"label {label.name!r} is switched off: switch it on first")
            active = label_predictions.active_labels(s, [label.name])
        encoder = None if active[0].features_key == WordFeatures.key else source.get()
        return label_predictions.backfill(db, active, encoder, before_id=before, actor=actor)

    page = await asyncio.to_thread(work)
    location = f"/labels/{label_id}" + (f"?continue={page.next_before}" if page.next_before else "")
    return finish(
        request,
        location,
        "label_backfilled",
        mentions=page.mentions,
        found=page.found,
        next_before=page.next_before,
        skipped=page.skipped,
    )


@routes.post(r"/labels/{id:\d+}/delete")
@requires()
async def label_delete(request: web.Request) -> web.StreamResponse:
    """Remove the label, its examples and predictions (admins only)."""
    label_id = params.path_id(request)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: labels.delete_label(s, label_id, actor=actor))
    return finish(request, "/labels", "label_deleted")
