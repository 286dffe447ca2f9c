"""Classifier commands: ``classify`` (JSON Lines batch analysis), ``classifier train`` and ``classifier eval``.

``--model NAME`` everywhere: a registered kind (``default``, ``lexicon``, ``transformers`` or a
third party's), an adapter file (``*.safetensors``, written by ``classifier train``) for the
default kind, or else a directory or Hugging Face hub id for the transformers kind. Without it,
the ``[classifier]`` table of the config is used when a config exists, else the default kind.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from classifiers.adapter_sets import DEFAULT_LICENCE, LICENCES
from classifiers.base import Classifier, ClassifierError
from classifiers.loader import build_classifier, known_kinds
from socialcrm.classifying import lanes_of, start_lanes

logger = logging.getLogger(__name__)

MAX_TEXT_CHARACTERS = 100_000
MAX_LINE_BYTES = 1 << 20
DEFAULT_DATA = Path("data/sentiment")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``classify`` and ``classifier train|eval``."""
    classify = sub.add_parser(
        "classify",
        help='sentiment and language of JSON Lines posts ({"id": ..., "text": ...} per line)',
        description="Reads JSON Lines (a file or stdin), writes one JSON line per input line, in order: "
        "id (when given), label (negative|neutral|positive), score (0..1) and language; a line that "
        'cannot be classified gives {"id": ..., "error": ...}.',
    )
    classify.add_argument("--model", metavar="NAME", help="kind, adapter file, model directory or hub id")
    classify.add_argument("--input", metavar="FILE", help="JSON Lines file (default: stdin)")
    classify.add_argument("--batch-size", type=int, default=64, metavar="N", help="texts per batch (64)")
    classify.set_defaults(func=cmd_classify)

    group = sub.add_parser("classifier", help="train and evaluate the sentiment classifier")
    actions = group.add_subparsers(dest="classifier_command", metavar="ACTION")
    actions.required = True
    train = actions.add_parser(
        "train",
        help="retrain the embedded model's heads (or adapters) on data/sentiment",
        description='Writes an adapter file; use it with [classifier] model = "PATH". The recipe of a packaged '
        "set (--licence) decides the data: commercial uses only sets whose licence allows commercial use.",
    )
    train.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled data folder (data/sentiment)")
    train.add_argument("--output", type=Path, required=True, help="adapter file to write (.safetensors)")
    train.add_argument(
        "--licence",
        choices=list(LICENCES),
        help="which set's recipe: commercial (data that allows commercial use) or research (all data); "
        f"default: [classifier] licence of the config, else {DEFAULT_LICENCE}",
    )
    train.add_argument(
        "--mode",
        choices=["heads", "adapters"],
        default="heads",
        help="heads: encode once (cached), fit the heads (minutes on a CPU); "
        "adapters: train LoRA adapters and heads (hours on a CPU, minutes on a GPU)",
    )
    train.add_argument("--include-corrections", action="store_true", help="also learn from people's corrections")
    train.add_argument("--commercial-only", action="store_true", help="the same as --licence commercial")
    train.add_argument(
        "--hold-out", action="append", default=[], metavar="SET", help="keep a set out of training (repeatable)"
    )
    train.add_argument(
        "--cross-validate",
        action="append",
        default=[],
        metavar="SET",
        help="print 5-fold out-of-fold figures of a set the recipe trains on (repeatable)",
    )
    train.add_argument("--adapters", type=Path, metavar="FILE", help="heads mode: encode with these LoRA adapters")
    train.add_argument(
        "--pool-layers", metavar="N,N", help="heads mode: encoder layers the heads read (default: the recipe's)"
    )
    train.add_argument("--l2", type=float, metavar="X", help="heads mode: L2 penalty (default: the recipe's)")
    train.add_argument(
        "--cache", type=Path, default=Path(".cache/sentiment"), help="sentence-vector cache (.cache/sentiment)"
    )
    train.add_argument("--no-cache", action="store_true", help="keep sentence vectors in memory only")
    train.add_argument("--epochs", type=float, default=3.0, help="adapters mode: passes over the training data (3)")
    train.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    train.add_argument("--limit", type=int, metavar="N", help="at most N examples per set (quick trials)")
    train.add_argument("--seed", type=int, default=13, help="random seed, for reproducible runs (13)")
    train.set_defaults(func=cmd_train)

    evaluate = actions.add_parser(
        "eval",
        help="print the metric of each development set",
        description="Scores the model on the development sets. A set whose texts the model was trained on is "
        "marked in-sample, with the figure on its other texts; only figures on unseen texts are honest.",
    )
    evaluate.add_argument("--model", metavar="NAME", help="kind, adapter file, model directory or hub id")
    evaluate.add_argument("--licence", choices=list(LICENCES), help="score this packaged set of the default model")
    evaluate.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled data folder (data/sentiment)")
    evaluate.add_argument("--set", dest="sets", action="append", metavar="NAME", help="a set (repeatable)")
    evaluate.add_argument("--limit", type=int, metavar="N", help="at most N examples per set")
    evaluate.add_argument("--json", action="store_true", help="one JSON object per set")
    evaluate.set_defaults(func=cmd_eval)


def _config_wanted(args: argparse.Namespace) -> bool:
    return bool(args.config or os.environ.get("SOCIALCRM_CONFIG") or Path("socialcrm.toml").exists())


LICENCE_WITH_MODEL = "--licence picks a packaged set of the default model; it cannot go with --model"


def _option_conflict(args: argparse.Namespace) -> str | None:
    """The usage error in ``--model``/``--licence``, if any, found before anything is loaded."""
    if getattr(args, "licence", None) is not None and getattr(args, "model", None) not in (None, "default"):
        return LICENCE_WITH_MODEL
    return None


def resolve_classifier(args: argparse.Namespace) -> Classifier:
    """Build the classifier named by ``--model`` (or ``--licence``), else the configured one, else the default."""
    name = getattr(args, "model", None)
    licence = getattr(args, "licence", None)
    if licence is not None:
        if name not in (None, "default"):
            raise ClassifierError(LICENCE_WITH_MODEL)
        return build_classifier("default", {"licence": licence, "fallback": False})
    if name is None:
        if _config_wanted(args):
            from socialcrm.cli.core_cmds import configure

            config = configure(args)
            return build_classifier(config.classifier.kind, config.classifier.options())
        return build_classifier("default", {})
    if name in known_kinds():
        return build_classifier(name, {})
    if name.endswith(".safetensors"):
        return build_classifier("default", {"model": name, "fallback": False})
    return build_classifier("transformers", {"model": name, "fallback": False})


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Numbered input lines; a line over MAX_LINE_BYTES is skipped to its end and given as None."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


def parse_line(number: int, line: bytes | None) -> tuple[Any, str | None, str | None]:
    """(id, text, error) of one input line."""
    if line is None:
        return None, None, f"line {number}: longer than {MAX_LINE_BYTES} bytes"
    if not line.strip():
        return None, None, f"line {number}: empty line"
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return None, None, f"line {number}: not valid JSON ({err})"
    if not isinstance(item, dict):
        return None, None, f"line {number}: expected a JSON object with a text field"
    identifier = item.get("id")
    text = item.get("text")
    if not isinstance(text, str):
        return identifier, None, f"line {number}: the text field is missing or not a string"
    if not text.strip():
        return identifier, None, f"line {number}: the text is empty"
    if len(text) > MAX_TEXT_CHARACTERS:
        return identifier, None, f"line {number}: the text has {len(text)} characters (limit {MAX_TEXT_CHARACTERS})"
    return identifier, text, None


Pending = list[tuple[bool, Any, str | None, str | None]]  # (has an id, id, text, error) per input line


def classify_stream(
    classifier: Classifier | Callable[[], Classifier], source: IO[bytes], sink: IO[str], batch_size: int
) -> tuple[int, int]:
    """Classify JSON Lines from ``source`` into ``sink`` batch by batch; returns (lines, errors).

    ``classifier`` may be a function that builds it: it is then called only once a line has text to
    classify, so input with nothing to classify never loads a model. A classifier with lanes (the
    default one: a lane per torch thread, each on one core) classifies that many batches side by
    side, as the daemon does: the batches are the same, and so is every line's result. Each batch is
    written as soon as it and every batch before it are done, in input order.
    """
    lanes = _Lanes(classifier)
    counts = [0, 0]
    in_flight: deque[Future[None]] = deque()
    pending: Pending = []
    try:
        for number, line in _lines(source):
            identifier, text, error = parse_line(number, line)
            pending.append((_has_id(line), identifier, text, error))
            if len(pending) >= batch_size:
                lanes.run(pending, in_flight, sink, counts)
                pending = []
            while len(in_flight) > lanes.ahead:  # a few batches ahead, not the whole input
                in_flight.popleft().result()
        lanes.run(pending, in_flight, sink, counts)
        while in_flight:
            in_flight.popleft().result()
    finally:
        lanes.close()
    return counts[0], counts[1]


class _Lanes:
    """The classifier, built for the first text, and its lanes: threads that each classify whole batches."""

    def __init__(self, classifier: Classifier | Callable[[], Classifier]) -> None:
        self._classifier = classifier
        self._model: Classifier | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.ahead = 1  # batches classified ahead of the oldest one not yet written

    def run(self, pending: Pending, in_flight: deque[Future[None]], sink: IO[str], counts: list[int]) -> None:
        """Classify one batch on a lane and write it after the batches before it (a build failure raises here)."""
        texts = [text for _, _, text, _ in pending if text is not None]
        if not texts and not in_flight:
            _write(pending, [], None, sink, counts)
            return
        if self._model is None or self._executor is None:
            classifier = self._classifier
            self._model = classifier if isinstance(classifier, Classifier) else classifier()
            lanes = lanes_of(self._model)
            self._executor = start_lanes(self._model, lanes)
            self.ahead = 2 * lanes
        model, previous = self._model, in_flight[-1] if in_flight else None

        def classify_then_write() -> None:
            analyses: list[Any] = []
            failure = None
            if texts:
                try:
                    analyses = model.analyse(texts)
                except (ClassifierError, RuntimeError, ValueError) as err:
                    failure = f"classifier failed on this batch: {err}"
                    logger.error("Classifier failed on a batch of %d texts: %s", len(texts), err)
            if previous is not None:
                previous.result()  # the batches before it are written first (or their failure is raised)
            _write(pending, analyses, failure, sink, counts)

        in_flight.append(self._executor.submit(classify_then_write))

    def close(self) -> None:
        """End the lanes (after the batches in progress)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


def _write(pending: Pending, analyses: list[Any], failure: str | None, sink: IO[str], counts: list[int]) -> None:
    """Write one batch's lines in order: each line's result, or its error (or the whole batch's)."""
    results = iter(analyses)
    for has_id, identifier, text, error in pending:
        record: dict[str, Any] = {"id": identifier} if has_id or error or failure else {}
        if error or failure or text is None:
            record["error"] = error or failure
            counts[1] += 1
        else:
            analysis = next(results)
            record.update(
                label=analysis.sentiment.label,
                score=round(analysis.sentiment.score, 4),
                language=analysis.language,
            )
        sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        counts[0] += 1
    sink.flush()


def _has_id(line: bytes | None) -> bool:
    if line is None:
        return False
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(item, dict) and "id" in item


def cmd_classify(args: argparse.Namespace) -> int:
    """Classify JSON Lines posts in batches; a line that fails gets an error line, the rest go on."""
    if args.batch_size < 1:
        print("socialcrm: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if conflict := _option_conflict(args):
        print(f"socialcrm: {conflict}", file=sys.stderr)
        return 2
    if args.input and not Path(args.input).is_file():
        print(f"socialcrm: input file {args.input} does not exist", file=sys.stderr)
        return 2
    loaded: list[Classifier] = []

    def classifier() -> Classifier:  # built when the first text needs it
        if not loaded:
            loaded.append(resolve_classifier(args))
        return loaded[0]

    try:
        if args.input:
            with open(args.input, "rb") as source:
                lines, errors = classify_stream(classifier, source, sys.stdout, args.batch_size)
        else:
            lines, errors = classify_stream(classifier, sys.stdin.buffer, sys.stdout, args.batch_size)
    except ClassifierError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 2 if "unknown classifier kind" in str(err) else 1
    model = loaded[0].model_id if loaded else "no model (nothing to classify)"
    logger.info("classified %d lines (%d errors) with %s", lines, errors, model)
    return 0


def _corrections(args: argparse.Namespace) -> list[Any]:
    from classifiers.datasets import Example
    from socialcrm.cli.core_cmds import configure
    from socialcrm.db import open_database
    from socialcrm.services.corrections import corrected_examples

    config = configure(args)
    database = open_database(config)
    try:
        with database.read() as session:
            rows = corrected_examples(session)
    finally:
        database.dispose()
    examples = [Example(text, label, language or "", "corrections") for text, label, language in rows]  # type: ignore[arg-type]
    print(f"Using {len(examples)} corrected mentions")
    return examples


def _training_licence(args: argparse.Namespace) -> str:
    """--licence, else --commercial-only, else the configured [classifier] licence, else the default."""
    if args.licence:
        if args.commercial_only and args.licence != "commercial":
            raise ClassifierError("--commercial-only contradicts --licence research")
        return str(args.licence)
    if args.commercial_only:
        return "commercial"
    if _config_wanted(args):
        from socialcrm.cli.core_cmds import configure

        return configure(args).classifier.adapter_licence
    return DEFAULT_LICENCE


def cmd_train(args: argparse.Namespace) -> int:
    """Retrain heads or adapters from the labelled data (and corrections if asked) into an adapter file."""
    from classifiers.recipe import TrainPlan, run_training
    from classifiers.training import TrainSettings

    if not args.data.is_dir():
        print(
            f"socialcrm: data folder {args.data} does not exist (run from the repository root or pass --data)",
            file=sys.stderr,
        )
        return 2
    try:
        licence = _training_licence(args)
    except ClassifierError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 2
    try:
        pool_layers = tuple(int(part) for part in args.pool_layers.split(",")) if args.pool_layers else ()
    except ValueError:
        print(f"socialcrm: --pool-layers takes layer numbers such as 8,10, not {args.pool_layers!r}", file=sys.stderr)
        return 2
    extra = _corrections(args) if args.include_corrections else []
    plan = TrainPlan(
        data_root=args.data,
        output=args.output,
        recipe=licence,
        mode=args.mode,
        adapters=args.adapters,
        extra=extra,
        limit=args.limit,
        hold_out=args.hold_out,
        cross_validate=args.cross_validate,
        cache=None if args.no_cache else args.cache,
        pool_layers=pool_layers,
        l2=args.l2,
        settings=TrainSettings(epochs=args.epochs, device=args.device, seed=args.seed),
    )
    print(f"Training the {licence} recipe ({args.mode})")
    try:
        record = run_training(plan)
    except ClassifierError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=1))
    print(f'Wrote {args.output}. Use it with:\n[classifier]\nkind = "default"\nmodel = "{args.output.resolve()}"')
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a classifier on the development sets, as a table or one JSON object per set."""
    from classifiers.recipe import evaluate_classifier

    if not args.data.is_dir():
        print(
            f"socialcrm: data folder {args.data} does not exist (run from the repository root or pass --data)",
            file=sys.stderr,
        )
        return 2
    if conflict := _option_conflict(args):
        print(f"socialcrm: {conflict}", file=sys.stderr)
        return 2
    try:
        classifier = resolve_classifier(args)
        rows = evaluate_classifier(classifier, args.data, args.sets, args.limit)
    except ClassifierError as err:
        print(f"socialcrm: {err}", file=sys.stderr)
        return 2 if "unknown" in str(err) else 1
    print(f"model: {classifier.model_id}")
    licence = getattr(classifier, "licence", "")
    if licence:
        print(f"licence: {licence}")
    for row in rows:
        if args.json:
            print(json.dumps(row))
            continue
        line = (
            f"{row['set']:<24} n={row['examples']:<5} {row['metric']}={row['value']:.4f}  "
            f"(accuracy {row['accuracy']:.4f}, macro-recall {row['macro_recall']:.4f}, "
            f"macro-F1 {row['macro_f1']:.4f}, {row['texts_per_second']} texts/s)"
        )
        if row["in_sample"]:
            clean = row.get("clean")
            if clean:
                rest = f"; on the other {clean['examples']}: {clean['value']:.4f}"
            else:
                rest = "; no unseen text left, so no honest figure"
            line += f"  IN-SAMPLE: trained on {row['in_sample']} of these texts{rest}"
        elif row["in_sample"] is None and getattr(classifier, "kind", "") != "lexicon":
            line += "  (training texts unknown: may be in-sample)"
        print(line)
    return 0
