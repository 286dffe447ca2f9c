"""Map the output labels of any sentiment model (named, LABEL_n, 1-5 stars, two-class) to ours."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from classifiers.base import LABELS, ClassifierError, Label

_NAMED: dict[str, Label] = {
    **dict.fromkeys(("negative", "neg", "negativ", "bad", "very negative", "very_negative"), "negative"),
    **dict.fromkeys(("neutral", "neu", "neut", "none", "mixed"), "neutral"),
    **dict.fromkeys(("positive", "pos", "positiv", "good", "very positive", "very_positive"), "positive"),
}
_STARS = re.compile(r"^(\d)\s*(?:stars?|sterne?)?$")
_GENERIC = re.compile(r"^label[_ ]?(\d+)$")
_GENERIC_ORDER: dict[int, tuple[Label, ...]] = {
    2: ("negative", "positive"),
    3: ("negative", "neutral", "positive"),  # the cardiffnlp/TweetEval convention
    5: ("negative", "negative", "neutral", "positive", "positive"),  # 1-5 stars
}


def _stars(count: int, stars: int) -> Label:
    middle = (count + 1) / 2
    return "negative" if stars < middle else "positive" if stars > middle else "neutral"


@dataclass(frozen=True, slots=True)
class LabelMap:
    """For each model output index, the label it counts towards; ``two_class`` lacks "neutral"."""

    targets: tuple[Label, ...]

    @property
    def two_class(self) -> bool:
        """Whether the model has no neutral class (positive and negative only)."""
        return "neutral" not in self.targets

    def combine(self, probabilities: Sequence[float], neutral_below: float) -> tuple[Label, float]:
        """Sum probabilities per label and pick the best; an unsure two-class model says neutral."""
        summed = dict.fromkeys(LABELS, 0.0)
        for target, probability in zip(self.targets, probabilities, strict=True):
            summed[target] += float(probability)
        best = max(LABELS, key=lambda label: summed[label])
        if self.two_class and summed[best] < neutral_below:
            # Between the two poles: neutral, confident in proportion to how balanced they are.
            return "neutral", round(min(1.0, 1.0 - abs(summed["positive"] - summed["negative"])), 6)
        return best, round(min(1.0, max(0.0, summed[best])), 6)


def normalise_labels(id2label: Mapping[int, str], override: Mapping[str, str] | None = None) -> LabelMap:
    """Build the LabelMap of a model config's ``id2label``; ``override`` maps a raw label or index to ours."""
    count = len(id2label)
    if count < 2:
        raise ClassifierError(f"a sentiment model needs at least two output labels, this one has {count}")
    targets: list[Label] = []
    for index in range(count):
        raw = str(id2label[index])
        targets.append(_normalise_one(raw, index, count, override or {}))
    if "negative" not in targets or "positive" not in targets:
        raise ClassifierError(
            f"model labels {list(id2label.values())} do not include both a negative and a positive one"
        )
    return LabelMap(tuple(targets))


def _normalise_one(raw: str, index: int, count: int, override: Mapping[str, str]) -> Label:
    for key in (raw, str(index)):
        if key in override:
            wanted = override[key]
            if wanted not in LABELS:
                raise ClassifierError(f"label override {key!r} = {wanted!r} is not one of {', '.join(LABELS)}")
            return wanted  # type: ignore[return-value]
    name = raw.strip().lower()
    if name in _NAMED:
        return _NAMED[name]
    stars = _STARS.match(name)
    if stars and count in (3, 5) and 1 <= int(stars.group(1)) <= count:
        return _stars(count, int(stars.group(1)))
    generic = _GENERIC.match(name)
    if generic and count in _GENERIC_ORDER and int(generic.group(1)) == index:
        return _GENERIC_ORDER[count][index]
    raise ClassifierError(
        f"cannot tell what model label {raw!r} (output {index} of {count}) means; "
        'map it with the classifier option labels = {"' + raw + '" = "negative|neutral|positive"}'
    )
