"""The daemon's classification threads: lanes side by side, each prepared first, the same results as one thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

import pytest

from classifiers.base import Analysis, LaneClassifier, Sentiment
from socialcrm.classifying import Classification


class LaneFake:
    """A lane classifier (a seam of our own) that records which thread prepared and which classified what."""

    kind: ClassVar[str] = "lane-fake"
    model_id = "lane-fake-1"

    def __init__(self, lanes: int, seconds: float = 0.05) -> None:
        self.lanes = lanes
        self.seconds = seconds
        self.prepared: list[int] = []
        self.classified_on: set[int] = set()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def prepare_lane(self) -> None:
        time.sleep(0.01)  # a slow preparation must still finish on every lane before the first batch
        with self._lock:
            self.prepared.append(threading.get_ident())

    def analyse(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> list[Analysis]:
        with self._lock:
            assert len(self.prepared) == self.lanes, "a lane classified before every lane was prepared"
            self.classified_on.add(threading.get_ident())
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return [Analysis(Sentiment("neutral", 0.5, self.model_id), f"lang-of-{text}") for text in texts]


async def classify_pages(classification: Classification, pages: list[list[str]]) -> list[list[Analysis | None]]:
    return await asyncio.gather(*(classification.analyse(page, [None] * len(page)) for page in pages))


def test_a_lane_classifier_classifies_pages_side_by_side_on_prepared_threads() -> None:
    fake = LaneFake(lanes=2)
    assert isinstance(fake, LaneClassifier)
    classification = Classification(fake, batch_size=4)
    pages = [[f"p{page}-{i}" for i in range(3)] for page in range(8)]
    try:
        results = asyncio.run(classify_pages(classification, pages))
    finally:
        classification.close()
    assert classification.lanes == 2
    assert len(set(fake.prepared)) == 2  # each of the two threads prepared once
    assert fake.classified_on == set(fake.prepared)
    assert fake.most_at_once == 2
    # every page gets its own texts' results, in order
    assert [[a.language for a in page if a] for page in results] == [[f"lang-of-{t}" for t in page] for page in pages]


def test_a_classifier_without_lanes_keeps_one_thread() -> None:
    class Plain:
        kind: ClassVar[str] = "plain"
        model_id = "plain-1"
        threads: set[int] = set()

        def analyse(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> list[Analysis]:
            self.threads.add(threading.get_ident())
            time.sleep(0.01)
            return [Analysis(Sentiment("neutral", 0.5, self.model_id), "en") for _ in texts]

    plain = Plain()
    assert not isinstance(plain, LaneClassifier)
    classification = Classification(plain, batch_size=4)
    try:
        asyncio.run(classify_pages(classification, [["a"], ["b"], ["c"], ["d"]]))
    finally:
        classification.close()
    assert classification.lanes == 1
    assert len(plain.threads) == 1


def test_a_lazy_classifier_is_built_once_for_all_lanes() -> None:
    built: list[LaneFake] = []

    def build() -> LaneFake:
        built.append(LaneFake(lanes=3, seconds=0.01))
        return built[-1]

    classification = Classification(build=build, batch_size=4)
    assert not classification.loaded
    try:
        asyncio.run(classify_pages(classification, [[f"t{i}"] for i in range(9)]))
    finally:
        classification.close()
    assert len(built) == 1
    assert len(set(built[0].prepared)) == 3


@pytest.mark.model
def test_lanes_give_the_default_classifier_exactly_the_results_of_one_thread() -> None:
    """Pages classified on the lanes (one torch thread each, side by side) equal the classifier called page by page."""
    import torch

    from classifiers.embedded import EmbeddedClassifier
    from tests.feeds import TEXTS

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        classifier = EmbeddedClassifier({})
        assert classifier.lanes == 2
        texts = [text.format(n=n) for n in range(6) for text in TEXTS] + ["kurz", "ok " * 300]
        pages = [texts[first : first + 7] for first in range(0, len(texts), 7)]
        expected = [classifier.analyse(page) for page in pages]  # this thread: two torch threads
        classification = Classification(classifier, batch_size=7)  # a page is one call, as above
        lane_threads: dict[int, int] = {}

        def record_threads(texts: Sequence[str], hints: Sequence[str | None]) -> list[Analysis | None]:
            lane_threads[threading.get_ident()] = torch.get_num_threads()
            return Classification.analyse_now(classification, texts, hints)

        classification.analyse_now = record_threads  # type: ignore[method-assign]
        try:
            got = asyncio.run(classify_pages(classification, pages))
        finally:
            classification.close()
        assert [[(a.sentiment, a.language) for a in page] for page in got] == [
            [(a.sentiment, a.language) for a in page] for page in expected
        ]
        for page, wanted in zip(got, expected, strict=True):
            for analysis, one in zip(page, wanted, strict=True):
                assert analysis is not None
                assert (analysis.vector == one.vector).all()
        assert len(lane_threads) == 2 and set(lane_threads.values()) == {1}  # two lanes of one torch thread
        assert torch.get_num_threads() == 2  # the rest of the process keeps its count
    finally:
        torch.set_num_threads(before)
