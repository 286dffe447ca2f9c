"""When a queue worker that stopped on its own starts again, and when the process gives up instead."""

from __future__ import annotations

from socialcrm.jobs.restarts import GIVE_UP_AFTER, GIVE_UP_ATTEMPTS, STEADY_AFTER, Restarts


def test_the_wait_doubles_from_one_second_up_to_thirty() -> None:
    restarts = Restarts()
    waits = []
    for attempt in range(8):
        restarts.stopped(at=float(attempt), ran_for=0.0, database_reachable=True)
        waits.append(restarts.wait())
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_worker_that_ran_steadily_starts_again_after_one_second() -> None:
    restarts = Restarts()
    for attempt in range(5):
        restarts.stopped(at=float(attempt), ran_for=1.0, database_reachable=False)
    restarts.stopped(at=500.0, ran_for=STEADY_AFTER, database_reachable=True)
    assert restarts.wait() == 1
    assert not restarts.give_up(500.0)


def test_it_gives_up_only_after_minutes_of_an_unreachable_database_at_every_attempt() -> None:
    restarts = Restarts()
    restarts.stopped(at=0.0, ran_for=3600.0, database_reachable=False)  # the restart begins
    at = 0.0
    for _ in range(GIVE_UP_ATTEMPTS - 1):
        at += restarts.wait()
        assert not restarts.give_up(at)
        restarts.stopped(at=at, ran_for=0.0, database_reachable=False)
    assert restarts.unreachable == GIVE_UP_ATTEMPTS
    assert not restarts.give_up(at)  # enough attempts, but not yet long enough
    assert restarts.give_up(GIVE_UP_AFTER)
    # Many attempts in little time are not enough either.
    quick = Restarts()
    for attempt in range(20):
        quick.stopped(at=attempt * 0.1, ran_for=0.0, database_reachable=False)
    assert not quick.give_up(2.0)


def test_a_database_that_answers_is_never_given_up_on() -> None:
    restarts = Restarts()
    for attempt in range(40):
        # The worker keeps failing, but the database answered once in a while: the streak starts again.
        restarts.stopped(at=attempt * 30.0, ran_for=0.0, database_reachable=attempt % 4 == 0)
        assert not restarts.give_up(attempt * 30.0)
    assert restarts.wait() == 30
