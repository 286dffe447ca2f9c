"""``socialcrm classify`` and ``socialcrm classifier eval/train`` as users run them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from classifiers.base import Analysis, Sentiment
from socialcrm.cli import main
from socialcrm.cli.classifier_cmds import classify_stream

REPO = Path(__file__).resolve().parents[2]


def run_classify(tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], *extra: str) -> list[dict]:
    source = tmp_path / "posts.jsonl"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert main(["classify", "--input", str(source), *extra]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_classify_writes_one_line_per_input_line_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps({"id": 1, "text": "Der Service war super, vielen Dank!"}),
        json.dumps({"id": "b", "text": "Worst service ever, totally useless."}),
        json.dumps({"text": "The store opens at 9am on Monday."}),
        "this is not json",
        json.dumps({"id": 4, "text": "   "}),
        "",
        json.dumps({"id": 6, "text": "x" * 100_001}),
        json.dumps({"id": 7, "body": "no text field"}),
        json.dumps(["a", "list"]),
        json.dumps({"id": 9, "text": "Danke, hat alles geklappt 👍"}),
    ]
    out = run_classify(tmp_path, capsys, lines, "--model", "lexicon", "--batch-size", "3")
    assert len(out) == len(lines)
    assert out[0] == {"id": 1, "label": "positive", "score": out[0]["score"], "language": "de"}
    assert (out[1]["id"], out[1]["label"], out[1]["language"]) == ("b", "negative", "en")
    assert "id" not in out[2] and out[2]["label"] == "neutral"
    assert out[3]["id"] is None and "line 4: not valid JSON" in out[3]["error"]
    assert out[4] == {"id": 4, "error": "line 5: the text is empty"}
    assert out[5] == {"id": None, "error": "line 6: empty line"}
    assert out[6]["id"] == 6 and "100001 characters" in out[6]["error"]
    assert out[7] == {"id": 7, "error": "line 8: the text field is missing or not a string"}
    assert "expected a JSON object" in out[8]["error"]
    assert (out[9]["id"], out[9]["label"]) == (9, "positive")
    for record in out:
        assert "error" in record or 0.0 <= record["score"] <= 1.0


def test_classify_streams_stdin_batch_by_batch() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "socialcrm", "classify", "--model", "lexicon", "--batch-size", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    assert process.stdin and process.stdout
    try:
        process.stdin.write(json.dumps({"id": "first", "text": "I love it"}) + "\n")
        process.stdin.flush()
        # the answer arrives while stdin is still open: input is not read to the end first
        first = json.loads(process.stdout.readline())
        assert (first["id"], first["label"]) == ("first", "positive")
        process.stdin.write(json.dumps({"id": "second", "text": "I hate it"}) + "\n")
        process.stdin.close()
        second = json.loads(process.stdout.readline())
        assert (second["id"], second["label"]) == ("second", "negative")
    finally:
        assert process.wait(timeout=60) == 0


def test_a_huge_line_is_an_error_line_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.dumps({"id": 1, "text": "y" * (2 << 20)}), json.dumps({"id": 2, "text": "great"})]
    out = run_classify(tmp_path, capsys, lines, "--model", "lexicon")
    assert "longer than" in out[0]["error"]
    assert out[1]["id"] == 2 and out[1]["label"] == "positive"


def test_unknown_model_kind_and_missing_input_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["classify", "--input", str(tmp_path / "missing.jsonl"), "--model", "lexicon"]) == 2
    assert "does not exist" in capsys.readouterr().err
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"id": 1, "text": "Lieferung kam nie an"}\n')
    assert main(["classify", "--model", str(tmp_path / "nothing-here"), "--input", str(posts)]) == 1
    assert "model directory" in capsys.readouterr().err


def test_classify_loads_no_model_when_nothing_needs_classifying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Input without a single text to classify never loads the model (a missing one is not even noticed)."""
    assert main(["classify", "--model", str(tmp_path / "nothing-here"), "--input", str(REPO / "pyproject.toml")]) == 0
    captured = capsys.readouterr()
    assert "model directory" not in captured.err
    assert all("error" in json.loads(line) for line in captured.out.splitlines())


def test_eval_licence_with_another_model_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--licence`` names a set of the default model: with ``--model lexicon`` it is exit 2, nothing loaded."""
    eval_arguments = ["classifier", "eval", "--data", str(REPO / "data/sentiment")]
    assert main([*eval_arguments, "--licence", "commercial", "--model", "lexicon"]) == 2
    assert "cannot go with --model" in capsys.readouterr().err


def test_eval_prints_the_metric_of_each_set(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["classifier", "eval", "--model", "lexicon", "--data", str(REPO / "data/sentiment"), "--limit", "50"])
    assert code == 0
    out = capsys.readouterr().out
    assert "model: lexicon-v1" in out
    for name, metric in [
        ("tweeteval-val", "macro_recall"),
        ("germeval2017-dev", "accuracy"),
        ("sb10k-dev", "accuracy"),
        ("potts-dev", "accuracy"),
    ]:
        assert any(line.startswith(name) and f"{metric}=" in line for line in out.splitlines())


@pytest.mark.model
def test_classify_with_the_default_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps({"id": 1, "text": "Die Bahn ist schon wieder zu spät, einfach schrecklich."}),
        json.dumps({"id": 2, "text": "Thanks for the quick help, great support!"}),
    ]
    out = run_classify(tmp_path, capsys, lines, "--model", "default")
    assert [(r["id"], r["label"], r["language"]) for r in out] == [(1, "negative", "de"), (2, "positive", "en")]


@pytest.mark.model
def test_the_default_model_in_lanes_gives_what_one_thread_gives() -> None:
    """Lanes change how the cores are shared, not a number: the same batches score the same on one thread."""
    from classifiers.datasets import load
    from classifiers.loader import build_classifier

    classifier = build_classifier("default", {"fallback": False})
    if getattr(classifier, "lanes", 1) < 2:
        pytest.skip("one torch thread here: no lanes")
    texts = [e.text for e in load("tweeteval-val", REPO / "data/sentiment")][:96]
    sink = io.StringIO()
    lines = "".join(json.dumps({"text": text}) + "\n" for text in texts)
    assert classify_stream(classifier, io.BytesIO(lines.encode()), sink, 16) == (96, 0)
    alone = [a for start in range(0, 96, 16) for a in classifier.analyse(texts[start : start + 16])]
    expected = [
        {"label": a.sentiment.label, "score": round(a.sentiment.score, 4), "language": a.language} for a in alone
    ]
    assert [json.loads(line) for line in sink.getvalue().splitlines()] == expected


@pytest.mark.model
def test_train_heads_quickly_then_eval_marks_what_the_model_was_trained_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "heads.safetensors"
    data = str(REPO / "data/sentiment")
    arguments = ["classifier", "train", "--licence", "research", "--data", data, "--output", str(output)]
    assert main([*arguments, "--limit", "40", "--cache", str(tmp_path / "cache")]) == 0
    assert output.is_file()
    record = capsys.readouterr().out
    assert '"germeval2017-dev-report"' in record  # held out, named in the record
    eval_arguments = ["classifier", "eval", "--model", str(output), "--data", data, "--limit", "30"]
    assert main([*eval_arguments, "--set", "germeval2017-dev-tune", "--set", "germeval2017-dev-report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    trained = next(line for line in lines if line.startswith("germeval2017-dev-tune"))
    assert "IN-SAMPLE: trained on 30 of these texts; no unseen text left, so no honest figure" in trained
    held_out = next(line for line in lines if line.startswith("germeval2017-dev-report"))
    assert "IN-SAMPLE" not in held_out and "may be in-sample" not in held_out
    assert main([*eval_arguments, "--set", "germeval2017-dev-tune", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (row["in_sample"], row["examples"], row["role"]) == (30, 30, "tune")
    assert "clean" not in row  # no figure on an empty remainder


@pytest.mark.model
def test_the_default_recipe_is_the_commercial_one_and_uses_only_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "heads.safetensors"
    data = str(REPO / "data/sentiment")
    code = main(["classifier", "train", "--data", data, "--output", str(output), "--limit", "30", "--no-cache"])
    assert code == 0
    out = capsys.readouterr().out
    record = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert record["recipe"] == "commercial" and set(record["examples"]) == {"potts-train"}


@pytest.mark.model
def test_train_includes_the_corrections_people_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialcrm.config import load_config
    from socialcrm.db import open_database
    from socialcrm.services import corrections
    from tests.rules import factories as f

    monkeypatch.chdir(tmp_path)
    config_path = tmp_path / "socialcrm.toml"
    assert main(["--config", str(config_path), "init"]) == 0
    database = open_database(load_config(str(config_path)))
    with database.write() as session:
        mention = f.mention(session, "Die Lieferung kam pünktlich, danke!", language="de", sentiment="negative")
        corrections.correct_sentiment(session, mention.id, "positive", "cm1")
    database.dispose()
    capsys.readouterr()
    output = tmp_path / "heads.safetensors"
    arguments = ["classifier", "train", "--data", str(REPO / "data/sentiment"), "--output", str(output)]
    code = main(["--config", str(config_path), *arguments, "--include-corrections", "--limit", "30", "--no-cache"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Using 1 corrected mentions" in out
    assert "Training the commercial recipe" in out  # the config's [classifier] licence
    record = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert record["examples"]["corrections"] == 3  # each correction counts three times


class LanesClassifier:
    """A classifier of our own seam with three lanes: it notes which prepared thread classified which batch."""

    kind = "lanes-test"
    model_id = "lanes-test"
    lanes = 3

    def __init__(self) -> None:
        self.prepared: set[str] = set()
        self.batches: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        self.side_by_side = threading.Barrier(3, timeout=10)  # the first three batches meet: they run at once

    def prepare_lane(self) -> None:
        with self.lock:
            self.prepared.add(threading.current_thread().name)

    def analyse(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> list[Analysis]:
        thread = threading.current_thread().name
        assert thread in self.prepared  # every lane is prepared before it classifies
        if texts[0] in ("x", "xxx", "xxxxx"):  # the first three batches
            self.side_by_side.wait()
        time.sleep(0.01 * (len(self.batches) % 3))  # later batches may finish first
        with self.lock:
            self.batches.append((thread, list(texts)))
        if "kaputt" in texts:
            raise RuntimeError("this batch breaks")
        return [Analysis(Sentiment("positive", len(t) / 100, "lanes-test"), "de") for t in texts]


def test_classify_runs_a_classifier_with_lanes_side_by_side_and_keeps_the_order() -> None:
    """The default classifier has lanes (a torch thread each, as in the daemon): batches go side by side."""
    classifier = LanesClassifier()
    lines = [json.dumps({"id": n, "text": "kaputt" if n == 7 else "x" * n}) for n in range(1, 21)]
    sink = io.StringIO()
    assert classify_stream(classifier, io.BytesIO("\n".join(lines).encode()), sink, 2) == (20, 2)
    out = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [r["id"] for r in out] == list(range(1, 21))
    assert [r["score"] for r in out if "score" in r] == [n / 100 for n in range(1, 21) if n not in (7, 8)]
    assert [r["id"] for r in out if "error" in r] == [7, 8]  # only the failing batch
    assert sorted(texts for _, texts in classifier.batches) == sorted(
        [["x" * n if n != 7 else "kaputt" for n in (a, a + 1)] for a in range(1, 21, 2)]
    )
    assert len({thread for thread, _ in classifier.batches[:3]}) == len(classifier.prepared) == 3
