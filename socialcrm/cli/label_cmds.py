"""``socialcrm labels ...``: define custom labels, mark examples, train, switch on, back-label existing mentions."""

from __future__ import annotations

import argparse
import functools
import sys
import tomllib
from importlib import resources
from typing import Any

from socialcrm.cli.core_cmds import configure, opened
from socialcrm.cli.tables import format_table
from socialcrm.config import Config
from socialcrm.db import open_database
from socialcrm.labelling.features import Features, WordFeatures, describe, features_for

STARTER = "starter_labels.toml"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``socialcrm labels list|define|mark|add|import|train|on|off|backfill``."""
    labels = sub.add_parser("labels", help="custom labels taught with examples (churn, purchase intent, ...)")
    actions = labels.add_subparsers(dest="labels_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser("list", help="each label: on/off, examples, cross-validated precision and recall")
    p.set_defaults(func=cmd_list)
    p = actions.add_parser("define", help="add a label (off until trained and switched on)")
    p.add_argument("name", help="lower-case name used in rules, filters and exports, e.g. churn")
    p.add_argument("--title", default="", help="what people see (default: the name)")
    p.add_argument("--description", default="", help="what the label means, for the people who teach it")
    p.add_argument("--threshold", type=float, default=0.5, help="score from which a mention has the label")
    p.set_defaults(func=cmd_define)
    p = actions.add_parser("mark", help="mark stored mentions as examples (or, with --not, counter-examples)")
    p.add_argument("name", help="the label")
    p.add_argument("mention_ids", nargs="+", type=int, metavar="MENTION_ID", help="ids as in the web app and exports")
    p.add_argument("--not", dest="negative", action="store_true", help="the mentions do NOT have the label")
    p.set_defaults(func=cmd_mark)
    p = actions.add_parser("add", help="add a written example text")
    p.add_argument("name", help="the label")
    p.add_argument("text", help="a typical text (or, with --not, one that does not have the label)")
    p.add_argument("--not", dest="negative", action="store_true", help="the text does NOT have the label")
    p.set_defaults(func=cmd_add)
    p = actions.add_parser("import", help="add labels and examples from a TOML file (or the packaged starter labels)")
    p.add_argument("file", nargs="?", help="[name] tables with title, description, threshold, positive, negative")
    p.add_argument("--starter", action="store_true", help="the starter labels churn and purchase-intent (de, en)")
    p.set_defaults(func=cmd_import)
    p = actions.add_parser("train", help="train labels on their examples and estimate precision/recall")
    p.add_argument("names", nargs="*", metavar="NAME", help="default: every label")
    p.add_argument("--features", choices=["auto", "words"], default="auto", help=_FEATURES_HELP)
    p.set_defaults(func=cmd_train)
    for verb, help_text in (("on", "switch labels on: predicted for new mentions"), ("off", "switch labels off")):
        p = actions.add_parser(verb, help=help_text)
        p.add_argument("names", nargs="+", metavar="NAME", help="the labels")
        p.set_defaults(func=cmd_switch, enabled=verb == "on")
    p = actions.add_parser("backfill", help="predict switched-on labels for mentions already stored (newest first)")
    p.add_argument("names", nargs="*", metavar="NAME", help="default: every switched-on label")
    p.add_argument("--limit", type=int, default=None, help="at most this many mentions (default: all)")
    p.set_defaults(func=cmd_backfill)


_FEATURES_HELP = (
    "auto: the sentence vectors of the configured classifier where it has them (kind = default), "
    "else words; words: a bag of words, no model needed"
)


def _features(config: Config, choice: str = "auto") -> Features:
    if choice == "words" or config.classifier.kind == "lexicon":
        return WordFeatures()
    from classifiers.loader import build_classifier

    return features_for(build_classifier(config.classifier.kind, config.classifier.options()))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def cmd_list(args: argparse.Namespace) -> int:
    """Print every label with its state, examples and estimate."""
    from socialcrm.services import labels

    with opened(configure(args), write=False) as session:
        rows = []
        counts = labels.example_counts(session)
        for label in labels.list_labels(session):
            positive, negative = counts.get(label.id or 0, (0, 0))
            trained = f"{label.positives}+/{label.negatives}- {describe(label.features)}" if label.head else "no"
            rows.append(
                [
                    label.name,
                    "on" if label.enabled else "off",
                    f"{positive}+/{negative}-",
                    _percent(label.cv_precision),
                    _percent(label.cv_recall),
                    trained,
                ]
            )
    if not rows:
        print("No labels yet: socialcrm labels define NAME, or socialcrm labels import --starter")
        return 0
    headers = ["name", "state", "examples", "precision", "recall", "trained on"]
    print("\n".join(format_table(headers, rows, numeric=["precision", "recall"])))
    print("precision and recall: cross-validated on the marked examples the head was trained on (see trained on)")
    return 0


def cmd_define(args: argparse.Namespace) -> int:
    """Add a label."""
    from socialcrm.services import labels

    with opened(configure(args), write=True) as session:
        label = labels.define(
            session, labels.LabelInput(args.name, args.title, args.description, args.threshold), actor="cli"
        )
        print(f"Defined label {label.name}: mark examples (socialcrm labels mark/add), then train it")
    return 0


def cmd_mark(args: argparse.Namespace) -> int:
    """Mark mentions as (counter-)examples."""
    from socialcrm.services import labels

    with opened(configure(args), write=True) as session:
        label = labels.by_name(session, args.name)
        assert label.id is not None
        for mention_id in args.mention_ids:
            labels.mark_mention(session, label.id, mention_id, not args.negative, actor="cli")
    kind = "counter-examples" if args.negative else "examples"
    print(f"Marked {len(args.mention_ids)} mention(s) as {kind} of {args.name}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Add a written example."""
    from socialcrm.services import labels

    with opened(configure(args), write=True) as session:
        label = labels.by_name(session, args.name)
        assert label.id is not None
        labels.add_text(session, label.id, args.text, not args.negative, actor="cli")
    print(f"Added {'a counter-example' if args.negative else 'an example'} to {args.name}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Add labels and examples from a TOML file."""
    from socialcrm.errors import InvalidInputError
    from socialcrm.services import labels

    if args.starter == bool(args.file):
        print("socialcrm: give a FILE or --starter (not both)", file=sys.stderr)
        return 2
    try:
        if args.starter:
            text = resources.files("socialcrm.labelling").joinpath(STARTER).read_text(encoding="utf-8")
        else:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        document: dict[str, Any] = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInputError(f"{args.file or STARTER}: {err}") from None
    with opened(configure(args), write=True) as session:
        added = labels.import_labels(session, document, actor="cli")
    for name, (positive, negative) in added.items():
        print(f"{name}: added {positive} examples and {negative} counter-examples")
    print("Next: socialcrm labels train, then socialcrm labels on NAME")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train labels and print their cross-validated estimates."""
    from socialcrm.errors import InvalidInputError
    from socialcrm.services import labels

    config = configure(args)
    db = open_database(config, upgrade=True)
    try:
        with db.read() as session:
            chosen = [labels.by_name(session, n) for n in args.names] if args.names else labels.list_labels(session)
            ids = [(label.id, label.name) for label in chosen if label.id is not None]
        features = functools.cache(lambda: _features(config, args.features))  # loaded once, only if needed
        failed = 0
        for label_id, name in ids:
            try:
                label = labels.train_label(db, label_id, features, actor="cli")
            except InvalidInputError as err:
                if args.names:
                    raise
                print(f"socialcrm: {name}: not trained: {err}", file=sys.stderr)
                failed += 1
                continue
            print(
                f"{name}: precision {_percent(label.cv_precision)}, recall {_percent(label.cv_recall)} "
                f"({label.cv_folds}-fold cross-validation on {label.positives} examples and "
                f"{label.negatives} counter-examples; features: {describe(label.features)})"
            )
    finally:
        db.dispose()
    return 1 if failed else 0


def cmd_switch(args: argparse.Namespace) -> int:
    """Switch labels on or off."""
    from socialcrm.services import labels

    with opened(configure(args), write=True) as session:
        for name in args.names:
            label = labels.by_name(session, name)
            assert label.id is not None
            labels.set_enabled(session, label.id, args.enabled, actor="cli")
    print(f"Switched {'on' if args.enabled else 'off'}: {', '.join(args.names)}")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Predict switched-on labels for stored mentions, a page at a time."""
    from socialcrm.services import label_predictions

    config = configure(args)
    db = open_database(config, upgrade=True)
    try:
        with db.read() as session:
            active = label_predictions.active_labels(session, args.names or None)
        if not active:
            print("socialcrm: no switched-on label to back-label (socialcrm labels on NAME)", file=sys.stderr)
            return 2
        encoder = None if all(a.features_key == WordFeatures.key for a in active) else _features(config)
        before, done, found = None, 0, 0
        while args.limit is None or done < args.limit:
            page_size = label_predictions.BACKFILL_PAGE
            size = page_size if args.limit is None else min(page_size, args.limit - done)
            page = label_predictions.backfill(db, active, encoder, before_id=before, limit=size, actor="cli")
            done, found, before = done + page.mentions, found + page.found, page.next_before
            if page.skipped:
                print(f"socialcrm: skipped {', '.join(page.skipped)}: trained for another classifier; retrain first")
            print(f"\r{done} mentions, {found} labels found", end="", file=sys.stderr, flush=True)
            if before is None:
                break
        print(file=sys.stderr)
        print(f"Back-labelled {done} mentions: {found} labels found")
    finally:
        db.dispose()
    return 0
