"""The login throttle on its own, with a clock the test moves."""

from __future__ import annotations

import pytest

from kdrama_tui.errors import TooManyRequests
from kdrama_tui.services.accounts.throttle import LoginThrottle
from tests.support.auth import MonotonicClock


def fail(throttle: LoginThrottle, login: str, ip: str, times: int) -> None:
    for _ in range(times):
        keys = throttle.keys(login, ip)
        throttle.check(keys)
        throttle.record_failure(keys)


def test_account_is_throttled_after_max_failures_until_the_window_passes() -> None:
    clock = MonotonicClock()
    throttle = LoginThrottle(3, 60, clock)
    fail(throttle, "alice", "192.0.2.1", 1)
    clock.advance(5)
    fail(throttle, "alice", "192.0.2.1", 1)
    clock.advance(5)
    fail(throttle, "alice", "192.0.2.2", 1)
    with pytest.raises(TooManyRequests) as caught:
        throttle.check(throttle.keys("Alice", "198.51.100.9"))  # any address, any case
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(50)  # when the oldest failure ages out
    clock.advance(49.9)
    with pytest.raises(TooManyRequests):
        throttle.check(throttle.keys("alice", None))
    clock.advance(0.2)
    throttle.check(throttle.keys("alice", None))  # one failure aged out: one more attempt allowed
    throttle.record_failure(throttle.keys("alice", None))
    with pytest.raises(TooManyRequests) as again:
        throttle.check(throttle.keys("alice", None))
    assert again.value.retry_after == pytest.approx(4.9)  # until the next-oldest failure (t=5) leaves


def test_refused_attempts_do_not_extend_the_lockout() -> None:
    clock = MonotonicClock()
    throttle = LoginThrottle(2, 30, clock)
    fail(throttle, "alice", "192.0.2.1", 2)
    for _ in range(100):  # an attacker hammering while throttled
        clock.advance(0.25)
        with pytest.raises(TooManyRequests):
            throttle.check(throttle.keys("alice", "192.0.2.1"))
    clock.advance(5.1)
    throttle.check(throttle.keys("alice", "192.0.2.1"))


def test_address_is_throttled_across_accounts() -> None:
    clock = MonotonicClock()
    throttle = LoginThrottle(3, 60, clock)
    for name in ("a", "b", "c"):
        fail(throttle, name, "203.0.113.7", 1)
    with pytest.raises(TooManyRequests):
        throttle.check(throttle.keys("d", "203.0.113.7"))
    throttle.check(throttle.keys("d", "203.0.113.8"))


def test_success_forgets_the_account_but_not_the_address() -> None:
    clock = MonotonicClock()
    throttle = LoginThrottle(2, 60, clock)
    fail(throttle, "alice", "203.0.113.7", 1)
    fail(throttle, "bob", "203.0.113.7", 1)
    throttle.forget(throttle.keys("alice", "203.0.113.7")[0])  # alice logged in correctly
    throttle.check(throttle.keys("alice", "198.51.100.1"))
    with pytest.raises(TooManyRequests):
        throttle.check(throttle.keys("carol", "203.0.113.7"))


def test_memory_is_bounded_by_live_failures() -> None:
    clock = MonotonicClock()
    throttle = LoginThrottle(5, 10, clock)
    for i in range(3000):
        throttle.record_failure(throttle.keys(f"user{i}", f"10.0.{i // 250}.{i % 250}"))
    assert len(throttle) == 6000
    clock.advance(11)
    for _ in range(1024):  # the periodic sweep drops keys whose failures all expired
        throttle.record_failure(throttle.keys("late", "10.9.9.9"))
    assert len(throttle) == 2


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        LoginThrottle(0, 10)
    with pytest.raises(ValueError):
        LoginThrottle(1, 0)
