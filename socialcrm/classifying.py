"""The sentiment classifier of a running instance: loaded when first needed, run on its own threads.

A classifier that runs best side by side (``classifiers.base.LaneClassifier``: the default one, a
lane per torch thread, each on one core) gets that many threads; any other gets one. Each thread
classifies whole batches, batch after batch, while the database work of batches already classified
goes on in other threads: classifying the next batches overlaps with storing the previous ones. A
core taken by that work slows one lane for the time taken; with one thread of two torch threads,
every operation of both would wait for it. ``socialcrm poll --once`` builds its classifier lazily,
so a poll that finds nothing new never loads a model.

A classifier that can run beside parsing (``classifiers.portable``: the word-list one) has a
``portable`` recipe: the runtime has the feed parser processes classify each entry with it, and the
pipeline uses those verdicts (``prepared``) instead of classifying those posts again here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from classifiers.base import Analysis, Classifier, ClassifierError, LaneClassifier
from classifiers.portable import PortableRecipe, analysis_of

logger = logging.getLogger(__name__)
FAILURES = (ClassifierError, RuntimeError, ValueError)


LANES_START_SECONDS = 60.0


class Classification:
    """A classifier (given, or built on first use) and the threads it runs on (its lanes, else one)."""

    def __init__(
        self,
        classifier: Classifier | None = None,
        *,
        build: Callable[[], Classifier] | None = None,
        batch_size: int = 32,
        portable: PortableRecipe | None = None,
    ) -> None:
        if classifier is None and build is None:
            raise ValueError("Classification needs a classifier or a way to build one")
        self.portable = portable
        self._classifier = classifier
        self._build = build
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._lanes_lock = threading.Lock()
        self._failure: ClassifierError | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def loaded(self) -> bool:
        """True once the classifier exists (given, or built by a first classification)."""
        return self._classifier is not None

    def classifier(self) -> Classifier:
        """The classifier, built now if it was not yet (blocking: call it off the event loop)."""
        with self._lock:
            if self._failure is not None:
                raise self._failure  # tried once already: every later batch gets the same answer at once
            if self._classifier is None:
                assert self._build is not None
                try:
                    self._classifier = self._build()
                except ClassifierError as err:
                    self._failure = err
                    raise
            return self._classifier

    async def analyse(self, texts: Sequence[str], hints: Sequence[str | None]) -> list[Analysis | None]:
        """Analyse ``texts`` on the classifier's thread; a text the classifier fails on gets None."""
        if not texts:
            return []
        executor = self._executor
        if executor is None:
            executor = await asyncio.to_thread(self._started)  # builds the classifier on first need
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self.analyse_now, list(texts), list(hints))

    async def analyse_posts(
        self, texts: Sequence[str], hints: Sequence[str | None], prepared: Sequence[object]
    ) -> list[Analysis | None]:
        """As ``analyse``, taking a text's verdict from ``prepared`` where it was made with ``portable``."""
        analyses = [analysis_of(value, self.portable) for value in prepared]
        missing = [index for index, analysis in enumerate(analyses) if analysis is None]
        if missing:
            computed = await self.analyse([texts[i] for i in missing], [hints[i] for i in missing])
            for index, analysis in zip(missing, computed, strict=True):
                analyses[index] = analysis
        return analyses

    @property
    def lanes(self) -> int:
        """Threads that classify side by side: the loaded classifier's lanes, else 1."""
        return lanes_of(self._classifier)

    def _started(self) -> ThreadPoolExecutor:
        """The classifier's threads, each prepared as a lane before any of them classifies (blocking)."""
        classifier = self.classifier()
        with self._lanes_lock:
            if self._executor is None:
                self._executor = start_lanes(classifier, self.lanes)
            return self._executor

    def analyse_now(self, texts: Sequence[str], hints: Sequence[str | None]) -> list[Analysis | None]:
        """Analyse in chunks of ``batch_size`` on the calling thread; a failing chunk is retried text by text."""
        classifier = self.classifier()
        results: list[Analysis | None] = []
        for start in range(0, len(texts), self.batch_size):
            chunk, chunk_hints = texts[start : start + self.batch_size], hints[start : start + self.batch_size]
            try:
                results.extend(classifier.analyse(chunk, chunk_hints))
            except FAILURES as err:
                logger.error("Classifier failed on a batch of %d texts (%s); retrying one by one", len(chunk), err)
                results.extend(self._each(classifier, chunk, chunk_hints))
        return results

    @staticmethod
    def _each(classifier: Classifier, texts: Sequence[str], hints: Sequence[str | None]) -> list[Analysis | None]:
        out: list[Analysis | None] = []
        for text, hint in zip(texts, hints, strict=True):
            try:
                out.append(classifier.analyse([text], [hint])[0])
            except FAILURES as err:
                logger.error("Classifier failed on one text (%s); stored without sentiment", err)
                out.append(None)
        return out

    def close(self) -> None:
        """Let the classifier's threads end (after the classifications in progress)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def lanes_of(classifier: Classifier | None) -> int:
    """How many threads ``classifier`` classifies on side by side: its lanes (``LaneClassifier``), else 1."""
    return max(1, int(classifier.lanes)) if isinstance(classifier, LaneClassifier) else 1


def start_lanes(classifier: Classifier, lanes: int) -> ThreadPoolExecutor:
    """``lanes`` threads, every one prepared (``prepare_lane``) before the first batch reaches any.

    Preparing changes torch's per-thread settings, which must not happen while another lane computes.
    """
    if not isinstance(classifier, LaneClassifier):
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")
    executor = ThreadPoolExecutor(
        max_workers=lanes, thread_name_prefix="classifier", initializer=classifier.prepare_lane
    )
    # Each waiting task holds its thread, so the pool starts a new thread (and runs its initializer) for the next.
    everyone = threading.Barrier(lanes)
    for started in [executor.submit(everyone.wait, LANES_START_SECONDS) for _ in range(lanes)]:
        started.result()
    return executor
