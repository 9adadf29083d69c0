"""The sign-in throttle's window, in isolation (no clock waits: times are passed in)."""

from fieldcast.accounts.throttle import SignInThrottle


def test_failures_age_out_of_the_window() -> None:
    throttle = SignInThrottle(max_failures=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        throttle.failed("a", now=t)
    assert throttle.retry_after_s("a", now=21.0) == 40
    assert throttle.retry_after_s("a", now=61.0) == 0  # the first failure has aged out
    assert throttle.retry_after_s("b", now=21.0) == 0


def test_a_success_clears_the_count() -> None:
    throttle = SignInThrottle(max_failures=2, window_s=60)
    throttle.failed("a", now=0.0)
    throttle.succeeded("a")
    throttle.failed("a", now=1.0)
    assert throttle.retry_after_s("a", now=2.0) == 0
