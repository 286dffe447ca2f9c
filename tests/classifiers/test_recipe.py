"""The recipes of the two adapter sets: no reported text in training, licences respected, honest splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.adapter_sets import LICENCES
from classifiers.datasets import dataset, load, normalise_for_matching
from classifiers.recipe import RECIPES, TrainPlan, held_out_sets, training_examples

DATA = Path(__file__).resolve().parents[2] / "data" / "sentiment"


@pytest.fixture(scope="module", params=sorted(RECIPES))
def plan_and_training(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    plan = TrainPlan(data_root=DATA, output=tmp_path_factory.mktemp("out") / "x.safetensors", recipe=request.param)
    return plan, training_examples(plan)


def test_no_reported_or_tuning_text_is_in_training(plan_and_training) -> None:  # type: ignore[no-untyped-def]
    """The overlap between training and every held-out set is zero after normalisation (handles, links, case...)."""
    plan, training = plan_and_training
    chosen = RECIPES[plan.recipe]
    trained = {normalise_for_matching(example.text) for example in training}
    assert set(chosen.reports) <= set(held_out_sets(plan))
    for name in held_out_sets(plan):
        overlap = [e.text for e in load(name, DATA) if normalise_for_matching(e.text) in trained]
        assert overlap == [], f"{plan.recipe}: {len(overlap)} texts of {name} are in training, e.g. {overlap[:3]}"


def test_each_text_is_trained_on_once(plan_and_training) -> None:  # type: ignore[no-untyped-def]
    _, training = plan_and_training
    keys = [normalise_for_matching(example.text) for example in training]
    assert len(keys) == len(set(keys))


def test_the_commercial_recipe_uses_only_sets_that_allow_commercial_use(plan_and_training) -> None:  # type: ignore[no-untyped-def]
    plan, training = plan_and_training
    if plan.recipe != "commercial":
        pytest.skip("the research recipe may use every set")
    assert all(dataset(name).commercial for name in RECIPES["commercial"].train)
    assert all(dataset(example.source).commercial for example in training)


def test_every_licence_has_a_recipe() -> None:
    assert set(RECIPES) == set(LICENCES)


def test_tweeteval_validation_comes_from_the_semeval_pool_and_is_found_there() -> None:
    """The leak the first release had: TweetEval writes @user and drops links, SemEval keeps handles and escapes."""
    pool = {normalise_for_matching(example.text) for example in load("semeval2013-2016", DATA)}
    validation = load("tweeteval-val", DATA)
    found = sum(normalise_for_matching(example.text) in pool for example in validation)
    assert found >= 1990  # all but a handful of the 2,000 are pool tweets


def test_halves_split_a_set_without_overlap() -> None:
    for whole, halves in [("germeval2017-dev", ("germeval2017-dev-tune", "germeval2017-dev-report"))]:
        first, second = ({normalise_for_matching(e.text) for e in load(name, DATA)} for name in halves)
        assert not first & second
        assert first | second == {normalise_for_matching(e.text) for e in load(whole, DATA)}
        assert 0.4 < len(first) / (len(first) + len(second)) < 0.6
