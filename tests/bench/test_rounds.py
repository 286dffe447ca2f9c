"""bench/rounds.py: the order of a round, medians, spreads and per-round ratios the targets are judged on."""

from __future__ import annotations

import argparse

import pytest

from bench.rounds import (
    DEFAULT_ROUNDS,
    add_rounds_option,
    ratio_of_medians,
    ratios,
    round_order,
    rounds_from,
    spread,
    target_line,
)


def test_the_order_flips_every_round_so_neither_side_always_runs_first() -> None:
    assert [round_order(["sqlite", "postgres"], n) for n in range(3)] == [
        ["sqlite", "postgres"],
        ["postgres", "sqlite"],
        ["sqlite", "postgres"],
    ]
    assert round_order([1, 2, 4], 1) == [4, 2, 1]


def test_a_spread_is_the_median_and_the_range_of_the_rounds() -> None:
    figure = spread([915.0, 798.0, 940.0])
    assert (figure.median, figure.low, figure.high) == (915.0, 798.0, 940.0)
    assert figure.show(unit="/s") == "915/s (798-940)"
    assert spread([0.66, 0.71]).median == pytest.approx(0.685)  # even rounds: the mean of the middle two
    assert spread([0.71]).show(".0%") == "71%"  # one round: no range to show
    with pytest.raises(ValueError):
        spread([])


def test_a_ratio_target_takes_the_median_of_the_per_round_ratios_not_the_ratio_of_medians() -> None:
    # Round 2 ran on a host 40% slower: both sides of its pair dropped, its ratio did not.
    postgres, sqlite = [700.0, 420.0, 690.0], [1000.0, 600.0, 1000.0]
    per_round = ratios(postgres, sqlite)
    assert per_round.values == pytest.approx((0.70, 0.70, 0.69))
    assert per_round.median == pytest.approx(0.70)
    assert ratio_of_medians(postgres, sqlite) == pytest.approx(0.69)
    with pytest.raises(ValueError):
        ratios([1.0], [1.0, 2.0])


def test_rounds_default_to_three_and_a_quick_run_to_its_own_default() -> None:
    parser = argparse.ArgumentParser()
    add_rounds_option(parser, quick_default=1)
    assert rounds_from(parser.parse_args([])) == DEFAULT_ROUNDS == 3
    assert rounds_from(parser.parse_args([]), quick=True) == 1
    assert rounds_from(parser.parse_args(["--rounds", "5"]), quick=True) == 5
    with pytest.raises(SystemExit):
        rounds_from(parser.parse_args(["--rounds", "0"]))


def test_a_target_line_says_met_or_not_met() -> None:
    assert target_line("first poll on SQLite >= 1,000 mentions/s", "915/s (798-940)", False).endswith("  NOT met")
    assert target_line("SQL statements per new mention <= 3, sqlite", "0.84", True).endswith("  met")
