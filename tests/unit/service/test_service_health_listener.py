"""The health listener (``service.health_listener``): the two probes on a port of their own, from
the readiness hook's state, with reasons for trusted callers only; and it keeps answering while the
event loop (here: any other thread holding work) is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from service.auth import ApiKey
from service.health import Check
from service.health_listener import HealthListener

KEY = "k3y-for-the-listener-test-0123"


@pytest.fixture
def listener() -> Iterator[HealthListener]:
    reason = "redis at 10.0.0.7 refused"
    checks = [Check("store", ok=False, state="unreachable", required=False, reason=reason)]
    running = HealthListener("scoring", lambda: checks, ApiKey(KEY), "127.0.0.1", 0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_live_and_ready_answer_with_the_one_shape(listener: HealthListener) -> None:
    base = f"http://127.0.0.1:{listener.port}"
    live = httpx.get(f"{base}/health/live?x=1", timeout=5)
    assert live.status_code == 200 and live.json() == {"status": "live", "service": "scoring", "checks": {}}
    ready = httpx.get(f"{base}/health/ready", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["store"]["reason"] is None  # no host for an unauthenticated caller
    trusted = httpx.get(f"{base}/health/ready", headers={"x-api-key": KEY}, timeout=5)
    assert "10.0.0.7" in trusted.json()["checks"]["store"]["reason"]
    other = httpx.get(f"{base}/predict", timeout=5)
    assert other.status_code == 404 and other.json()["error"] == "not_found"


def test_not_ready_is_503_and_a_raising_hook_is_not_a_crash() -> None:
    def broken() -> list[Check]:
        raise RuntimeError("boom")

    for hook, status in ((lambda: [Check("model", ok=False, state="unavailable")], 503), (broken, 503)):
        running = HealthListener("drift", hook, ApiKey(None), "127.0.0.1", 0)
        running.start()
        try:
            answer = httpx.get(f"http://127.0.0.1:{running.port}/health/ready", timeout=5)
        finally:
            running.stop()
        assert answer.status_code == status
        assert "boom" not in answer.text


def test_answers_while_another_thread_is_busy(listener: HealthListener) -> None:
    stop = threading.Event()

    def spin() -> None:  # pure-Python work holding the GIL, as a busy event loop does
        while not stop.is_set():
            sum(range(10_000))

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        took = []
        with httpx.Client(base_url=f"http://127.0.0.1:{listener.port}", timeout=5) as client:
            for _ in range(20):
                started = time.perf_counter()
                assert client.get("/health/live").status_code == 200
                took.append(time.perf_counter() - started)
    finally:
        stop.set()
        worker.join()
    assert len(took) == 20  # every probe answered (the bench measures how fast: bench_faults)
