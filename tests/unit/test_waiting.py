"""The tests' polling helper: returns the first truthy answer, fails with the message at the deadline."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import wait_until


def test_wait_until_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, "", {"ready": True}])
    assert wait_until(lambda: next(answers), 5, "never", interval=0.001) == {"ready": True}


def test_wait_until_ignores_the_named_errors_until_it_answers() -> None:
    calls = itertools.count()

    def flaky() -> bool:
        if next(calls) < 2:
            raise ConnectionError("not listening yet")
        return True

    assert wait_until(flaky, 5, "never", interval=0.001, ignore=(ConnectionError,)) is True


def test_wait_until_fails_with_the_message_and_the_last_answer() -> None:
    with pytest.raises(AssertionError, match=r"the store is still opening \(not within 0.05 s; last: \[\]\)"):
        wait_until(lambda: [], 0.05, "the store is still opening", interval=0.01)


def test_wait_until_lets_other_errors_through() -> None:
    body: dict[str, str] = {}
    with pytest.raises(KeyError):
        wait_until(lambda: body["state"], 5, "never", ignore=(ConnectionError,))
